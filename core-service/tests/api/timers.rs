//! Time-driven transitions: idle rooms expire, abandoned rooms go back to the queue.

use std::time::Duration;

use livechat_proto::v1 as pb;
use livechat_proto::v1::event::Kind;
use pb::{RoomStatus, SenderKind};

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_queued_room_expires_and_its_visitor_is_told() {
    let app = spawn_core().await;
    app.update_settings(pb::UpdateSettingsRequest { room_idle_timeout_secs: Some(5), ..Default::default() })
        .await;
    let (room, visitor) = app.create_room("Yan", Some("hello?")).await;
    let mut visitor_events = app.subscribe(&visitor).await;

    // Before the deadline, 5 s after the last message, nothing happens...
    app.advance_clock(Duration::from_secs(3)).await;
    let seen = visitor_events.collect_for(Duration::from_millis(300)).await;
    assert!(!seen.iter().any(|k| matches!(k, Kind::RoomClosed(_))), "expired too early: {seen:#?}");
    // ...and once it has passed, the timers' next round expires the room.
    app.advance_clock(Duration::from_secs(3)).await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match visitor_events.next(Duration::from_secs(15)).await {
                Kind::RoomClosed(c) if c.room_id == room.id => return c,
                _ => {}
            }
        }
    })
    .await
    .expect("the visitor was not told of the expiry");
    assert_eq!(end.reason, "expired");

    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(r.status(), RoomStatus::Expired);
    expect_err(app.try_send(&visitor, &room.id, "still there?", None).await, "conflict");
    expect_err(app.try_accept(&app.admin_token(), &room.id).await, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_with_recent_messages_does_not_expire() {
    let app = spawn_core().await;
    app.update_settings(pb::UpdateSettingsRequest { room_idle_timeout_secs: Some(5), ..Default::default() })
        .await;
    let (room, visitor) = app.create_room("Zed", Some("hello?")).await;
    // A message every 1.5 s for 7.5 s: never 5 s of silence, though the
    // room is older than that (the timers run after every step).
    for i in 0..5 {
        app.advance_clock(Duration::from_millis(1500)).await;
        app.send(&visitor, &room.id, &format!("ping {i}")).await;
    }
    app.advance_clock(Duration::from_millis(1500)).await;
    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(r.status(), RoomStatus::Queued, "the room expired although it was not idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_gone_past_the_grace_period_gives_the_room_back_to_the_queue() {
    let app = spawn_core().await;
    app.update_settings(pb::UpdateSettingsRequest { agent_grace_secs: Some(1), ..Default::default() }).await;
    let leaver = app.create_agent_full("agent").await;
    let other = app.create_agent_full("agent").await;
    let (room, visitor) = app.create_room("Abe", Some("help")).await;

    let leaver_events = app.subscribe(&leaver.token).await;
    app.accept(&leaver.token, &room.id).await;
    let mut visitor_events = app.subscribe(&visitor).await;
    let mut other_events = app.subscribe(&other.token).await;
    assert!(
        other_events.snapshot.queue.iter().all(|r| r.id != room.id),
        "an engaged room is not in the queue"
    );

    // The agent's only connection drops, and the grace passes.
    drop(leaver_events);
    app.advance_clock(Duration::from_secs(2)).await;

    let leave = visitor_events.message(&room.id, 3).await;
    assert_eq!(sender_kind(&leave), SenderKind::System);
    assert_eq!(leave.content, format!("{} has left the chat", leaver.name));
    let updated = visitor_events.room_updated(&room.id, RoomStatus::Queued).await;
    assert_eq!(updated.agent, None);
    let requeued = other_events.room_queued(&room.id).await;
    assert_eq!(requeued.status(), RoomStatus::Queued);

    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!((r.status(), r.agent), (RoomStatus::Queued, None));
    // And someone else can take it.
    app.accept(&other.token, &room.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_reconnects_within_the_grace_period_keeps_the_room() {
    let app = spawn_core().await;
    app.update_settings(pb::UpdateSettingsRequest { agent_grace_secs: Some(3), ..Default::default() }).await;
    let agent = app.create_agent_full("agent").await;
    let (room, visitor) = app.create_room("Bea", Some("help")).await;
    let first = app.subscribe(&agent.token).await;
    app.accept(&agent.token, &room.id).await;
    let mut visitor_events = app.subscribe(&visitor).await;

    drop(first);
    // Long enough for the core to see the stream end: a real page reload.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = app.subscribe(&agent.token).await;
    assert!(
        second.snapshot.rooms.iter().any(|r| r.id == room.id),
        "the agent's engaged room is in their snapshot: {:?}",
        second.snapshot
    );

    // Well past the grace period.
    app.advance_clock(Duration::from_secs(5)).await;
    let seen = visitor_events.collect_for(Duration::from_millis(500)).await;
    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(r.status(), RoomStatus::Engaged, "events the visitor saw: {seen:#?}");
    assert_eq!(r.agent.as_ref().unwrap().id, agent.id);
    assert!(
        !seen.iter().any(|k| matches!(k, Kind::Message(_) | Kind::RoomUpdated(_))),
        "the visitor must see no leave message or requeue: {seen:#?}"
    );
    assert_eq!(r.last_seq, 2);
    drop(second);
}
