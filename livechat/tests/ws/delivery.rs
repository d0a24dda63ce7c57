//! Messages as events: each connection that should see one sees it once,
//! in seq order, its own included; a reconnecting client fills what it
//! missed with `history` after_seq, exactly.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use livechat_test_support::*;
use livechat_test_support::{app::*, rest::*, shapes::*, ws::*};

/// A room with the visitor's first message (seq 1) accepted by the admin
/// (seq 2), and both sides connected with welcome and history read.
async fn chatting(app: &TestApp) -> (TestRoom, TestAgent, WsClient, WsClient) {
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    app.accepted(&admin, &room.id).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    let h = visitor.expect_type("history").await;
    assert_eq!(seqs(&h), vec![1, 2]);
    let (mut agent, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["rooms"]), vec![room.id.clone()]);
    let h = agent.expect_type("history").await;
    assert_eq!(seqs(&h), vec![1, 2]);
    (room, admin, visitor, agent)
}

/// Sends `n` frames back to back, then reads their acks; the acked seqs.
async fn send_burst(c: &mut WsClient, room_id: &str, who: &str, n: usize) -> Vec<u64> {
    for i in 0..n {
        c.send_json(json!({"type": "send", "req_id": format!("{who}-{i}"), "room_id": room_id,
                           "content": format!("{who} says {i}"), "client_id": format!("{who}-{i}")}))
            .await;
    }
    let mut acked = Vec::new();
    for i in 0..n {
        let req = format!("{who}-{i}");
        let ack = c.wait_for(&format!("the ack of {req}"), |f| f["req_id"] == req.as_str()).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["message"]["client_id"], req.as_str());
        acked.push(ack["message"]["seq"].as_u64().unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_sides_receive_every_message_once_in_seq_order_their_own_included() {
    let app = spawn_app_without_limits().await;
    let (room, admin, mut visitor, mut agent) = chatting(&app).await;
    // The agent's second tab, which sends nothing, stays in step too.
    let (mut agent_tab, _) = app.ws_welcomed(&admin.token).await;
    assert_eq!(seqs(&agent_tab.expect_type("history").await), vec![1, 2]);
    const EACH: usize = 8;

    let (v_acked, a_acked) = tokio::join!(
        send_burst(&mut visitor, &room.id, "visitor", EACH),
        send_burst(&mut agent, &room.id, "agent", EACH),
    );
    for acked in [&v_acked, &a_acked] {
        assert!(acked.windows(2).all(|w| w[0] < w[1]), "one sender's seqs rise: {acked:?}");
    }
    let all: HashSet<u64> = v_acked.iter().chain(&a_acked).copied().collect();
    let expected: HashSet<u64> = (3..3 + 2 * EACH as u64).collect();
    assert_eq!(all, expected, "seqs without gaps or duplicates");

    for (side, c) in [("visitor", &mut visitor), ("agent", &mut agent), ("agent's other tab", &mut agent_tab)]
    {
        let got = c.messages(&room.id, 2 * EACH).await;
        let s = seqs_of(&got);
        assert_eq!(
            s,
            (3..3 + 2 * EACH as u64).collect::<Vec<u64>>(),
            "the {side} gets each message once, in seq order"
        );
        for m in &got {
            assert_message_shape(m);
            let cid = m["client_id"].as_str().unwrap();
            let kind = if cid.starts_with("visitor") { "visitor" } else { "agent" };
            assert_eq!(m["sender"]["kind"], kind, "{m}");
            assert_eq!(m["content"], format!("{kind} says {}", &cid[kind.len() + 1..]));
        }
        c.assert_no_frame_of_type("message", Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_back_from_a_disconnect_fills_exactly_the_missed_messages_with_after_seq() {
    let app = spawn_app_without_limits().await;
    let (room, _admin, mut visitor, mut agent) = chatting(&app).await;

    agent.ack(json!({"type": "send", "room_id": room.id, "content": "Are you there?"})).await;
    let seen = visitor.messages(&room.id, 1).await;
    let last_seen = seen[0]["seq"].as_u64().unwrap();
    assert_eq!(last_seen, 3);
    visitor.close().await;

    for i in 1..=5 {
        agent.ack(json!({"type": "send", "room_id": room.id, "content": format!("missed {i}")})).await;
    }

    let (mut visitor, welcome) = app.ws_welcomed(&room.visitor_token).await;
    assert_eq!(welcome["role"], "visitor");
    let history = visitor.expect_type("history").await;
    assert_eq!(seqs(&history), (1..=8).collect::<Vec<u64>>(), "{history}");

    let filled = visitor.ack(json!({"type": "history", "room_id": room.id, "after_seq": last_seen})).await;
    assert_eq!(seqs(&filled), vec![4, 5, 6, 7, 8], "{filled}");
    assert_eq!(filled["has_more"], false);
    let contents: Vec<&str> =
        filled["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["missed 1", "missed 2", "missed 3", "missed 4", "missed 5"]);
    // Paging after_seq in small steps gets the same, none twice.
    let mut paged: Vec<u64> = Vec::new();
    let mut after = last_seen;
    loop {
        let page =
            visitor.ack(json!({"type": "history", "room_id": room.id, "after_seq": after, "limit": 2})).await;
        let s = seqs(&page);
        paged.extend(&s);
        match s.last() {
            Some(l) => after = *l,
            None => break,
        }
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!(paged, vec![4, 5, 6, 7, 8]);

    // What came in the history frame is not delivered again as events,
    // and the next message arrives once.
    visitor.assert_no_frame_of_type("message", Duration::from_millis(300)).await;
    agent.ack(json!({"type": "send", "room_id": room.id, "content": "welcome back"})).await;
    let next = visitor.messages(&room.id, 1).await;
    assert_eq!(next[0]["seq"], 9);
    visitor.assert_no_frame_of_type("message", Duration::from_millis(300)).await;
}
