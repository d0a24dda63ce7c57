//! A visitor's data requests: an admin exports everything held about
//! them as one document, and erases it, leaving nothing of their text in
//! any table while the rooms still count in reports; a retention setting
//! erases old rooms by itself.

use std::time::Duration;

use serde_json::{Value, json};

use livechat_test_support::app::*;
use livechat_test_support::database::columns_containing;
use livechat_test_support::webhooks::WebhookReceiver;

/// A room of Ana's (email ana@example.com) that Bea handled and closed,
/// with a note and a rated comment.
async fn anas_chat(app: &TestApp, question: &str) -> String {
    let r = app
        .post("/rooms", None, json!({"name": "Ana Lopez", "email": "ana@example.com", "message": question}))
        .await;
    let created = r.json(201).clone();
    let room = created["room"]["id"].as_str().unwrap().to_string();
    let visitor = created["visitor_token"].as_str().unwrap().to_string();
    let bea = app.admin().await;
    app.accept(&bea.token, &room).await.ok(200);
    app.sent(&visitor, &room, "My phone is 555-0199").await;
    app.sent(&bea.token, &room, "Thanks Ana, noted").await;
    app.post(&format!("/rooms/{room}/notes"), Some(&bea.token), json!({"content": "Ana sounded upset"}))
        .await
        .ok(201);
    app.close(&bea.token, &room, None).await.ok(200);
    let rated = app
        .post(
            &format!("/rooms/{room}/rating"),
            Some(&visitor),
            json!({"score": 4, "comment": "Ana says thanks"}),
        )
        .await;
    rated.ok(201);
    room
}

#[tokio::test]
async fn an_admin_exports_everything_held_about_a_visitor() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    let first = anas_chat(&app, "Where is order 1?").await;
    let second = anas_chat(&app, "And order 2?").await;
    app.post("/rooms", None, json!({"name": "Ben", "email": "ben@example.com", "message": "hi"}))
        .await
        .ok(201);

    let doc = app.get("/visitor-data?email=ANA@example.com", Some(&admin)).await.json(200).clone();
    assert!(doc["exported_at"].is_string());
    let rooms = doc["rooms"].as_array().unwrap();
    let ids: Vec<&str> = rooms.iter().map(|r| r["room"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()], "Ana's rooms, oldest first, not Ben's");
    let one = &rooms[0];
    assert_eq!(
        one["visitor"],
        json!({"channel": "web", "email": "ana@example.com", "external_id": null, "left_offline": false})
    );
    let texts: Vec<&str> =
        one["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(texts.contains(&"Where is order 1?") && texts.contains(&"My phone is 555-0199"), "{texts:?}");
    assert_eq!(one["notes"][0]["content"], "Ana sounded upset");
    assert_eq!(one["rating"]["comment"], "Ana says thanks");
    let by_room = app.get(&format!("/visitor-data?room_id={second}"), Some(&admin)).await.json(200).clone();
    assert_eq!(by_room["rooms"].as_array().unwrap().len(), 1);

    // The trail says an export happened, and nothing of whom by email.
    let audit = app.get("/audit?action=visitor.exported", Some(&admin)).await.json(200).clone();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2);
    assert_eq!(audit["entries"][1]["details"], json!({"by": "email", "rooms": [first, second]}));
    assert!(!audit.to_string().contains("ana@example.com"));

    // Only admins who read every room; a request names its visitor once.
    let supervisor = app.create_agent("supervisor").await;
    app.get("/visitor-data?email=ana@example.com", Some(&supervisor.token)).await.problem(403, "forbidden");
    app.get("/visitor-data", Some(&admin)).await.invalid_field("room_id");
    app.get(&format!("/visitor-data?email=ana@example.com&room_id={first}"), Some(&admin))
        .await
        .invalid_field("room_id");
    app.get("/visitor-data?channel=telegram", Some(&admin)).await.invalid_field("external_id");
}

