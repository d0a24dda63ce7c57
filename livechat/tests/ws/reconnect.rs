//! A visitor refreshing the page: the same token, the same room, its
//! history again; once the room ended, `room_closed` right after `welcome`.

use reqwest::Method;
use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_refreshing_is_welcomed_back_with_history_and_told_once_the_room_closed() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    app.accepted(&admin, &room.id).await;

    let (mut visitor, first_welcome) = app.ws_welcomed(&room.visitor_token).await;
    let first_history = visitor.expect_type("history").await;
    visitor.ack(json!({"type": "send", "room_id": room.id, "content": "still here"})).await;
    visitor.close().await;

    // Refresh.
    let (mut visitor, welcome) = app.ws_welcomed(&room.visitor_token).await;
    assert_eq!(welcome["user"], first_welcome["user"]);
    assert_eq!(ids(&welcome["rooms"]), vec![room.id.clone()]);
    assert_eq!(welcome["rooms"][0]["status"], "engaged");
    let history = visitor.expect_type("history").await;
    assert_eq!(seqs(&first_history), vec![1, 2]);
    assert_eq!(seqs(&history), vec![1, 2, 3], "{history}");
    assert_eq!(history["messages"][2]["content"], "still here");
    visitor.close().await;

    // The agent ends the chat while the visitor is away.
    let r = app.request(Method::POST, &format!("/rooms/{}/close", room.id), Some(&admin.token), None).await;
    assert_eq!(r.ok(200)["status"], "closed");

    let (mut visitor, welcome) = app.ws_welcomed(&room.visitor_token).await;
    assert_eq!(ids(&welcome["rooms"]), vec![room.id.clone()]);
    assert_eq!(welcome["rooms"][0]["status"], "closed", "{welcome}");
    let closed = visitor.expect_type("room_closed").await;
    assert_eq!(
        closed,
        json!({"type": "room_closed", "room_id": room.id, "reason": "closed",
               "message": "This chat has been closed. Thank you!"})
    );
    // The transcript is still there to read.
    let history = visitor.expect_type("history").await;
    assert_eq!(seqs(&history), vec![1, 2, 3, 4], "{history}");
    // And the connection still answers.
    let pong = visitor.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
}
