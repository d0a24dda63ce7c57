//! The first frames of a connection: `welcome`, then a `history` frame per
//! room of the caller.

use std::time::Duration;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_welcomed_with_no_rooms_and_the_queue_oldest_first() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let first = app.create_room("Ana", Some("first")).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = app.create_room("Bo", None).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let third = app.create_room("Cy", Some("third")).await;

    let mut agent = app.ws(&admin.token).await;
    let welcome = agent.expect_type("welcome").await;
    assert_keys(&welcome, &["type", "role", "user", "rooms", "queue"]);
    assert_eq!(welcome["role"], "agent");
    assert_keys(&welcome["user"], &["id", "name"]);
    assert_eq!(welcome["user"]["id"], admin.id.as_str());
    assert_eq!(welcome["user"]["name"], admin.name.as_str());
    assert_eq!(welcome["rooms"], serde_json::json!([]), "{welcome}");
    assert_eq!(
        ids(&welcome["queue"]),
        vec![first.id.clone(), second.id.clone(), third.id.clone()],
        "the queue, oldest first: {welcome}"
    );
    for room in welcome["queue"].as_array().unwrap() {
        assert_room_shape(room);
        assert_eq!(room["status"], "queued", "{room}");
        assert!(room["agent"].is_null(), "{room}");
    }
    assert_eq!(welcome["queue"][0]["visitor"]["name"], "Ana");
    assert_eq!(welcome["queue"][0]["last_seq"], 1);
    assert_eq!(welcome["queue"][1]["last_seq"], 0);
    // No rooms: no history frames.
    agent.assert_no_frame_of_type("history", Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_is_welcomed_with_their_room_and_then_its_history() {
    let app = spawn_app_without_limits().await;
    let room = app.create_room("Ana", Some("Hello, I need help")).await;
    let _other = app.create_room("Bo", Some("not yours")).await;

    let mut visitor = app.ws(&room.visitor_token).await;
    let welcome = visitor.expect_type("welcome").await;
    assert_keys(&welcome, &["type", "role", "user", "rooms", "queue"]);
    assert_eq!(welcome["role"], "visitor");
    assert_eq!(welcome["user"]["id"], room.room["visitor"]["id"], "{welcome}");
    assert_eq!(welcome["user"]["name"], "Ana");
    assert_eq!(ids(&welcome["rooms"]), vec![room.id.clone()], "{welcome}");
    assert_room_shape(&welcome["rooms"][0]);
    assert_eq!(welcome["rooms"][0]["status"], "queued");
    assert_eq!(welcome["queue"], serde_json::json!([]), "{welcome}");

    let history = visitor.expect_type("history").await;
    assert_keys(&history, &["type", "room_id", "messages", "has_more"]);
    assert_eq!(history["room_id"], room.id.as_str());
    assert_eq!(history["has_more"], false);
    assert_eq!(seqs(&history), vec![1]);
    let m = &history["messages"][0];
    assert_message_shape(m);
    assert_eq!(m["content"], "Hello, I need help");
    assert_eq!(m["sender"]["kind"], "visitor");
    assert_eq!(m["sender"]["name"], "Ana");
    assert_eq!(m["room_id"], room.id.as_str());
}
