//! The loop driven through channels: a fake client on the socket's halves,
//! a fake event stream, and a core that answers every call `unavailable`.
//! Timers run on tokio's paused clock. What needs a real core (history,
//! gaps, resubscription) is in `livechat/tests/ws`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use futures::channel::mpsc::{Receiver, UnboundedSender, channel, unbounded};
use futures::future::Either;
use futures::{SinkExt, StreamExt};
use livechat_proto::client::CoreClient;
use livechat_proto::v1 as pb;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, error::CapacityError};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::serve;
use crate::session::SessionConfig;

/// The other end of a session under test.
struct Client {
    frames: UnboundedSender<Result<Message, axum::Error>>,
    received: Receiver<Message>,
    events: UnboundedSender<Result<pb::Event, Status>>,
    shutdown: CancellationToken,
    session: JoinHandle<()>,
}

/// A core that refuses every call as unreachable.
fn unreachable_core() -> CoreClient {
    let refuse = tower::service_fn(|_: axum::http::Request<tonic::body::Body>| async {
        Ok::<_, Infallible>(Status::unavailable("no core in this test").into_http())
    });
    CoreClient::in_process(refuse, None)
}

/// A core whose handlers panic (a bug), running in this process as in
/// the all-in-one.
fn panicking_core() -> CoreClient {
    let boom = tower::service_fn(|_: axum::http::Request<tonic::body::Body>| async {
        if true {
            panic!("a bug in the core");
        }
        Ok::<_, Infallible>(Status::unavailable("unreached").into_http())
    });
    CoreClient::in_process(boom, None)
}

/// Opens a session with an empty snapshot and reads past its welcome.
async fn connect() -> Client {
    connect_to(unreachable_core()).await
}

async fn connect_to(core: CoreClient) -> Client {
    connect_with(core, 1024).await
}

/// A session whose socket takes `room` frames before the client reads.
async fn connect_with(core: CoreClient, room: usize) -> Client {
    let (frames, stream) = unbounded();
    let (sink, received) = channel(room);
    let (events, event_stream) = unbounded();
    let shutdown = CancellationToken::new();
    let session = tokio::spawn(serve(
        (sink, stream),
        Either::Left(event_stream),
        core,
        "token".into(),
        pb::Snapshot { role: "agent".into(), ..Default::default() },
        SessionConfig::default(),
        shutdown.clone(),
    ));
    let mut client = Client { frames, received, events, shutdown, session };
    assert_eq!(client.frame().await["type"], "welcome");
    client
}

impl Client {
    async fn send(&mut self, text: &str) {
        self.frames.send(Ok(Message::Text(Utf8Bytes::from(text)))).await.unwrap();
    }

    async fn fail_read(&mut self, e: impl Into<tower::BoxError>) {
        self.frames.send(Err(axum::Error::new(e))).await.unwrap();
    }

