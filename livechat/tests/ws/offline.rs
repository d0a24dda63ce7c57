//! When no agent is online the widget offers to leave a message: the room
//! waits in the queue for the offline_room_wait_secs workspace setting rather than
//! expiring after room_idle_timeout_secs, and the agent who takes it sees
//! the visitor's email and their earlier conversations.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_while_nobody_is_online_waits_for_an_agent_past_the_idle_timeout() {
    let app = spawn_app_without_limits().await;
    app.set_settings(json!({"room_idle_timeout_secs": 5})).await;
    assert_eq!(app.get("/availability", None).await.json(200)["agents_online"], false);

    let left = app
        .post(
            "/rooms",
            None,
            json!({"name": "Ana", "email": "Ana@Example.com", "message": "Call me back", "offline_message": true}),
        )
        .await;
    let left = left.json(201).clone();
    assert_room_shape(&left["room"]);
    let left_id = left["room"]["id"].as_str().unwrap().to_string();
    let plain = app.create_room("Ben", Some("Hello?")).await;

    // Well past the idle timeout: the ordinary request expired, the message waits.
    app.advance_clock(Duration::from_secs(60)).await;
    let admin = app.admin().await;
    assert_eq!(app.room(&admin.token, &plain.id).await["status"], "expired");
    assert_eq!(app.room(&admin.token, &left_id).await["status"], "queued");

    // An agent comes online the next morning and finds it in the queue.
    let bea = app.create_named_agent("Bea").await;
    let (mut bea_ws, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![left_id.clone()], "{welcome}");
    let details = bea_ws.ack(json!({"type": "visitor", "room_id": left_id})).await;
    let v = &details["visitor"];
    assert_keys(v, &["name", "email", "channel", "subject", "offline_message", "earlier_rooms"]);
    assert_eq!(v["email"], "Ana@Example.com");
    assert_eq!(v["offline_message"], true);
    assert_eq!(v["subject"], "Call me back");
    assert_eq!(v["channel"], "web");

    // Taken, it lives by the idle timeout like any engaged room.
    bea_ws.ack(json!({"type": "accept", "room_id": left_id})).await;
    bea_ws.expect_type("history").await;
    app.advance_clock(Duration::from_secs(10)).await;
    bea_ws.wait_for("room_closed", |f| f["type"] == "room_closed" && f["room_id"] == left_id.as_str()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_offline_expires_once_the_offline_wait_runs_out() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    // An admin shortens the wait at run time; a bad value changes nothing.
    let r = app.put("/workspace-settings", Some(&admin.token), json!({"offline_room_wait_secs": 600})).await;
    assert_eq!(r.json(200)["offline_room_wait_secs"], 600);
    let bad = app.put("/workspace-settings", Some(&admin.token), json!({"offline_room_wait_secs": 5})).await;
    bad.invalid_field("offline_room_wait_secs");
    let r =
        app.post("/rooms", None, json!({"name": "Ana", "message": "Anyone?", "offline_message": true})).await;
    let id = r.json(201)["room"]["id"].as_str().unwrap().to_string();
    app.advance_clock(Duration::from_secs(590)).await;
    assert_eq!(app.room(&admin.token, &id).await["status"], "queued");
    app.advance_clock(Duration::from_secs(15)).await;
    assert_eq!(app.room(&admin.token, &id).await["status"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_the_visitors_email_and_earlier_rooms_and_a_visitor_sees_none_of_it() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let first = app
        .post("/rooms", None, json!({"name": "Ana", "email": "ana@example.com", "message": "First"}))
        .await;
    let first_id = first.json(201)["room"]["id"].as_str().unwrap().to_string();
    app.accepted(&bea, &first_id).await;
    app.close(&bea.token, &first_id, None).await.json(200);
    // A conversation of hers that Bea had nothing to do with.
    let other_agents = app
        .post("/rooms", None, json!({"name": "Ana", "email": "ana@example.com", "message": "Second"}))
        .await;
    let other_agents_id = other_agents.json(201)["room"]["id"].as_str().unwrap().to_string();
    app.accepted(&admin, &other_agents_id).await;
    app.close(&admin.token, &other_agents_id, None).await.json(200);
    let _stranger = app.post("/rooms", None, json!({"name": "Zed", "email": "zed@example.com"})).await;
    let again = app
        .post("/rooms", None, json!({"name": "Ana B.", "email": "ANA@example.com", "message": "Again"}))
        .await;
    let again = again.json(201).clone();
    let again_id = again["room"]["id"].as_str().unwrap();

    let r = app.get(&format!("/rooms/{again_id}/visitor"), Some(&bea.token)).await;
    let v = r.json(200);
    assert_eq!(v["name"], "Ana B.");
    assert_eq!(v["offline_message"], false);
    // Bea sees the earlier room she handled, not the one she could not read.
    assert_eq!(room_ids(&json!({"rooms": v["earlier_rooms"]})), vec![first_id.clone()], "{v}");
    assert_room_shape(&v["earlier_rooms"][0]);
    assert_eq!(v["earlier_rooms"][0]["status"], "closed");
    app.history(&bea.token, &other_agents_id, "").await.problem(403, "forbidden");
    // A supervisor (rooms.view_all) sees both, newest first.
    let supervisor = app.create_agent("supervisor").await;
    let r = app.get(&format!("/rooms/{again_id}/visitor"), Some(&supervisor.token)).await;
    assert_eq!(
        room_ids(&json!({"rooms": r.json(200)["earlier_rooms"]})),
        vec![other_agents_id.clone(), first_id.clone()]
    );

    // The visitor's own token does not open it, nor does another room's.
    let token = again["visitor_token"].as_str().unwrap();
    app.get(&format!("/rooms/{again_id}/visitor"), Some(token)).await.problem(403, "forbidden");
    let other = app.create_room("Mallory", None).await;
    app.get(&format!("/rooms/{again_id}/visitor"), Some(&other.visitor_token))
        .await
        .problem(403, "forbidden");
    // An agent without access to an engaged room of someone else: 403.
    app.accepted(&admin, again_id).await;
    app.get(&format!("/rooms/{again_id}/visitor"), Some(&bea.token)).await.problem(403, "forbidden");
    app.get("/rooms/no-such-room/visitor", Some(&admin.token)).await.problem(404, "not_found");
}
