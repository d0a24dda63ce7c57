//! Safe retries: a repeated client_id stores nothing new.

use livechat_proto::v1::SenderKind;

use livechat_test_support::grpc::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_id_returns_the_stored_message_and_stores_it_once() {
    let app = spawn_core().await;
    let admin = app.admin_token();
    let (room, visitor) = app.create_room("Ida", Some("first")).await;
    app.accept(&admin, &room.id).await;

    let first = app.try_send(&visitor, &room.id, "did you get this?", Some("c-42")).await.unwrap();
    assert!(first.created);
    let stored = first.message.unwrap();
    assert_eq!(stored.client_id.as_deref(), Some("c-42"));
    assert_eq!(stored.seq, 3);

    let again = app.try_send(&visitor, &room.id, "did you get this?", Some("c-42")).await.unwrap();
    assert!(!again.created, "the retry must report created = false");
    assert_eq!(again.message.as_ref(), Some(&stored), "the retry returns the stored message");

    // The agent may happen to use the same client_id: it is theirs, not a repeat.
    let agent_send = app.try_send(&admin, &room.id, "yes", Some("c-42")).await.unwrap();
    assert!(agent_send.created, "another sender's client_id is not a repeat");
    let agent_msg = agent_send.message.unwrap();
    assert_ne!(agent_msg.id, stored.id);
    assert_eq!(agent_msg.seq, 4);
    assert_eq!(sender_kind(&agent_msg), SenderKind::Agent);
    let agent_again = app.try_send(&admin, &room.id, "yes", Some("c-42")).await.unwrap();
    assert!(!agent_again.created);
    assert_eq!(agent_again.message.unwrap().id, agent_msg.id);

    let history = app.all_messages(&visitor, &room.id).await;
    assert_eq!(seqs(&history), vec![1, 2, 3, 4], "{history:#?}");
    let with_id: Vec<_> = history.iter().filter(|m| m.client_id.as_deref() == Some("c-42")).collect();
    assert_eq!(with_id.len(), 2);
    assert_eq!(app.get_room(&visitor, &room.id).await.unwrap().last_seq, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_changed_content_still_returns_the_original_message() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Jo", None).await;
    let first = app.try_send(&visitor, &room.id, "original", Some("r-1")).await.unwrap();
    assert!(first.created);
    let again = app.try_send(&visitor, &room.id, "edited", Some("r-1")).await.unwrap();
    assert!(!again.created);
    let m = again.message.unwrap();
    assert_eq!(m.content, "original");
    assert_eq!(m.seq, first.message.unwrap().seq);
    assert_eq!(app.all_messages(&visitor, &room.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_over_64_characters_is_invalid() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Kim", None).await;
    let ok_id = "x".repeat(64);
    assert!(app.try_send(&visitor, &room.id, "a", Some(&ok_id)).await.unwrap().created);
    let long = "x".repeat(65);
    let status = expect_err(app.try_send(&visitor, &room.id, "b", Some(&long)).await, "invalid");
    let d = detail(&status);
    assert!(d.errors.iter().any(|e| e.field == "client_id"), "{d:?}");
    assert_eq!(app.all_messages(&visitor, &room.id).await.len(), 1);
}
