//! Past conversations: closed and expired rooms, newest first, a page at a
//! time, searchable by visitor name, email and message text; an agent
//! without rooms.view_all finds only the rooms they handled.

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn agents_page_and_search_through_past_conversations_they_may_see() {
    let app = spawn_app_without_limits().await;
    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    let mut bea_rooms = Vec::new();
    for (name, email, text) in [
        ("Ana", "ana@example.com", "My parcel never came"),
        ("Ben", "ben@example.com", "Refund for order 100%_off please"),
        ("Cy", "cy@example.com", "Where is my PARCEL?"),
    ] {
        let r = app.post("/rooms", None, json!({"name": name, "email": email, "message": text})).await;
        let id = r.json(201)["room"]["id"].as_str().unwrap().to_string();
        app.accepted(&bea, &id).await;
        app.close(&bea.token, &id, None).await.json(200);
        bea_rooms.push(id);
    }
    let cals = app.engaged_room(&cal, "Dee").await;
    app.sent(&cals.visitor_token, &cals.id, "parcel question too").await;
    app.close(&cal.token, &cals.id, None).await.json(200);
    let open = app.engaged_room(&bea, "Eve").await; // not past: still engaged

    // Bea sees her three, newest first, two at a time.
    let page = app.get("/conversations?limit=2", Some(&bea.token)).await;
    let page = page.json(200).clone();
    assert_keys(&page, &["rooms", "next"]);
    assert_eq!(room_ids(&page), vec![bea_rooms[2].clone(), bea_rooms[1].clone()]);
    for room in page["rooms"].as_array().unwrap() {
        assert_room_shape(room);
    }
    let next = page["next"].as_str().unwrap();
    let rest = app.get(&format!("/conversations?limit=2&before={next}"), Some(&bea.token)).await;
    assert_eq!(room_ids(rest.json(200)), vec![bea_rooms[0].clone()]);
    assert!(rest.json(200)["next"].is_null());
    assert!(!room_ids(&page).contains(&open.id));

    // Search: message text (any case), email, name; LIKE wildcards are text.
    let found = |q: &str, token: &str| {
        let url = format!("/conversations?q={}", urlencode(q));
        let token = token.to_string();
        let app = &app;
        async move { room_ids(app.get(&url, Some(&token)).await.json(200)) }
    };
    assert_eq!(found("parcel", &bea.token).await, vec![bea_rooms[2].clone(), bea_rooms[0].clone()]);
    assert_eq!(found("BEN@EXAMPLE", &bea.token).await, vec![bea_rooms[1].clone()]);
    assert_eq!(found("cy", &bea.token).await, vec![bea_rooms[2].clone()]);
    assert_eq!(found("100%_off", &bea.token).await, vec![bea_rooms[1].clone()]);
    assert_eq!(found("0%", &bea.token).await, vec![bea_rooms[1].clone()], "% is not a wildcard");
    assert!(found("nothing like this", &bea.token).await.is_empty());

    // Cal finds only his; a supervisor finds everyone's.
    assert_eq!(found("parcel", &cal.token).await, vec![cals.id.clone()]);
    let supervisor = app.create_agent("supervisor").await;
    assert_eq!(
        found("parcel", &supervisor.token).await,
        vec![cals.id.clone(), bea_rooms[2].clone(), bea_rooms[0].clone()]
    );

    // Visitors may not search; silly limits are refused.
    app.get("/conversations", Some(&open.visitor_token)).await.problem(403, "forbidden");
    app.get("/conversations?limit=0", Some(&bea.token)).await.invalid_field("limit");
    app.get("/conversations?limit=201", Some(&bea.token)).await.invalid_field("limit");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
