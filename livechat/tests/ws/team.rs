//! The team: colleagues' presence and load for transfers (`GET /team`, the
//! `team` frame), an agent away (`presence`), the widget's "is anyone
//! there" (`GET /availability`), and a room transferred to a colleague
//! arriving with its conversation.

use std::time::Duration;

use serde_json::{Value, json};

use livechat_test_support::{app::*, shapes::*};

fn member<'a>(team: &'a Value, id: &str) -> &'a Value {
    team["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {team}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_agent_sees_colleagues_presence_and_load_but_not_their_usernames() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    let supervisor = app.create_agent("supervisor").await;
    app.engaged_room(&admin, "Ana").await;
    app.engaged_room(&admin, "Ben").await;

    let (mut bea_ws, _) = app.ws_welcomed(&bea.token).await;
    let (_cal_ws, _) = app.ws_welcomed(&cal.token).await;
    cal_goes_away(&app, &cal.token).await;

    // Bea, a plain agent, reads the team over WebSocket...
    let ack = bea_ws.ack(json!({"type": "team"})).await;
    let names: Vec<&str> =
        ack["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "by name: {ack}");
    for a in ack["agents"].as_array().unwrap() {
        assert_keys(a, &["id", "name", "status", "open_rooms", "accepts_rooms"]);
    }
    assert_eq!(member(&ack, &bea.id)["status"], "online");
    assert_eq!(member(&ack, &cal.id)["status"], "away");
    assert_eq!(member(&ack, &admin.id)["status"], "offline", "no live connection: {ack}");
    assert_eq!(member(&ack, &admin.id)["open_rooms"], 2);
    assert_eq!(member(&ack, &bea.id)["open_rooms"], 0);
    assert_eq!(member(&ack, &supervisor.id)["accepts_rooms"], true);

    // ... and over REST, the same.
    let rest = app.get("/team", Some(&bea.token)).await;
    assert_eq!(rest.json(200)["agents"], ack["agents"]);

    // Who is not an agent may not read it.
    let room = app.create_room("Dee", None).await;
    app.get("/team", Some(&room.visitor_token)).await.problem(403, "forbidden");
    app.get("/team", None).await.problem(401, "unauthorized");

    // A disabled colleague is not listed.
    app.patch(&format!("/agents/{}", cal.id), Some(&admin.token), json!({"disabled": true})).await.json(200);
    let rest = app.get("/team", Some(&bea.token)).await;
    assert!(
        !rest.json(200)["agents"].as_array().unwrap().iter().any(|a| a["id"] == cal.id.as_str()),
        "{}",
        rest.json(200)
    );
}

async fn cal_goes_away(app: &TestApp, token: &str) {
    let r = app.put("/presence", Some(token), json!({"status": "away"})).await;
    let me = r.json(200);
    assert_eq!(me["status"], "away", "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_away_is_offered_no_new_rooms_and_keeps_the_ones_they_hold() {
    let app = spawn_app_without_limits().await;
    let bea = app.create_named_agent("Bea").await;
    let held = app.engaged_room(&bea, "Ana").await;
    let waiting = app.create_room("Ben", Some("Anyone?")).await;
    let (mut ws, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![waiting.id.clone()]);
    ws.expect_type("history").await;

    let ack = ws.ack(json!({"type": "presence", "status": "away"})).await;
    assert_eq!(ack["agent"]["status"], "away", "{ack}");
    assert_eq!(ack["agent"]["id"], bea.id.as_str());

    // Away: a new request is not offered to her...
    let new = app.create_room("Cy", Some("Hello?")).await;
    ws.assert_no_frame_of_type("room_queued", Duration::from_millis(500)).await;
    // ... but her own chat goes on.
    app.sent(&held.visitor_token, &held.id, "Still there?").await;
    let m = ws
        .wait_for("message", |f| f["type"] == "message" && f["message"]["room_id"] == held.id.as_str())
        .await;
    assert_eq!(m["message"]["content"], "Still there?");
    // A reload keeps her away, with an empty queue and her room.
    let (mut reloaded, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(welcome["queue"], json!([]), "{welcome}");
    let team = reloaded.ack(json!({"type": "team"})).await;
    assert_eq!(member(&team, &bea.id)["status"], "away", "{team}");
    assert_eq!(ids(&welcome["rooms"]), vec![held.id.clone()]);
    reloaded.expect_type("history").await;

    // Back online: new requests reach her again.
    let ack = reloaded.ack(json!({"type": "presence", "status": "online"})).await;
    assert_eq!(ack["agent"]["status"], "online");
    let next = app.create_room("Dee", Some("Hi")).await;
    let queued = reloaded
        .wait_for("room_queued", |f| f["type"] == "room_queued" && f["room"]["id"] == next.id.as_str())
        .await;
    assert_eq!(queued["room"]["status"], "queued");
    let (_, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![waiting.id, new.id, next.id], "{welcome}");

    // Only online and away can be chosen.
    let err = reloaded.refused(json!({"type": "presence", "status": "offline"}), "invalid").await;
    assert!(err["message"].as_str().unwrap().contains("online"), "{err}");
    app.put("/presence", Some(&bea.token), json!({"status": "busy"})).await.problem(422, "invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_learns_without_a_token_whether_anyone_can_answer() {
    let app = spawn_app_without_limits().await;
    let available = || async { app.get("/availability", None).await.json(200)["agents_online"].clone() };
    assert_eq!(available().await, false, "nobody is connected");

    let bea = app.create_named_agent("Bea").await;
    let (bea_ws, _) = app.ws_welcomed(&bea.token).await;
    assert_eq!(available().await, true);

    app.put("/presence", Some(&bea.token), json!({"status": "away"})).await.json(200);
    assert_eq!(available().await, false, "the only agent is away");
    app.put("/presence", Some(&bea.token), json!({"status": "online"})).await.json(200);
    assert_eq!(available().await, true);

    // Her page closes: nobody is left (the answer may be a second old).
    bea_ws.close().await;
    let mut answers = Vec::new();
    for _ in 0..30 {
        answers.push(available().await);
        if answers.last() == Some(&json!(false)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answers.last(), Some(&json!(false)), "still available after the page closed: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_transferred_to_a_colleague_arrives_with_its_conversation() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let room = app.engaged_room(&admin, "Ana").await;
    app.sent(&room.visitor_token, &room.id, "My order is late").await;
    app.sent(&admin.token, &room.id, "Let me find someone who knows").await;
    let (mut bea_ws, _) = app.ws_welcomed(&bea.token).await;
    let (mut admin_ws, _) = app.ws_welcomed(&admin.token).await;
    admin_ws.expect_type("history").await;

    admin_ws.ack(json!({"type": "transfer", "room_id": room.id, "agent_id": bea.id})).await;

    let updated = bea_ws.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["agent"]["id"], bea.id.as_str(), "{updated}");
    let history = bea_ws.wait_for_type("history").await;
    assert_eq!(history["room_id"], room.id.as_str());
    let contents: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(contents.contains(&"My order is late"), "{history}");
    assert!(contents.contains(&"Let me find someone who knows"), "{history}");
    assert_eq!(contents.last(), Some(&"Bea has entered the chat"), "{history}");
    // The leave and join texts came in the history: not again as messages.
    bea_ws.assert_no_frame_of_type("message", Duration::from_millis(300)).await;
    // She answers, and the visitor's history has it all in order.
    let ack = bea_ws.ack(json!({"type": "send", "room_id": room.id, "content": "Hi Ana, I'm on it"})).await;
    let page = app.history(&room.visitor_token, &room.id, "").await;
    assert_eq!(page.json(200)["messages"].as_array().unwrap().last().unwrap()["id"], ack["message"]["id"]);
}
