//! Liveness: the server pings; a connection that sends nothing (not even
//! the pongs a working client answers pings with) for the idle time is
//! closed with 4408; on shutdown every WebSocket is closed with 1001.
//!
//! The all-in-one pings every 20 s and closes after 120 s; these tests
//! assemble the same server with short knobs instead.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, ws::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_closes_a_connection_silent_for_the_idle_time_with_4408() {
    let session = SessionConfig {
        ping_every: Duration::from_millis(300),
        idle_after: Duration::from_millis(1500),
        ..SessionConfig::default()
    };
    let app = spawn_app_with_session(session).await;
    let room = app.create_room("Ana", Some("Hello")).await;

    // A working client reads, and so answers every ping with a pong.
    let (mut live, _) = app.ws_welcomed(&room.visitor_token).await;
    // A stuck one sends nothing at all, so it answers no ping.
    let mut stuck = app.raw_ws(&room.visitor_token).await;

    live.assert_no_frame_of_type("error", Duration::from_secs(3)).await;
    assert!(live.pings >= 5, "only {} pings in 3 s at one per 300 ms", live.pings);
    let pong = live.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong", "the answering client is still connected");

    let (frames, code) = stuck.read_until_close(Duration::from_secs(5)).await;
    let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(code, Some(4408), "the stuck connection's frames (opcodes): {opcodes:?}");
    assert_eq!(frames[0].opcode, RawFrame::TEXT, "welcome first");
    assert!(
        frames.iter().filter(|f| f.opcode == RawFrame::PING).count() >= 3,
        "pinged before being closed: {opcodes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_shutting_down_closes_every_websocket_with_1001() {
    let mut app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;

    let (stopped, v_end, a_end) = tokio::join!(
        app.shut_down(),
        visitor.expect_end(Duration::from_secs(10)),
        agent.expect_end(Duration::from_secs(10)),
    );
    stopped.expect("the server stops cleanly");
    assert_eq!(v_end, Ended::Closed(Some(1001)));
    assert_eq!(a_end, Ended::Closed(Some(1001)));
}
