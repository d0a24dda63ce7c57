//! Frames the server cannot or will not act on: an `error` frame, and the
//! connection stays open; only an oversized frame ends it (1009).

use serde_json::json;

use livechat_test_support::{app::*, shapes::*, ws::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_answered_invalid_and_the_connection_stays_open() {
    let app = spawn_app_without_limits().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut c, _) = app.ws_welcomed(&room.visitor_token).await;
    c.expect_type("history").await;

    // Not JSON: no req_id to answer.
    c.send_text("this is {not json").await;
    let e = c.wait_for_type("error").await;
    assert_eq!(e["code"], "invalid", "{e}");
    assert!(e["req_id"].is_null(), "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");

    // JSON that is not an object.
    c.send_text("[1,2,3]").await;
    let e = c.wait_for_type("error").await;
    assert_eq!(e["code"], "invalid", "{e}");

    // An unknown type, a missing field, a missing type, a wrongly typed field.
    let bad = [
        json!({"type": "dance", "req_id": "x1"}),
        json!({"type": "send", "req_id": "x2", "room_id": room.id}),
        json!({"req_id": "x3", "room_id": room.id, "content": "hi"}),
        json!({"type": "typing", "req_id": "x4", "room_id": room.id, "typing": "yes"}),
        json!({"type": "history", "req_id": "x5"}),
    ];
    for frame in bad {
        let e = c.refused(frame.clone(), "invalid").await;
        assert_keys(&e, &["type", "req_id", "code", "message"]);
        assert_eq!(e["req_id"], frame["req_id"], "{e}");
    }

    // Still open and answering.
    let pong = c.request(json!({"type": "ping", "req_id": "still-there"})).await;
    assert_eq!(pong, json!({"type": "pong", "req_id": "still-there"}));
    let ack = c.ack(json!({"type": "send", "room_id": room.id, "content": "and sending"})).await;
    assert_eq!(ack["message"]["seq"], 2, "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_cannot_send_to_or_read_another_room() {
    let app = spawn_app_without_limits().await;
    let mine = app.create_room("Ana", Some("Hello")).await;
    let theirs = app.create_room("Bo", Some("Private")).await;
    let (mut c, _) = app.ws_welcomed(&mine.visitor_token).await;
    c.expect_type("history").await;

    c.refused(json!({"type": "send", "room_id": theirs.id, "content": "hi Bo"}), "forbidden").await;
    c.refused(json!({"type": "history", "room_id": theirs.id}), "forbidden").await;
    // Nothing was stored in the other room.
    let admin = app.admin().await;
    assert_eq!(app.room(&admin.token, &theirs.id).await["last_seq"], 1);
    // And visitors accept nothing.
    c.refused(json!({"type": "accept", "room_id": mine.id}), "forbidden").await;
    let pong = c.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_64_kib_closes_the_connection_with_1009() {
    let app = spawn_app_without_limits().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut c, _) = app.ws_welcomed(&room.visitor_token).await;

    // Exactly 64 KiB is still fine (answered, too_large or not, but answered).
    let fits = json!({"type": "ping", "req_id": "fits", "pad": ""}).to_string();
    let pad = 64 * 1024 - fits.len();
    let at_limit = json!({"type": "ping", "req_id": "fits", "pad": "a".repeat(pad)}).to_string();
    assert_eq!(at_limit.len(), 64 * 1024);
    c.send_text(at_limit).await;
    let pong = c.wait_for("the pong to a 64 KiB frame", |f| f["req_id"] == "fits").await;
    assert_eq!(pong["type"], "pong", "{pong}");

    let content = "x".repeat(70 * 1024);
    c.send_json(json!({"type": "send", "req_id": "big", "room_id": room.id, "content": content})).await;
    let ended = c.expect_end(FRAME_TIMEOUT).await;
    assert_eq!(ended, Ended::Closed(Some(1009)), "how the connection ended");
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let app = spawn_app_without_limits().await;
    let room = app.create_room("Ana", None).await;
    let mut raw = app.raw_ws(&room.visitor_token).await;
    raw.send_frame(RawFrame::TEXT, b"{\"type\":\"ping\",\"x\":\"\xff\xfe\"}").await;
    let (_, code) = raw.read_until_close(FRAME_TIMEOUT).await;
    assert_eq!(code, Some(1007), "RFC 6455: inconsistent data closes with 1007");
}
