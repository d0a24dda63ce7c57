//! A client that stops reading is cut off (its outbound queue fills); it
//! holds up no one: the other connections of the same agent and the
//! visitor keep receiving every message, in order.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use crate::helpers::*;

/// Messages the visitor sends. Enough that their frames overflow a stalled
/// connection's outbound queue (256 frames) plus the socket buffers (at
/// most 4 MiB on Linux: ~250 of these frames), with a margin.
const MESSAGES: u64 = 700;
const CONTENT_CHARS: usize = 16_000;

/// Reads `n` message events of `room_id` on its own task; their seqs.
fn read_messages(
    mut c: WsClient,
    room_id: String,
    n: usize,
) -> tokio::task::JoinHandle<(Vec<u64>, WsClient)> {
    tokio::spawn(async move {
        let got = c.messages(&room_id, n).await;
        (seqs_of(&got), c)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_connection_is_dropped_while_the_others_keep_receiving_every_message() {
    let app = spawn_app().await;
    app.set_settings(json!({"max_message_chars": CONTENT_CHARS + 100})).await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    app.accept(&admin, &room.id).await; // seqs 1 and 2

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

    // The same agent's reading tab, and the visitor.
    let (mut reading, _) = app.ws_welcomed(&admin.token).await;
    assert_eq!(seqs(&reading.expect_type("history").await), vec![1, 2]);
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    assert_eq!(seqs(&visitor.expect_type("history").await), vec![1, 2]);
    let agent_reader = read_messages(reading, room.id.clone(), MESSAGES as usize);
    let visitor_reader = read_messages(visitor, room.id.clone(), MESSAGES as usize);

    // The visitor talks a lot, a few requests at a time.
    let started = Instant::now();
    let body = "x".repeat(CONTENT_CHARS - 10);
    let sent: Vec<Value> = futures::stream::iter(0..MESSAGES)
        .map(|i| {
            let (app, room, body) = (&app, &room, &body);
            async move { app.send(&room.visitor_token, &room.id, &format!("{i:05} {body}")).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut sent_seqs: Vec<u64> = sent.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    sent_seqs.sort();
    let expected: Vec<u64> = (3..3 + MESSAGES).collect();
    assert_eq!(sent_seqs, expected);
    let sending_took = started.elapsed();

    // Every message reached the reading connections, once and in order.
    for (who, reader) in [("agent", agent_reader), ("visitor", visitor_reader)] {
        let (got, mut c) = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .unwrap_or_else(|_| panic!("the {who} did not get every message within 20 s of the last send"))
            .unwrap();
        assert_eq!(got, expected, "the {who}'s messages");
        let pong = c.request(json!({"type": "ping"})).await;
        assert_eq!(pong["type"], "pong", "the {who} is still connected");
    }

    // The stalled tab was cut off: reading it now gives what was already
    // on its way and then the end, never the whole conversation.
    let (frames, ended) = stalled.read_until_end(Duration::from_secs(15)).await;
    let got: Vec<u64> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"]["seq"].as_u64().unwrap())
        .collect();
    assert!(
        (got.len() as u64) < MESSAGES,
        "the stalled connection got all {} messages and ended {ended:?}: it was never cut off",
        got.len()
    );
    assert!(
        got.windows(2).all(|w| w[1] == w[0] + 1),
        "what the stalled connection did get is still in order: {got:?}"
    );
    println!(
        "sending took {sending_took:?}; the stalled connection got {} of {MESSAGES} messages, then {ended:?}; \
         the test took {:?}",
        got.len(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
