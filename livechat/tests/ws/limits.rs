//! How fast one connection may send: messages and typing frames over the
//! per-connection budget get `rate_limited` with a wait, and a client that
//! keeps going regardless is closed with 1008. Defaults: 10 messages and 5
//! typing frames a second, bursts of twice that.

use serde_json::json;

use livechat_test_support::{app::*, ws::*};

/// Fires `n` frames made by `frame(i)` without waiting, then reads every
/// answer: how many were acked and the rate_limited errors.
async fn burst(
    c: &mut WsClient,
    n: usize,
    frame: impl Fn(usize) -> serde_json::Value,
) -> (usize, Vec<serde_json::Value>) {
    for i in 0..n {
        let mut f = frame(i);
        f["req_id"] = json!(format!("r{i}"));
        c.send_json(f).await;
    }
    let (mut acked, mut limited) = (0, vec![]);
    for i in 0..n {
        let id = format!("r{i}");
        let answer = c.wait_for("an answer", |f| f["req_id"] == id.as_str()).await;
        match answer["type"].as_str() {
            Some("ack") => acked += 1,
            Some("error") if answer["code"] == "rate_limited" => limited.push(answer),
            _ => panic!("unexpected answer {answer}"),
        }
    }
    (acked, limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_sending_faster_than_allowed_is_told_to_wait_and_nothing_more_is_stored() {
    let app = spawn_app().await;
    let room = app.create_room("Ana", None).await;
    let (mut c, _) = app.ws_welcomed(&room.visitor_token).await;
    c.expect_type("history").await;

    let (acked, limited) =
        burst(&mut c, 40, |i| json!({"type": "send", "room_id": room.id, "content": format!("spam {i}")}))
            .await;
    assert!((20..30).contains(&acked), "a burst of 20 plus what refilled meanwhile; {acked} acked");
    assert_eq!(acked + limited.len(), 40);
    let wait = limited[0]["retry_after_ms"].as_u64().expect("a retry hint");
    assert!((1..=100).contains(&wait), "a token is back within 100 ms at 10/s: {}", limited[0]);

    let admin = app.admin().await;
    let stored = app.room(&admin.token, &room.id).await["last_seq"].as_u64().unwrap();
    assert_eq!(stored, acked as u64, "only what was acked is stored");

    // Typing has its own budget: still there after the messages ran out.
    let (typing_acked, _) =
        burst(&mut c, 15, |i| json!({"type": "typing", "room_id": room.id, "typing": i % 2 == 0})).await;
    assert!((10..15).contains(&typing_acked), "{typing_acked} typing frames acked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_ignores_rate_limited_is_closed_with_1008() {
    let app = spawn_app().await;
    let room = app.create_room("Ana", None).await;
    let (mut c, _) = app.ws_welcomed(&room.visitor_token).await;
    // One frame at a time, reading each answer, so that the close is read
    // before anything else is sent.
    let mut limited = 0;
    let ended = loop {
        assert!(limited < 300, "still open after {limited} rate_limited answers");
        c.send_json(json!({"type": "typing", "room_id": room.id, "typing": true})).await;
        match c.next_or_end(FRAME_TIMEOUT).await {
            Ok(Some(f)) if f["code"] == "rate_limited" => limited += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("no answer to a typing frame"),
            Err(end) => break end,
        }
    };
    assert_eq!(ended, Ended::Closed(Some(1008)));
    assert!(limited >= 49, "told to wait {limited} times first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_holds_only_so_many_websockets_and_gets_a_place_back_when_one_closes() {
    let app = spawn_configured(|c| {
        c.session.connections = livechat_ws::ConnectionLimits { per_token: 2, per_address: 100 };
    })
    .await;
    let room = app.create_room("Ana", None).await;
    let (first, _) = app.ws_welcomed(&room.visitor_token).await;
    let (_second, _) = app.ws_welcomed(&room.visitor_token).await;
    match app.try_ws(Some(&room.visitor_token), Auth::Query).await {
        Ok(_) => panic!("a third WebSocket on one token was accepted"),
        Err((status, body)) => {
            assert_eq!(status, 429, "{body}");
            assert!(body.contains("\"code\":\"rate_limited\""), "{body}");
        }
    }
    // Another visitor is not affected.
    let other = app.create_room("Bo", None).await;
    app.ws_welcomed(&other.visitor_token).await;

    first.close().await;
    for attempt in 0.. {
        match app.try_ws(Some(&room.visitor_token), Auth::Query).await {
            Ok(_) => break,
            Err((429, _)) if attempt < 50 => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => panic!("the closed connection's place did not come back: {e:?}"),
        }
    }
}
