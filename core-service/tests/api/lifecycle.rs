//! A room from the visitor's request to its close, as both sides see it.

use std::time::Duration;

use livechat_proto::v1 as pb;
use livechat_proto::v1::event::Kind;
use pb::{RoomStatus, SenderKind};

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_goes_from_request_to_close_with_both_sides_seeing_every_message() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    let observer = app.create_agent_full("agent").await;

    // Agents connect before anything is queued.
    let mut agent_events = app.subscribe(&agent.token).await;
    assert_eq!(agent_events.snapshot.role, "agent");
    assert_eq!(agent_events.snapshot.user.as_ref().unwrap().id, agent.id);
    assert_eq!(agent_events.snapshot.user.as_ref().unwrap().name, agent.name);
    assert!(agent_events.snapshot.rooms.is_empty(), "{:?}", agent_events.snapshot);
    assert!(agent_events.snapshot.queue.is_empty(), "{:?}", agent_events.snapshot);
    let mut observer_events = app.subscribe(&observer.token).await;

    // The visitor requests an agent with a first question.
    let (room, visitor) = app.create_room("Ana", Some("Hello, my order is late")).await;
    assert_eq!(room.status(), RoomStatus::Queued);
    assert_eq!(room.channel(), pb::Channel::Web);
    assert_eq!(room.visitor.as_ref().unwrap().name, "Ana");
    assert_eq!(room.agent, None);
    assert_eq!(room.subject.as_deref(), Some("Hello, my order is late"));
    assert_eq!(room.last_seq, 1);
    let visitor_id = room.visitor.as_ref().unwrap().id.clone();

    let mut visitor_events = app.subscribe(&visitor).await;
    assert_eq!(visitor_events.snapshot.role, "visitor");
    assert_eq!(visitor_events.snapshot.user.as_ref().unwrap().id, visitor_id);
    assert_eq!(visitor_events.snapshot.rooms.len(), 1);
    assert_eq!(visitor_events.snapshot.rooms[0].id, room.id);
    assert!(visitor_events.snapshot.queue.is_empty());

    let queued = agent_events.room_queued(&room.id).await;
    assert_eq!(queued.status(), RoomStatus::Queued);
    assert_eq!(queued.visitor.as_ref().unwrap().name, "Ana");
    observer_events.room_queued(&room.id).await;

    // The first message is in history as seq 1, from the visitor.
    let first = app.history(&visitor, &room.id, None, None, None).await.messages;
    assert_eq!(seqs(&first), vec![1]);
    assert_eq!(first[0].content, "Hello, my order is late");
    assert_eq!(sender_kind(&first[0]), SenderKind::Visitor);

    // Accept.
    let engaged = app.accept(&agent.token, &room.id).await;
    assert_eq!(engaged.status(), RoomStatus::Engaged);
    assert_eq!(engaged.agent.as_ref().unwrap().id, agent.id);
    assert_eq!(engaged.agent.as_ref().unwrap().name, agent.name);

    let join_text = format!("{} has entered the chat", agent.name);
    for (who, events) in [("visitor", &mut visitor_events), ("agent", &mut agent_events)] {
        let join = events.message(&room.id, 2).await;
        assert_eq!(sender_kind(&join), SenderKind::System, "{who}: {join:?}");
        assert_eq!(join.content, join_text, "{who}");
    }
    let updated = visitor_events.room_updated(&room.id, RoomStatus::Engaged).await;
    assert_eq!(updated.agent.as_ref().unwrap().id, agent.id);
    let taken = observer_events.room_taken(&room.id).await;
    assert_eq!(taken.agent.as_ref().unwrap().id, agent.id);

    // Messages both ways; each side sees all of them, in seq order.
    let v1 = app.send(&visitor, &room.id, "It was due on Monday").await;
    let a1 = app.send(&agent.token, &room.id, "Let me check that for you").await;
    let v2 = app.send(&visitor, &room.id, "Order 1234").await;
    let a2 = app.send(&agent.token, &room.id, "Found it").await;
    assert_eq!(seqs(&[v1.clone(), a1.clone(), v2.clone(), a2.clone()]), vec![3, 4, 5, 6]);
    assert_eq!(sender_kind(&v1), SenderKind::Visitor);
    assert_eq!(sender_id(&v1), visitor_id);
    assert_eq!(v1.sender.as_ref().unwrap().name, "Ana");
    assert_eq!(sender_kind(&a1), SenderKind::Agent);
    assert_eq!(sender_id(&a1), agent.id);
    assert_eq!(a1.sender.as_ref().unwrap().name, agent.name);
    for (who, events) in [("visitor", &mut visitor_events), ("agent", &mut agent_events)] {
        let seen = events.messages_through(&room.id, 6).await;
        assert_eq!(seqs(&seen), vec![3, 4, 5, 6], "{who} saw {seen:#?}");
        assert_eq!(seen[0].content, "It was due on Monday", "{who}");
        assert_eq!(seen[1].content, "Let me check that for you", "{who}");
        assert_eq!(seen[1].id, a1.id, "{who}");
    }
    // The observer is not part of the room.
    let leaked: Vec<Kind> = observer_events
        .collect_for(std::time::Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|k| matches!(k, Kind::Message(_)))
        .collect();
    assert!(leaked.is_empty(), "an agent outside the room got its messages: {leaked:?}");

    // Four more, to have ten messages to page through.
    for i in 7..=10 {
        let m = app.send(&visitor, &room.id, &format!("line {i}")).await;
        assert_eq!(m.seq, i);
    }
    assert_eq!(app.get_room(&agent.token, &room.id).await.unwrap().last_seq, 10);

    // History pages, always oldest first.
    let page = |before: Option<u64>, after: Option<u64>, limit: Option<u32>| {
        let app = &app;
        let token = agent.token.clone();
        let room_id = room.id.clone();
        async move {
            let p = app.history(&token, &room_id, before, after, limit).await;
            (seqs(&p.messages), p.has_more)
        }
    };
    assert_eq!(page(None, None, Some(4)).await, (vec![7, 8, 9, 10], true), "newest 4");
    assert_eq!(page(Some(7), None, Some(4)).await, (vec![3, 4, 5, 6], true), "before 7");
    assert_eq!(page(Some(5), None, Some(4)).await, (vec![1, 2, 3, 4], false), "before 5: none older");
    assert_eq!(page(Some(3), None, Some(4)).await, (vec![1, 2], false), "before 3");
    assert_eq!(page(None, Some(0), Some(4)).await, (vec![1, 2, 3, 4], true), "after 0");
    assert_eq!(page(None, Some(4), Some(4)).await, (vec![5, 6, 7, 8], true), "after 4");
    assert_eq!(page(None, Some(6), Some(4)).await, (vec![7, 8, 9, 10], false), "after 6: none newer");
    assert_eq!(page(None, Some(8), Some(4)).await, (vec![9, 10], false), "after 8");
    assert_eq!(page(None, Some(10), Some(4)).await, (vec![], false), "after the newest");
    assert_eq!(page(None, None, None).await, ((1..=10).collect(), false), "default limit 20");
    // The visitor reads the same history.
    let agent_view = app.all_messages(&agent.token, &room.id).await;
    let visitor_view = app.all_messages(&visitor, &room.id).await;
    assert_eq!(agent_view, visitor_view);

    // Close with the agent's own text.
    let closed = app.close(&agent.token, &room.id, Some("Solved, have a nice day")).await;
    assert_eq!(closed.status(), RoomStatus::Closed);
    assert_eq!(closed.end_message.as_deref(), Some("Solved, have a nice day"));
    let end = visitor_events.room_closed(&room.id).await;
    assert_eq!(end.reason, "closed");
    assert_eq!(end.message, "Solved, have a nice day");
    let close_msg = visitor_events.message(&room.id, 11).await;
    assert_eq!(sender_kind(&close_msg), SenderKind::System);
    assert_eq!(close_msg.content, "Solved, have a nice day");
    assert_eq!(agent_events.room_closed(&room.id).await.reason, "closed");

    // Nothing can be said in a closed room.
    expect_err(app.try_send(&visitor, &room.id, "hello?", None).await, "conflict");
    expect_err(app.try_send(&agent.token, &room.id, "hello?", None).await, "conflict");
    let after = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(after.status(), RoomStatus::Closed);
    assert_eq!(after.last_seq, 11);
    assert_eq!(app.all_messages(&visitor, &room.id).await.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_without_text_uses_the_close_message_setting() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Bo", None).await;
    assert_eq!(room.last_seq, 0);
    assert_eq!(room.subject, None);
    app.accept(&admin, &room.id).await;
    let mut visitor_events = app.subscribe(&visitor).await;

    let closed = app.close(&admin, &room.id, None).await;
    assert_eq!(closed.status(), RoomStatus::Closed);
    let end = visitor_events.room_closed(&room.id).await;
    assert_eq!(end.reason, "closed");
    assert_eq!(end.message, "This chat has been closed. Thank you!");
    let last = app.all_messages(&visitor, &room.id).await.pop().unwrap();
    assert_eq!(sender_kind(&last), SenderKind::System);
    assert_eq!(last.content, "This chat has been closed. Thank you!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_room_cannot_be_accepted_again() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, _visitor) = app.create_room("Cy", Some("hi")).await;
    app.accept(&admin, &room.id).await;
    expect_err(app.try_accept(&admin, &room.id).await, "conflict");
    app.close(&admin, &room.id, None).await;
    expect_err(app.try_accept(&admin, &room.id).await, "conflict");
    assert_eq!(app.get_room(&admin, &room.id).await.unwrap().status(), RoomStatus::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_can_write_while_waiting_in_the_queue() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Di", Some("first")).await;
    let m = app.send(&visitor, &room.id, "are you there?").await;
    assert_eq!(m.seq, 2);
    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!((r.status(), r.last_seq), (RoomStatus::Queued, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transferring_to_nobody_gives_the_room_back_to_the_queue() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Ed", Some("hi")).await;
    app.accept(&admin, &room.id).await;
    let mut admin_events = app.subscribe(&admin).await;
    let mut visitor_events = app.subscribe(&visitor).await;

    let back = ok(
        app.rooms(&admin)
            .transfer_room(pb::TransferRoomRequest { room_id: room.id.clone(), agent_id: None })
            .await,
        "TransferRoom",
    );
    assert_eq!(back.status(), RoomStatus::Queued);
    assert_eq!(back.agent, None);

    let leave = visitor_events.message(&room.id, 3).await;
    assert_eq!(sender_kind(&leave), SenderKind::System);
    assert_eq!(leave.content, format!("{} has left the chat", app.admin.name));
    let updated = visitor_events.room_updated(&room.id, RoomStatus::Queued).await;
    assert_eq!(updated.agent, None);
    admin_events.room_queued(&room.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_relayed_to_the_other_side() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Flo", Some("hi")).await;
    app.accept(&admin, &room.id).await;
    let mut admin_events = app.subscribe(&admin).await;

    ok(
        app.messages(&visitor)
            .set_typing(pb::SetTypingRequest { room_id: room.id.clone(), typing: true })
            .await,
        "SetTyping",
    );
    let typing = admin_events
        .wait_for("Typing from the visitor", |k| match k {
            Kind::Typing(t) if t.room_id == room.id => Some(t.clone()),
            _ => None,
        })
        .await;
    assert!(typing.typing);
    let from = typing.from.unwrap();
    assert_eq!(from.kind(), SenderKind::Visitor);
    assert_eq!(from.name, "Flo");
    // Typing is never stored.
    assert_eq!(app.get_room(&admin, &room.id).await.unwrap().last_seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_limit_outside_1_to_500_is_invalid() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Gwen", Some("hi")).await;
    for limit in [0, 501] {
        let status =
            expect_err(app.try_history(&visitor, &room.id, None, None, Some(limit)).await, "invalid");
        assert!(detail(&status).errors.iter().any(|e| e.field == "limit"), "{status:?}");
    }
    let page = app.history(&visitor, &room.id, None, None, Some(500)).await;
    assert_eq!(seqs(&page.messages), vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_claim_a_messenger_customer_by_creating_their_room() {
    let app = spawn_core().await;
    for (channel, external_id) in
        [(pb::Channel::Telegram, Some("42")), (pb::Channel::Web, Some("42")), (pb::Channel::Wechat, None)]
    {
        let refused = app
            .rooms(NO_TOKEN)
            .create_room(pb::CreateRoomRequest {
                name: "Mallory".into(),
                channel: channel.into(),
                external_id: external_id.map(str::to_string),
                ..Default::default()
            })
            .await
            .expect_err("only the core opens a messenger customer's room");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{channel:?}: {refused:?}");
    }
}

/// The next typing flag `events` show for `room_id`.
async fn next_typing(events: &mut Events, room_id: &str) -> bool {
    events
        .wait_for("Typing", |k| match k {
            Kind::Typing(t) if t.room_id == room_id => Some(t.typing),
            _ => None,
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_indicator_that_is_not_repeated_ends_by_itself() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Gus", Some("hi")).await;
    app.accept(&admin, &room.id).await;
    let mut admin_events = app.subscribe(&admin).await;
    ok(
        app.messages(&visitor)
            .set_typing(pb::SetTypingRequest { room_id: room.id.clone(), typing: true })
            .await,
        "SetTyping",
    );
    assert!(next_typing(&mut admin_events, &room.id).await);
    // The visitor's page went away without a `typing: false`: a few
    // seconds later the core says it for them, once.
    app.advance_clock(Duration::from_secs(7)).await;
    assert!(!next_typing(&mut admin_events, &room.id).await, "the indicator lapsed");
    app.advance_clock(Duration::from_secs(7)).await;
    let again = admin_events.collect_for(Duration::from_millis(300)).await;
    assert!(!again.iter().any(|k| matches!(k, Kind::Typing(_))), "told once: {again:#?}");
}