    /// The next frame the session wrote, as JSON; pings are skipped.
    async fn frame(&mut self) -> Value {
        loop {
            match self.received.next().await.expect("the session ended") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads up to the end of the session: the close code it sent, if any.
    async fn close_code(mut self) -> Option<u16> {
        let mut code = None;
        while let Some(msg) = self.received.next().await {
            if let Message::Close(frame) = msg {
                code = frame.map(|f| f.code);
            }
        }
        self.session.await.unwrap();
        code
    }

    fn event(&self, kind: pb::event::Kind) {
        self.events.unbounded_send(Ok(pb::Event { kind: Some(kind) })).unwrap();
    }
}

fn message(room_id: &str, seq: u64) -> pb::event::Kind {
    let message = pb::Message { room_id: room_id.into(), seq, ..Default::default() };
    pb::event::Kind::Message(pb::MessageStored { message: Some(message) })
}

#[tokio::test(start_paused = true)]
async fn a_ping_frame_is_answered_with_a_pong_carrying_its_req_id() {
    let mut c = connect().await;
    c.send(r#"{"type":"ping","req_id":"p1"}"#).await;
    assert_eq!(c.frame().await, json!({"type": "pong", "req_id": "p1"}));
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_is_not_json_gets_an_invalid_error_and_the_connection_stays_open() {
    let mut c = connect().await;
    c.send("hello").await;
    let err = c.frame().await;
    assert_eq!(
        (&err["type"], &err["code"], &err["req_id"]),
        (&json!("error"), &json!("invalid"), &Value::Null)
    );
    c.frames.send(Ok(Message::Binary(vec![1, 2].into()))).await.unwrap();
    assert_eq!(c.frame().await["code"], "invalid");
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.frame().await["type"], "pong");
}

#[tokio::test(start_paused = true)]
async fn a_call_the_core_cannot_answer_gets_an_error_with_its_req_id() {
    let mut c = connect().await;
    c.send(r#"{"type":"send","req_id":"s1","room_id":"r","content":"hi"}"#).await;
    let err = c.frame().await;
    assert_eq!((&err["type"], &err["req_id"]), (&json!("error"), &json!("s1")));
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.frame().await["type"], "pong");
}

#[tokio::test(start_paused = true)]
async fn a_frame_over_the_size_limit_closes_with_1009() {
    let mut c = connect().await;
    c.fail_read(tungstenite::Error::Capacity(CapacityError::MessageTooLong {
        size: 70_000,
        max_size: 65_536,
    }))
    .await;
    assert_eq!(c.close_code().await, Some(1009));
}

#[tokio::test(start_paused = true)]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let mut c = connect().await;
    c.fail_read(tungstenite::Error::Utf8("invalid utf-8 sequence".into())).await;
    assert_eq!(c.close_code().await, Some(1007));
}

#[tokio::test(start_paused = true)]
async fn a_read_error_that_only_mentions_capacity_ends_without_1009() {
    let mut c = connect().await;
    c.fail_read(std::io::Error::other("capacity: message too long")).await;
    assert_eq!(c.close_code().await, None);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_pinged_then_closed_with_4408_after_the_idle_time() {
    let mut c = connect().await;
    let start = Instant::now();
    let mut pings = 0;
    let code = loop {
        match c.received.next().await.unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Close(f) => break f.map(|f| f.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, Some(4408));
    assert_eq!(start.elapsed(), SessionConfig::default().idle_after);
    assert_eq!(pings, 5, "one every 20 s before the idle close at 120 s");
}

#[tokio::test(start_paused = true)]
async fn a_client_frame_postpones_the_idle_close() {
    let mut c = connect().await;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(100)).await;
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.frame().await["type"], "pong");
    assert_eq!(c.close_code().await, Some(4408));
    assert_eq!(start.elapsed(), Duration::from_secs(220));
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_with_1001() {
    let c = connect().await;
    c.shutdown.cancel();
    assert_eq!(c.close_code().await, Some(1001));
}

#[tokio::test(start_paused = true)]
async fn a_client_close_ends_the_session_without_a_close_of_its_own() {
    let mut c = connect().await;
    c.frames.send(Ok(Message::Close(None))).await.unwrap();
    assert_eq!(c.close_code().await, None);
}

#[tokio::test(start_paused = true)]
async fn live_messages_reach_the_client_once_in_order() {
    let mut c = connect().await;
    for seq in [1, 1, 2, 2, 1] {
        c.event(message("r", seq));
    }
    c.event(message("other", 7));
    // Events go before client frames: the pong comes after all of them.
    c.send(r#"{"type":"ping"}"#).await;
    let mut seen = vec![];
    loop {
        let f = c.frame().await;
        if f["type"] == "pong" {
            break;
        }
        seen.push((f["message"]["room_id"].clone(), f["message"]["seq"].clone()));
    }
    assert_eq!(seen, [(json!("r"), json!(1)), (json!("r"), json!(2)), (json!("other"), json!(7))]);
}

#[tokio::test(start_paused = true)]
async fn an_event_stream_refused_for_the_token_closes_with_4401() {
    let c = connect().await;
    c.events.unbounded_send(Err(Status::unauthenticated("revoked"))).unwrap();
    assert_eq!(c.close_code().await, Some(4401));
}

#[tokio::test(start_paused = true)]
async fn an_event_stream_dropped_as_too_slow_closes_with_1013() {
    let c = connect().await;
    c.events.unbounded_send(Err(Status::resource_exhausted("too slow"))).unwrap();
    assert_eq!(c.close_code().await, Some(1013));
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_serving_a_frame_closes_that_connection_with_1011() {
    let mut client = connect_to(panicking_core()).await;
    client.send(r#"{"type":"send","req_id":"r1","room_id":"r","content":"hi"}"#).await;
    assert_eq!(client.close_code().await, Some(1011));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_reads_nothing_while_events_pile_up_is_dropped() {
    let c = connect_with(unreachable_core(), 0).await;
    let sent = SessionConfig::default().outbound_queue as u64 + 10;
    for seq in 1..=sent {
        c.event(message("r", seq));
    }
    // The socket takes nothing more: the session queues what it can, and
    // past the limit it gives up on the client instead of holding on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.session.is_finished(), "a client that does not read must not hold its session");
    let mut received = c.received;
    let mut delivered = 0;
    while let Some(msg) = received.next().await {
        assert!(matches!(msg, Message::Text(_)), "no close frame fits a socket that is not read: {msg:?}");
        delivered += 1;
    }
    assert!(delivered < sent, "only what the socket took before it stalled is written: {delivered}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_reads_late_gets_every_queued_frame_in_order() {
    let mut c = connect_with(unreachable_core(), 0).await;
    for seq in 1..=50 {
        c.event(message("r", seq));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for seq in 1..=50 {
        let frame = c.frame().await;
        assert_eq!((frame["type"].as_str(), frame["message"]["seq"].as_u64()), (Some("message"), Some(seq)));
    }
}

/// A core that keeps each call about room "slow" until the test releases
/// one, and refuses every other call as unreachable at once.
fn core_slow_in_one_room() -> (CoreClient, std::sync::Arc<tokio::sync::Semaphore>) {
    use http_body_util::BodyExt;
    use prost::Message as _;
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let held = release.clone();
    let core = tower::service_fn(move |req: axum::http::Request<tonic::body::Body>| {
        let held = held.clone();
        async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            // Past gRPC's 5-byte frame header; every room call has the
            // room's id as field 1.
            let call = pb::RoomRequest::decode(&body[5..]).unwrap();
            if call.room_id == "slow" {
                held.acquire().await.unwrap().forget();
            }
            Ok::<_, Infallible>(Status::unavailable("no core in this test").into_http())
        }
    });
    (CoreClient::in_process(core, None), release)
}

#[tokio::test(start_paused = true)]
async fn a_send_in_one_room_is_answered_while_another_rooms_is_still_with_the_core() {
    let (core, release) = core_slow_in_one_room();
    let mut c = connect_to(core).await;
    c.send(r#"{"type":"send","req_id":"s1","room_id":"slow","content":"first"}"#).await;
    c.send(r#"{"type":"send","req_id":"s2","room_id":"fast","content":"second"}"#).await;
    assert_eq!(c.frame().await["req_id"], "s2", "not held up by the slow room");
    c.send(r#"{"type":"ping","req_id":"p"}"#).await;
    assert_eq!(c.frame().await["req_id"], "p");
    release.add_permits(1);
    assert_eq!(c.frame().await["req_id"], "s1");
}

#[tokio::test(start_paused = true)]
async fn a_rooms_sends_and_any_other_request_wait_for_the_sends_before_them() {
    let (core, release) = core_slow_in_one_room();
    let mut c = connect_to(core).await;
    c.send(r#"{"type":"send","req_id":"s1","room_id":"slow","content":"first"}"#).await;
    c.send(r#"{"type":"send","req_id":"s2","room_id":"slow","content":"second"}"#).await;
    c.send(r#"{"type":"close","req_id":"c","room_id":"fast"}"#).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.received.try_recv().is_err(), "nothing answered while the first send is held");
    release.add_permits(2);
    let order = [c.frame().await, c.frame().await, c.frame().await].map(|f| f["req_id"].clone());
    assert_eq!(order, [json!("s1"), json!("s2"), json!("c")]);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_has_its_running_send_seen_through_and_its_waiting_ones_dropped() {
    let (core, release) = core_slow_in_one_room();
    let mut c = connect_to(core).await;
    c.send(r#"{"type":"send","req_id":"s1","room_id":"slow","content":"first"}"#).await;
    c.send(r#"{"type":"send","req_id":"s2","room_id":"slow","content":"second"}"#).await;
    c.frames.close_channel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!c.session.is_finished(), "the send the core is storing is not dropped halfway");
    // One release: the first send's. The second never started, so the
    // session does not wait for it.
    release.add_permits(1);
    tokio::time::timeout(Duration::from_secs(5), c.session).await.expect("ended").unwrap();
}
