//! Rooms without messages for room_idle_timeout_secs expire, and whoever is
//! connected is told as soon as the timers see the deadline pass. The
//! test moves the core's clock instead of waiting for it.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_room_expires_and_the_connected_visitor_is_told() {
    let app = spawn_app_without_limits().await;
    app.set_settings(json!({"room_idle_timeout_secs": 5})).await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello?")).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;
    let (mut agent, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![room.id.clone()]);

    // Deadline 5 s after the last message: not before it...
    app.advance_clock(Duration::from_secs(3)).await;
    visitor.assert_no_frame_of_type("room_closed", Duration::from_millis(300)).await;
    // ...and noticed by the timers' first round after it.
    app.advance_clock(Duration::from_secs(3)).await;
    let closed = visitor.wait_for_type("room_closed").await;
    assert_keys(&closed, &["type", "room_id", "reason", "message"]);
    assert_eq!(closed["room_id"], room.id.as_str());
    assert_eq!(closed["reason"], "expired");
    assert!(closed["message"].as_str().is_some_and(|m| !m.is_empty()), "{closed}");
    let updated = visitor.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["status"], "expired");

    // It expired in the queue: agents drop it from their lists.
    let gone = agent
        .wait_for("the expired room", |f| {
            (f["type"] == "room_closed" && f["room_id"] == room.id.as_str())
                || (f["type"] == "room_updated" && f["room"]["id"] == room.id.as_str())
        })
        .await;
    assert!(gone.to_string().contains("expired"), "{gone}");
    assert_eq!(app.room(&admin.token, &room.id).await["status"], "expired");

    // Nothing more can be said in it.
    visitor.refused(json!({"type": "send", "room_id": room.id, "content": "hello??"}), "conflict").await;
}
