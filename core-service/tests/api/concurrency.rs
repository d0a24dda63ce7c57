//! Races: many agents accepting one room, many senders writing into one room.

use std::collections::HashSet;
use std::sync::Arc;

use livechat_proto::v1 as pb;
use pb::{RoomStatus, SenderKind};

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_of_fifty_concurrent_accepts_wins_and_the_rest_get_conflict() {
    let app = Arc::new(spawn_core().await);
    let agents = app.create_agents("agent", 50).await;
    let ids: HashSet<_> = agents.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids.len(), 50, "agents must be distinct");
    let (room, visitor) = app.create_room("Gus", Some("anyone?")).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(agents.len()));
    let tasks: Vec<_> = agents
        .iter()
        .map(|a| {
            let app = app.clone();
            let barrier = barrier.clone();
            let token = a.token.clone();
            let room_id = room.id.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                app.try_accept(&token, &room_id).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for (agent, task) in agents.iter().zip(tasks) {
        match task.await.unwrap() {
            Ok(r) => winners.push((agent.id.clone(), r)),
            Err(s) => {
                expect_err::<()>(Err(s), "conflict");
                conflicts += 1;
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one accept must win: {winners:#?}");
    assert_eq!(conflicts, 49);
    let (winner_id, won) = &winners[0];
    assert_eq!(won.status(), RoomStatus::Engaged);
    assert_eq!(&won.agent.as_ref().unwrap().id, winner_id);

    let now = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!(now.status(), RoomStatus::Engaged);
    assert_eq!(&now.agent.as_ref().unwrap().id, winner_id);
    // One join message, not one per attempt.
    let history = app.all_messages(&visitor, &room.id).await;
    assert_eq!(seqs(&history), vec![1, 2], "{history:#?}");
    assert_eq!(sender_kind(&history[1]), SenderKind::System);
}

/// An engaged room (first message seq 1, join message seq 2) with its
/// visitor's and agent's tokens.
async fn engaged_room(app: &CoreApp) -> (pb::Room, String, String) {
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Hal", Some("first")).await;
    app.accept(&admin, &room.id).await;
    (room, visitor, admin)
}

/// 100 sends from each side, all at once. Returns every send's message.
async fn two_hundred_concurrent_sends(
    app: &Arc<CoreApp>,
    room_id: &str,
    visitor: &str,
    agent: &str,
) -> Vec<pb::Message> {
    let mut tasks = Vec::new();
    for i in 0..100 {
        for (who, token) in [("v", visitor), ("a", agent)] {
            let app = app.clone();
            let token = token.to_string();
            let room_id = room_id.to_string();
            tasks.push(tokio::spawn(async move {
                let content = format!("{who}-{i}");
                let started = std::time::Instant::now();
                let r = app
                    .try_send(&token, &room_id, &content, None)
                    .await
                    .unwrap_or_else(|s| panic!("send {content} failed after {:?}: {s:?}", started.elapsed()));
                assert!(r.created);
                let m = r.message.unwrap();
                assert_eq!(m.content, content);
                m
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sends_get_unique_gapless_seqs() {
    let app = Arc::new(spawn_core().await);
    let (room, visitor, agent) = engaged_room(&app).await;

    let sent = two_hundred_concurrent_sends(&app, &room.id, &visitor, &agent).await;
    let returned: HashSet<u64> = sent.iter().map(|m| m.seq).collect();
    assert_eq!(returned.len(), 200, "every send must get its own seq");
    assert_eq!(returned, (3..=202).collect::<HashSet<u64>>());
    let ids: HashSet<&str> = sent.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 200);

    let history = app.all_messages(&visitor, &room.id).await;
    assert_eq!(
        seqs(&history),
        (1..=202).collect::<Vec<u64>>(),
        "history must be 1..=202 with no gap or repeat"
    );
    let count = |k: SenderKind| history.iter().filter(|m| sender_kind(m) == k).count();
    assert_eq!(count(SenderKind::Visitor), 101);
    assert_eq!(count(SenderKind::Agent), 100);
    assert_eq!(count(SenderKind::System), 1);
    let contents: HashSet<&str> = history.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents.len(), 202, "each message stored once");
    // What a sender was told is what history holds.
    for m in &sent {
        assert_eq!(&history[(m.seq - 1) as usize], m);
    }
    assert_eq!(app.get_room(&visitor, &room.id).await.unwrap().last_seq, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_reach_a_subscriber_once_each_in_seq_order() {
    let app = Arc::new(spawn_core().await);
    let (room, visitor, agent) = engaged_room(&app).await;
    let mut visitor_events = app.subscribe(&visitor).await;

    two_hundred_concurrent_sends(&app, &room.id, &visitor, &agent).await;
    let seen = seqs(&visitor_events.messages_through(&room.id, 202).await);
    let inversions: Vec<(u64, u64)> =
        seen.windows(2).filter(|w| w[1] != w[0] + 1).map(|w| (w[0], w[1])).collect();
    assert!(
        inversions.is_empty(),
        "events must arrive once each in seq order; consecutive pairs out of order: {inversions:?}; all: {seen:?}"
    );
    assert_eq!(seen, (3..=202).collect::<Vec<u64>>());
}

/// Sends into thirty rooms at once (stored in shared batches: the SQLite
/// writer's, PostgreSQL's group commit): new messages, retries of a
/// client_id already stored, and sends into a closed room each get their
/// own answer, and no room is left with a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_into_many_rooms_at_once_mixing_retries_and_a_closed_room_each_get_their_answer() {
    let app = Arc::new(spawn_core().await);
    let mut rooms = Vec::new();
    for _ in 0..30 {
        let (room, visitor, admin) = engaged_room(&app).await;
        let first = app.try_send(&visitor, &room.id, "first try", Some("once")).await.unwrap();
        assert!(first.created);
        rooms.push((room, visitor, admin, first.message.unwrap()));
    }
    let (closed, closed_visitor, admin, _) = rooms.pop().unwrap();
    app.close(&admin, &closed.id, None).await;

    let mut tasks = Vec::new();
    for (room, visitor, admin, _) in &rooms {
        for (token, content, client_id) in [
            (visitor, "retry", Some("once")),
            (admin, "new from the agent", Some("fresh")),
            (visitor, "plain", None),
        ] {
            let (app, token, room_id) = (app.clone(), token.clone(), room.id.clone());
            tasks.push(tokio::spawn(async move { app.try_send(&token, &room_id, content, client_id).await }));
        }
    }
    let refused = {
        let (app, room_id) = (app.clone(), closed.id.clone());
        tokio::spawn(async move { app.try_send(&closed_visitor, &room_id, "too late", Some("late")).await })
    };
    let answers: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    expect_err::<()>(refused.await.unwrap().map(|_| ()), "conflict");

    for ((room, visitor, _, first), answers) in rooms.iter().zip(answers.chunks(3)) {
        let retry = answers[0].as_ref().expect("a retry is answered");
        assert!(!retry.created, "a retry must not store a second message");
        assert_eq!(retry.message.as_ref(), Some(first), "a retry gets the stored message back");
        for fresh in &answers[1..] {
            assert!(fresh.as_ref().expect("a new send is stored").created);
        }
        let history = app.all_messages(visitor, &room.id).await;
        assert_eq!(seqs(&history), (1..=5).collect::<Vec<u64>>(), "room {}: {history:#?}", room.id);
        assert_eq!(history.iter().filter(|m| m.content == "first try").count(), 1);
        assert_eq!(app.get_room(visitor, &room.id).await.unwrap().last_seq, 5);
    }
    let closed_history = app.all_messages(&admin, &closed.id).await;
    assert!(closed_history.iter().all(|m| m.content != "too late"));
}
