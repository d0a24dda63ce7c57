//! Declining: a room one agent passed on stays for the others.

use livechat_proto::v1 as pb;
use pb::RoomStatus;

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_room_is_not_offered_again_but_another_agent_can_accept_it() {
    let app = spawn_core().await;
    let a = app.create_agent_full("agent").await;
    let b = app.create_agent_full("agent").await;
    let (room, visitor) = app.create_room("Eve", Some("hi")).await;
    // Distinct creation times, so that "oldest first" has one answer.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (other_room, _) = app.create_room("Fay", Some("hi too")).await;

    let before = app.subscribe(&a.token).await;
    let queue: Vec<_> = before.snapshot.queue.iter().map(|r| r.id.clone()).collect();
    assert_eq!(queue, vec![room.id.clone(), other_room.id.clone()], "oldest first");
    drop(before);

    ok(app.rooms(&a.token).decline_room(pb::RoomRequest { room_id: room.id.clone() }).await, "DeclineRoom");
    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(r.status(), RoomStatus::Queued, "declining leaves the room queued");

    let after = app.subscribe(&a.token).await;
    let queue: Vec<_> = after.snapshot.queue.iter().map(|r| r.id.clone()).collect();
    assert_eq!(queue, vec![other_room.id.clone()], "the declined room is not offered again");

    let b_events = app.subscribe(&b.token).await;
    assert!(b_events.snapshot.queue.iter().any(|r| r.id == room.id), "{:?}", b_events.snapshot);
    let taken = app.accept(&b.token, &room.id).await;
    assert_eq!(taken.agent.unwrap().id, b.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_declined_gets_no_queue_events_for_that_room() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, _visitor) = app.create_room("Gil", Some("hi")).await;
    ok(app.rooms(&admin).decline_room(pb::RoomRequest { room_id: room.id.clone() }).await, "DeclineRoom");
    let mut admin_events = app.subscribe(&admin).await;
    assert!(admin_events.snapshot.queue.is_empty(), "{:?}", admin_events.snapshot);

    // A new room still reaches them; the taken declined room does not.
    let (fresh, _) = app.create_room("Hap", None).await;
    admin_events.room_queued(&fresh.id).await;
    let agent = app.create_agent_full("agent").await;
    app.accept(&agent.token, &room.id).await;
    let seen = admin_events.collect_for(std::time::Duration::from_millis(500)).await;
    assert!(
        !seen.iter().any(|k| matches!(k, pb::event::Kind::RoomTaken(t) if t.room_id == room.id)),
        "{seen:#?}"
    );
}
