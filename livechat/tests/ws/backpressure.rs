//! A client that stops reading is cut off once its outbound queue (256
//! frames) is full; it holds up no one: the other connections of the same
//! agent and the visitor keep receiving every message, in order.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use livechat_test_support::{app::*, rest::*, shapes::*, ws::*};

/// Big messages first: together more than the socket buffers between the
/// server and a client that does not read can hold (at most ~4 MiB on
/// Linux), so that the server's writer blocks on the stalled connection.
const BIG_MESSAGES: u64 = 90;
const CONTENT_CHARS: usize = 60_000;
/// Then cheap frames (typing indicators, nothing stored) that overflow the
/// stalled connection's queue, then some more messages.
const TYPING_FRAMES: usize = 400;
const TYPING_TABS: usize = 4;
const MORE_MESSAGES: u64 = 20;

/// Reads up to `n` message events of `room_id` on its own task, dropping
/// other frames, for at most a minute; their seqs.
fn read_messages(
    mut c: WsClient,
    room_id: String,
    n: usize,
) -> tokio::task::JoinHandle<(Vec<u64>, WsClient)> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seqs = Vec::with_capacity(n);
        while seqs.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.next_frame_within(left).await {
                Some(f) if f["type"] == "message" && f["message"]["room_id"] == room_id.as_str() => {
                    seqs.push(f["message"]["seq"].as_u64().unwrap())
                }
                Some(_) => {}
                None => break,
            }
        }
        (seqs, c)
    })
}

/// The visitor sends messages `from..to` through REST, four at a time.
async fn send_messages(app: &TestApp, room: &TestRoom, from: u64, to: u64, body: &str) -> Vec<u64> {
    let sent: Vec<Value> = futures::stream::iter(from..to)
        .map(|i| async move { app.sent(&room.visitor_token, &room.id, &format!("{i:05} {body}")).await })
        .buffer_unordered(4)
        .collect()
        .await;
    sent.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

/// Sends `n` typing frames, 50 at a time, and reads their acks.
async fn type_a_lot(tab: &mut WsClient, room_id: &str, n: usize) {
    for batch in 0..n.div_ceil(50) {
        let count = 50.min(n - batch * 50);
        for i in 0..count {
            tab.send_json(json!({"type": "typing", "req_id": format!("t{batch}-{i}"), "room_id": room_id, "typing": i % 2 == 0}))
                .await;
        }
        for i in 0..count {
            let req = format!("t{batch}-{i}");
            let ack = tab.wait_for("a typing ack", |f| f["req_id"] == req.as_str()).await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_connection_is_dropped_while_the_others_keep_receiving_every_message() {
    let app = spawn_app_without_limits().await;
    app.set_settings(json!({"max_message_chars": CONTENT_CHARS + 100})).await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    app.accepted(&admin, &room.id).await; // seqs 1 and 2

    // The stalled tab: a small receive buffer, and after the welcome and
    // history it never reads again.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = app.address.trim_start_matches("http://").parse().unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut stalled = match app.try_ws_on(stream, Some(&admin.token), Auth::Header).await {
        Ok(c) => c,
        Err((s, b)) => panic!("upgrade refused: {s} {b}"),
    };
    stalled.expect_type("welcome").await;
    stalled.expect_type("history").await;

    // The same agent's reading tab, and the visitor, read all along.
    let total = (BIG_MESSAGES + MORE_MESSAGES) as usize;
    let (mut reading, _) = app.ws_welcomed(&admin.token).await;
    assert_eq!(seqs(&reading.expect_type("history").await), vec![1, 2]);
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    assert_eq!(seqs(&visitor.expect_type("history").await), vec![1, 2]);
    let agent_reader = read_messages(reading, room.id.clone(), total);
    let visitor_reader = read_messages(visitor, room.id.clone(), total);
    // More tabs of the visitor's, to type from.
    let mut typing_tabs = Vec::new();
    for _ in 0..TYPING_TABS {
        typing_tabs.push(app.ws_welcomed(&room.visitor_token).await.0);
    }

    let started = Instant::now();
    let body = "x".repeat(CONTENT_CHARS - 10);
    let mut sent = send_messages(&app, &room, 0, BIG_MESSAGES, &body).await;
    let big_took = started.elapsed();
    let tabs = typing_tabs.iter_mut().map(|tab| type_a_lot(tab, &room.id, TYPING_FRAMES / TYPING_TABS));
    futures::future::join_all(tabs).await;
    let typing_took = started.elapsed() - big_took;
    sent.extend(send_messages(&app, &room, BIG_MESSAGES, BIG_MESSAGES + MORE_MESSAGES, "and more").await);
    sent.sort();
    let expected: Vec<u64> = (3..3 + total as u64).collect();
    assert_eq!(sent, expected);
    let sending_took = started.elapsed();

    // Every message reached the reading connections, once and in order.
    for (who, reader) in [("agent", agent_reader), ("visitor", visitor_reader)] {
        let (got, mut c) = reader.await.unwrap();
        assert_eq!(got, expected, "the {who}'s messages");
        let pong = c.request(json!({"type": "ping"})).await;
        assert_eq!(pong["type"], "pong", "the {who} is still connected");
    }

    // The stalled tab was cut off: reading it now gives what was already on
    // its way, in order, and then the end; never the whole conversation.
    let (frames, ended) = stalled.read_until_end(Duration::from_secs(10)).await;
    let got: Vec<u64> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"]["seq"].as_u64().unwrap())
        .collect();
    assert!(
        got.len() < total,
        "the stalled connection got all {} messages and ended {ended:?}: it was never cut off",
        got.len()
    );
    assert!(
        got.iter().copied().eq(3..3 + got.len() as u64),
        "what the stalled connection did get is in order, without gaps: {got:?}"
    );
    println!(
        "big messages took {big_took:?}, typing {typing_took:?}, all sending {sending_took:?}; the stalled connection got {} of {total} messages and {} frames, \
         then {ended:?}; the test took {:?}",
        got.len(),
        frames.len(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
