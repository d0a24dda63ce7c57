//! A room's whole life through REST.

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn a_room_goes_from_request_to_close_through_rest() {
    let app = spawn_app().await;
    let bea = app.create_agent("agent").await;

    // The visitor requests an agent.
    let r = app
        .post(
            "/rooms",
            None,
            json!({"name": "Ana", "email": "ana@example.com", "message": "My order is late"}),
        )
        .await;
    let created = r.json(201).clone();
    assert_keys(&created, &["room", "visitor_token"]);
    let room = &created["room"];
    assert_room_shape(room);
    assert_eq!(room["status"], "queued");
    assert_eq!(room["channel"], "web");
    assert_eq!(room["visitor"]["name"], "Ana");
    assert!(room["agent"].is_null(), "a queued room has no agent: {room}");
    assert_eq!(room["last_seq"], 1, "the first message is seq 1: {room}");
    let room_id = room["id"].as_str().unwrap().to_string();
    let visitor = created["visitor_token"].as_str().unwrap().to_string();

    let page = app.history(&visitor, &room_id, "").await;
    let page = page.json(200);
    assert_keys(page, &["messages", "has_more"]);
    assert_eq!(seqs(page), vec![1]);
    let first = &page["messages"][0];
    assert_message_shape(first);
    assert_eq!(first["content"], "My order is late");
    assert_eq!(first["sender"]["kind"], "visitor");
    assert_eq!(first["room_id"], room_id.as_str());
    assert_eq!(page["has_more"], false);

    // The agent sees it in the queue.
    let queue = app.list_rooms(&bea.token, "status=queued").await;
    let queue = queue.json(200);
    assert_keys(queue, &["rooms"]);
    assert!(room_ids(queue).contains(&room_id), "queue: {queue}");
    for r in queue["rooms"].as_array().unwrap() {
        assert_room_shape(r);
        assert_eq!(r["status"], "queued");
    }

    // Accept.
    let r = app.accept(&bea.token, &room_id).await;
    let engaged = r.json(200);
    assert_room_shape(engaged);
    assert_eq!(engaged["status"], "engaged");
    assert_eq!(engaged["agent"]["id"], bea.id.as_str());
    assert_eq!(engaged["agent"]["name"], bea.name.as_str());
    let r = app.get_room(&visitor, &room_id).await;
    assert_eq!(r.json(200)["status"], "engaged");
    let queue = app.list_rooms(&bea.token, "status=queued").await;
    assert!(!room_ids(queue.json(200)).contains(&room_id), "an engaged room left the queue");

    // They talk.
    let r = app.send(&visitor, &room_id, "Order 1234", None).await;
    let v_msg = r.json(201).clone();
    assert_message_shape(&v_msg);
    assert_eq!(v_msg["sender"]["kind"], "visitor");
    assert_eq!(v_msg["content"], "Order 1234");
    let r = app.send(&bea.token, &room_id, "Let me check", Some("a-1")).await;
    let a_msg = r.json(201).clone();
    assert_message_shape(&a_msg);
    assert_eq!(a_msg["sender"]["kind"], "agent");
    assert_eq!(a_msg["sender"]["id"], bea.id.as_str());
    assert_eq!(a_msg["client_id"], "a-1");
    assert!(a_msg["seq"].as_u64() > v_msg["seq"].as_u64());

    // History: oldest first, seqs without gaps, both sides see the same.
    let page = app.history(&bea.token, &room_id, "").await.json(200).clone();
    let s = seqs(&page);
    let n = s.len() as u64;
    assert_eq!(s, (1..=n).collect::<Vec<_>>(), "seqs 1..n oldest first: {page}");
    let contents: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents.first(), Some(&"My order is late"));
    assert_eq!(&contents[contents.len() - 2..], &["Order 1234", "Let me check"]);
    // The join text is a system message between the first question and the reply.
    let join = &page["messages"][1];
    assert_eq!(join["sender"]["kind"], "system", "accept stores the join text: {page}");
    assert_eq!(join["content"], format!("{} has entered the chat", bea.name));
    assert_eq!(app.history(&visitor, &room_id, "").await.json(200), &page);

    // Close with the agent's own words.
    let r = app.close(&bea.token, &room_id, Some(json!({"message": "Solved, bye!"}))).await;
    let closed = r.json(200);
    assert_room_shape(closed);
    assert_eq!(closed["status"], "closed");
    let page = app.history(&visitor, &room_id, "").await.json(200).clone();
    let last = page["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["sender"]["kind"], "system", "the close text is a system message: {last}");
    assert_eq!(last["content"], "Solved, bye!");
    assert_eq!(last["seq"], n + 1);
    let r = app.get_room(&visitor, &room_id).await;
    assert_eq!(r.json(200)["status"], "closed");
    assert_eq!(r.body["last_seq"], n + 1);

    // Nothing leaves closed.
    app.send(&visitor, &room_id, "hello?", None).await.problem(409, "conflict");
    app.send(&bea.token, &room_id, "one more thing", None).await.problem(409, "conflict");
    app.accept(&bea.token, &room_id).await.problem(409, "conflict");
    app.close(&bea.token, &room_id, None).await.problem(409, "conflict");
    let page = app.history(&visitor, &room_id, "").await;
    assert_eq!(seqs(page.json(200)).len() as u64, n + 1, "nothing was stored after close");
}