#[tokio::test]
async fn erasing_a_visitor_leaves_nothing_of_their_text_in_any_table() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    // An integration was told of the messages, so their text sits in its
    // deliveries too.
    app.put("/workspace-settings", Some(&admin), json!({"webhook_allowed_networks": ["127.0.0.0/8"]}))
        .await
        .ok(200);
    let receiver = WebhookReceiver::start().await;
    let hook = app
        .post("/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["message.created"]}))
        .await;
    receiver.set_secret(hook.json(201)["secret"].as_str().unwrap());
    let room = anas_chat(&app, "Where is order 1?").await;
    receiver.wait_accepted(5).await;
    let open = app
        .post(
            "/rooms",
            None,
            json!({"name": "Ana Lopez", "email": "ana@example.com", "message": "Still there?"}),
        )
        .await;
    let open_room = open.json(201)["room"]["id"].as_str().unwrap().to_string();

    // An open room is not erased under the agent's feet.
    let refused = app.post("/visitor-data/erase", Some(&admin), json!({"email": "ana@example.com"})).await;
    refused.problem(409, "conflict");
    let bea = app.admin().await;
    app.accept(&bea.token, &open_room).await.ok(200);
    app.close(&bea.token, &open_room, None).await.ok(200);
    let erased = app.post("/visitor-data/erase", Some(&admin), json!({"email": "ana@example.com"})).await;
    assert_eq!(erased.json(200)["rooms"], 2);
    assert_eq!(erased.json(200)["messages"], 8, "5 in the first room, 3 in the second");

    for text in [
        "Ana Lopez",
        "ana@example.com",
        "Where is order 1?",
        "555-0199",
        "Thanks Ana",
        "Ana sounded upset",
        "Ana says thanks",
        "Still there?",
    ] {
        let left = columns_containing(&app.database_url, text).await;
        assert!(left.is_empty(), "{text:?} is still in {left:?}");
    }
    // The rooms stay, closed, for the reports; the rating's score too.
    let kept = app.get(&format!("/rooms/{room}"), Some(&admin)).await.json(200).clone();
    assert_eq!(kept["status"], "closed");
    assert_eq!(kept["visitor"]["name"], "Erased visitor");
    let report = app.get("/reports/ratings", Some(&admin)).await.json(200).clone();
    assert_eq!(report["overall"]["count"], 1);
    let doc = app.get(&format!("/visitor-data?room_id={room}"), Some(&admin)).await.json(200).clone();
    assert!(doc["rooms"][0]["messages"].as_array().unwrap().iter().all(|m| m["content"] == "[erased]"));
    let audit = app.get("/audit?action=visitor.erased", Some(&admin)).await.json(200).clone();
    assert_eq!(audit["entries"][0]["details"]["by"], "email");
    assert_eq!(audit["entries"][0]["actor"]["name"], "Administrator");
    app.post("/visitor-data/erase", Some(&admin), json!({"room_id": "no-such-room"}))
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn rooms_past_the_retention_setting_are_erased_by_themselves() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    let r = app.put("/workspace-settings", Some(&admin), json!({"closed_room_retention_days": 30})).await;
    assert_eq!(r.json(200)["closed_room_retention_days"], 30);
    let old = anas_chat(&app, "Where is order 1?").await;
    app.advance_clock(Duration::from_secs(29 * 86_400)).await;
    let recent = anas_chat(&app, "And order 2?").await;
    let messages =
        |doc: &Value, i: usize| doc["rooms"][i]["messages"][0]["content"].as_str().unwrap().to_string();
    let doc = app.get("/visitor-data?email=ana@example.com", Some(&admin)).await.json(200).clone();
    assert_eq!(messages(&doc, 0), "Where is order 1?", "29 days: kept");
    app.advance_clock(Duration::from_secs(2 * 86_400)).await;

    let gone = app.get(&format!("/visitor-data?room_id={old}"), Some(&admin)).await.json(200).clone();
    assert_eq!(messages(&gone, 0), "[erased]", "31 days: erased");
    let kept = app.get(&format!("/visitor-data?room_id={recent}"), Some(&admin)).await.json(200).clone();
    assert_eq!(messages(&kept, 0), "And order 2?");
    let audit = app.get("/audit?action=visitor.erased", Some(&admin)).await.json(200).clone();
    let entry = &audit["entries"][0];
    assert_eq!(entry["actor"], Value::Null);
    assert_eq!(entry["details"]["by"], "retention");
    assert_eq!(entry["details"]["rooms"], json!([old]));
}
