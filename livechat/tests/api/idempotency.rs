//! client_id makes a send safe to retry.

use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn a_send_repeated_with_the_same_client_id_returns_the_stored_message_and_stores_nothing() {
    let app = spawn_app().await;
    let room = app.create_room("Ana", Some("hi")).await;
    let v = &room.visitor_token;

    let first = app.send(v, &room.id, "is anyone there?", Some("c-42")).await;
    let first = first.json(201).clone();
    assert_message_shape(&first);
    assert_eq!(first["client_id"], "c-42");

    let again = app.send(v, &room.id, "is anyone there?", Some("c-42")).await;
    let again = again.json(200).clone();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again, first, "the repeat answers the stored message itself");

    // Even with other content, a reused client_id is the same message.
    let third = app.send(v, &room.id, "changed my mind", Some("c-42")).await;
    assert_eq!(third.json(200)["id"], first["id"]);
    assert_eq!(third.body["content"], "is anyone there?");

    let page = app.history(v, &room.id, "").await;
    let page = page.json(200);
    let with_cid: Vec<_> =
        page["messages"].as_array().unwrap().iter().filter(|m| m["client_id"] == "c-42").collect();
    assert_eq!(with_cid.len(), 1, "stored once: {page}");
    assert_eq!(seqs(page), vec![1, 2]);

    // A new client_id is a new message.
    let other = app.send(v, &room.id, "hello?", Some("c-43")).await;
    assert_eq!(other.json(201)["seq"], 3);
}
