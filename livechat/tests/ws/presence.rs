//! An agent's connections are their presence: when the last one drops and
//! agent_grace_secs pass, their rooms go back to the queue; coming back
//! within the grace keeps them.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_drops_loses_their_room_to_the_queue_once_the_grace_runs_out() {
    let app = spawn_app_without_limits().await;
    app.set_settings(json!({"agent_grace_secs": 1})).await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;
    let (mut other, _) = app.ws_welcomed(&bea.token).await;

    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.ack(json!({"type": "accept", "room_id": room.id})).await;
    visitor.messages(&room.id, 1).await; // the join text
    let engaged = visitor.wait_for_type("room_updated").await;
    assert_eq!(engaged["room"]["status"], "engaged");
    other.wait_for("room_taken", |f| f["type"] == "room_taken" && f["room_id"] == room.id.as_str()).await;

    // The agent's browser goes away; the grace runs out in real time (this
    // scenario keeps the timers' own tick honest; the others move the clock).
    drop(agent);

    let left = visitor.messages(&room.id, 1).await;
    assert_eq!(left[0]["seq"], 3);
    assert_eq!(left[0]["sender"]["kind"], "system");
    assert_eq!(left[0]["content"], format!("{} has left the chat", admin.name));
    let updated = visitor.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["status"], "queued", "{updated}");
    assert!(updated["room"]["agent"].is_null(), "{updated}");

    let queued = other
        .wait_for("room_queued", |f| f["type"] == "room_queued" && f["room"]["id"] == room.id.as_str())
        .await;
    assert_eq!(queued["room"]["status"], "queued");
    // And Bea may take it.
    let ack = other.ack(json!({"type": "accept", "room_id": room.id})).await;
    assert_eq!(ack["room"]["agent"]["id"], bea.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_back_within_the_grace_keeps_their_room() {
    let app = spawn_app_without_limits().await;
    app.set_settings(json!({"agent_grace_secs": 4})).await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;

    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.ack(json!({"type": "accept", "room_id": room.id})).await;
    visitor.messages(&room.id, 1).await; // the join text
    drop(agent);

    // A page reload: back well within the grace.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut agent, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["rooms"]), vec![room.id.clone()], "{welcome}");
    let history = agent.expect_type("history").await;
    assert_eq!(seqs(&history), vec![1, 2]);

    // Well past the grace: nothing happened to the room.
    app.advance_clock(Duration::from_secs(6)).await;
    visitor.assert_no_frame_of_type("message", Duration::from_millis(500)).await;
    let stored = app.room(&admin.token, &room.id).await;
    assert_eq!(stored["status"], "engaged", "{stored}");
    assert_eq!(stored["agent"]["id"], admin.id.as_str());
    assert_eq!(stored["last_seq"], 2, "no leave text was stored: {stored}");
    let ack =
        agent.ack(json!({"type": "send", "room_id": room.id, "content": "Sorry, my page reloaded"})).await;
    assert_eq!(ack["message"]["seq"], 3);
}
