//! Every client frame type and the shape of what answers it.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, rest::*, shapes::*, ws::*};

/// A visitor's room, connected, with the welcome and history read.
async fn visitor_in_room(app: &TestApp, name: &str, first: &str) -> (TestRoom, WsClient) {
    let room = app.create_room(name, Some(first)).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;
    (room, visitor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_acks_with_the_engaged_room_then_sends_its_history() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    let (mut agent, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![room.id.clone()]);

    agent.send_json(json!({"type": "accept", "req_id": "a1", "room_id": room.id})).await;
    let ack = agent.wait_for("the accept's answer", |f| f["req_id"] == "a1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_keys(&ack, &["type", "req_id", "room"]);
    assert_room_shape(&ack["room"]);
    assert_eq!(ack["room"]["id"], room.id.as_str());
    assert_eq!(ack["room"]["status"], "engaged");
    assert_eq!(ack["room"]["agent"]["id"], admin.id.as_str());
    assert_eq!(ack["room"]["agent"]["name"], admin.name.as_str());

    // Right after the ack (nothing can come between): the room's history,
    // with the visitor's first message and the join text.
    let history = agent.wait_for_type("history").await;
    assert_keys(&history, &["type", "room_id", "messages", "has_more"]);
    assert_eq!(history["room_id"], room.id.as_str());
    assert_eq!(seqs(&history), vec![1, 2], "{history}");
    assert_eq!(history["has_more"], false);
    let join = &history["messages"][1];
    assert_eq!(join["sender"]["kind"], "system", "{join}");
    assert_eq!(join["content"], format!("{} has entered the chat", admin.name), "{join}");
    // What the history frame carried is not delivered again as events.
    agent.assert_no_frame_of_type("message", Duration::from_millis(500)).await;

    // The visitor sees the room engaged and the join text.
    let updated = visitor.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["status"], "engaged", "{updated}");
    assert_eq!(updated["room"]["agent"]["id"], admin.id.as_str());
    let joined = visitor.messages(&room.id, 1).await;
    assert_eq!(joined[0]["seq"], 2);
    assert_eq!(joined[0]["sender"]["kind"], "system");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_acks_with_nothing_else_and_the_room_stays_queued() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;

    let ack = agent.ack(json!({"type": "decline", "req_id": "d1", "room_id": room.id})).await;
    assert_eq!(ack, json!({"type": "ack", "req_id": "d1"}));
    assert_eq!(app.room(&admin.token, &room.id).await["status"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_acks_with_the_stored_message_and_its_seq() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await; // seq 2: the join text
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.expect_type("history").await;

    let ack = visitor
        .ack(json!({"type": "send", "room_id": room.id, "content": "My order is late", "client_id": "c-1"}))
        .await;
    assert_keys(&ack, &["type", "req_id", "message"]);
    let m = &ack["message"];
    let first_id = m["id"].clone();
    assert_message_shape(m);
    assert_eq!(m["seq"], 3, "{m}");
    assert_eq!(m["client_id"], "c-1");
    assert_eq!(m["content"], "My order is late");
    assert_eq!(m["room_id"], room.id.as_str());
    assert_eq!(m["sender"]["kind"], "visitor");
    assert_eq!(m["sender"]["name"], "Ana");

    // Without a client_id, from the agent's side.
    let ack = agent.ack(json!({"type": "send", "room_id": room.id, "content": "Let me look"})).await;
    let m = &ack["message"];
    assert_message_shape(m);
    assert_eq!(m["seq"], 4, "{m}");
    assert!(m["client_id"].is_null(), "{m}");
    assert_eq!(m["sender"]["kind"], "agent");
    assert_eq!(m["sender"]["id"], admin.id.as_str());

    // A repeated client_id returns the stored message and stores nothing.
    let again = visitor
        .ack(json!({"type": "send", "room_id": room.id, "content": "My order is late", "client_id": "c-1"}))
        .await;
    assert_eq!(again["message"]["seq"], 3, "{again}");
    assert_eq!(again["message"]["id"], first_id, "{again}");
    assert_eq!(app.room(&admin.token, &room.id).await["last_seq"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_relayed_to_the_other_side_only() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.expect_type("history").await;

    let ack = visitor.ack(json!({"type": "typing", "room_id": room.id, "typing": true})).await;
    assert_keys(&ack, &["type", "req_id"]);
    let typing = agent.wait_for_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room_id": room.id, "from": {"kind": "visitor", "name": "Ana"}, "typing": true})
    );

    agent.ack(json!({"type": "typing", "room_id": room.id, "typing": false})).await;
    let typing = visitor.wait_for_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room_id": room.id, "from": {"kind": "agent", "name": admin.name}, "typing": false})
    );

    // Neither hears their own indicator, and nothing was stored.
    visitor.assert_no_frame_of_type("typing", Duration::from_millis(300)).await;
    agent.assert_no_frame_of_type("typing", Duration::from_millis(300)).await;
    assert_eq!(app.room(&admin.token, &room.id).await["last_seq"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typist_whose_connection_drops_stops_typing_at_once() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.expect_type("history").await;
    visitor.ack(json!({"type": "typing", "room_id": room.id, "typing": true})).await;
    assert_eq!(agent.wait_for_type("typing").await["typing"], true);

    // The page closes mid-sentence: no `typing: false` from the client. The
    // gateway says it when the connection ends, well before the indicator
    // would lapse on its own (6 s).
    visitor.close().await;
    let ended = tokio::time::timeout(Duration::from_secs(3), agent.wait_for_type("typing"))
        .await
        .expect("told when the connection ended, not when the indicator lapsed");
    assert_eq!(ended["typing"], false, "{ended}");
    assert_eq!(ended["from"]["kind"], "visitor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_by_before_seq_and_after_seq_oldest_first() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await; // seq 2
    for i in 3..=10 {
        app.sent(&room.visitor_token, &room.id, &format!("m{i}")).await;
    }
    let page = |v: &serde_json::Value| (seqs(v), v["has_more"].clone());
    let r = room.id.as_str();

    let newest = visitor.ack(json!({"type": "history", "room_id": r, "limit": 3})).await;
    assert_keys(&newest, &["type", "req_id", "messages", "has_more"]);
    for m in newest["messages"].as_array().unwrap() {
        assert_message_shape(m);
    }
    assert_eq!(newest["messages"][2]["content"], "m10");
    assert_eq!(page(&newest), (vec![8, 9, 10], json!(true)));
    let before = visitor.ack(json!({"type": "history", "room_id": r, "before_seq": 8, "limit": 3})).await;
    assert_eq!(page(&before), (vec![5, 6, 7], json!(true)));
    let oldest = visitor.ack(json!({"type": "history", "room_id": r, "before_seq": 3, "limit": 5})).await;
    assert_eq!(page(&oldest), (vec![1, 2], json!(false)));
    let after = visitor.ack(json!({"type": "history", "room_id": r, "after_seq": 7, "limit": 2})).await;
    assert_eq!(page(&after), (vec![8, 9], json!(true)));
    let rest = visitor.ack(json!({"type": "history", "room_id": r, "after_seq": 8})).await;
    assert_eq!(page(&rest), (vec![9, 10], json!(false)));
    let none = visitor.ack(json!({"type": "history", "room_id": r, "after_seq": 10})).await;
    assert_eq!(page(&none), (vec![], json!(false)));
    let all = visitor.ack(json!({"type": "history", "room_id": r})).await;
    assert_eq!(page(&all), ((1..=10).collect::<Vec<u64>>(), json!(false)));

    // Both cursors at once is a mistake of the client.
    visitor
        .refused(json!({"type": "history", "room_id": r, "before_seq": 5, "after_seq": 2}), "invalid")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_acks_the_closed_room_and_the_visitor_is_told_with_the_close_message() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.expect_type("history").await;
    visitor.messages(&room.id, 1).await; // the join text

    let ack = agent.ack(json!({"type": "close", "room_id": room.id, "message": "Glad to help, bye!"})).await;
    assert_keys(&ack, &["type", "req_id", "room"]);
    assert_room_shape(&ack["room"]);
    assert_eq!(ack["room"]["status"], "closed", "{ack}");

    let closing = visitor.messages(&room.id, 1).await;
    assert_eq!(closing[0]["seq"], 3);
    assert_eq!(closing[0]["sender"]["kind"], "system");
    assert_eq!(closing[0]["content"], "Glad to help, bye!");
    let closed = visitor.wait_for_type("room_closed").await;
    assert_eq!(
        closed,
        json!({"type": "room_closed", "room_id": room.id, "reason": "closed", "message": "Glad to help, bye!"})
    );
    let updated = visitor
        .wait_for("room_updated closed", |f| f["type"] == "room_updated" && f["room"]["status"] == "closed")
        .await;
    assert_room_shape(&updated["room"]);

    // The agent hears of it too.
    let closed = agent.wait_for_type("room_closed").await;
    assert_eq!(closed["reason"], "closed");
    // A closed room takes no more messages.
    visitor.refused(json!({"type": "send", "room_id": room.id, "content": "wait!"}), "conflict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_to_the_queue_tells_the_visitor_and_offers_the_room_to_agents() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let (room, mut visitor) = visitor_in_room(&app, "Ana", "Hello").await;
    app.accepted(&admin, &room.id).await;
    let (mut agent, _) = app.ws_welcomed(&admin.token).await;
    agent.expect_type("history").await;
    let (mut other, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(welcome["queue"], json!([]));
    visitor.messages(&room.id, 1).await; // the join text
    visitor.wait_for_type("room_updated").await; // engaged

    let ack = agent.ack(json!({"type": "transfer", "room_id": room.id})).await;
    assert_keys(&ack, &["type", "req_id", "room"]);
    assert_eq!(ack["room"]["status"], "queued", "{ack}");
    assert!(ack["room"]["agent"].is_null(), "{ack}");

    let left = visitor.messages(&room.id, 1).await;
    assert_eq!(left[0]["sender"]["kind"], "system");
    assert_eq!(left[0]["content"], format!("{} has left the chat", admin.name));
    let updated = visitor.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["status"], "queued", "{updated}");
    assert!(updated["room"]["agent"].is_null(), "{updated}");

    let queued = other.wait_for_type("room_queued").await;
    assert_keys(&queued, &["type", "room"]);
    assert_room_shape(&queued["room"]);
    assert_eq!(queued["room"]["id"], room.id.as_str());
    assert_eq!(queued["room"]["status"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_pong_and_its_req_id() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let room = app.create_room("Ana", None).await;
    for token in [&admin.token, &room.visitor_token] {
        let (mut c, _) = app.ws_welcomed(token).await;
        let pong = c.request(json!({"type": "ping", "req_id": "p-1"})).await;
        assert_eq!(pong, json!({"type": "pong", "req_id": "p-1"}));
    }
}
