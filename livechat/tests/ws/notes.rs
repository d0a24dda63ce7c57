//! Private notes: agents write them in a room for each other; the visitor
//! never sees one, not live, not in history, not by asking.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_note_reaches_the_agents_of_the_room_and_never_its_visitor() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let room = app.engaged_room(&admin, "Ana").await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;
    let (mut tab, _) = app.ws_welcomed(&admin.token).await;
    tab.expect_type("history").await;
    let (mut other_tab, _) = app.ws_welcomed(&admin.token).await;
    other_tab.expect_type("history").await;
    let (mut bea_ws, _) = app.ws_welcomed(&bea.token).await;

    let secret = "Customer was rude last time; refund already refused once";
    let ack = tab.ack(json!({"type": "note", "room_id": room.id, "content": secret})).await;
    let note = &ack["note"];
    assert_keys(note, &["id", "room_id", "author", "content", "created_at", "after_seq"]);
    assert_eq!(note["author"]["id"], admin.id.as_str());
    assert_eq!(note["content"], secret);
    assert_eq!(note["after_seq"], 2, "after the first question and the join text: {note}");
    assert!(note["created_at"].as_str().is_some_and(is_protocol_time));

    // The agent's other tab sees it live; Bea (not in the room) does not.
    let live = other_tab.wait_for_type("note").await;
    assert_eq!(live["note"], *note);
    bea_ws.assert_no_frame_of_type("note", Duration::from_millis(300)).await;

    // The conversation goes on; the visitor's connection never carried it.
    app.sent(&admin.token, &room.id, "Let me check").await;
    visitor
        .wait_for("the reply", |f| f["type"] == "message" && f["message"]["content"] == "Let me check")
        .await;
    visitor.assert_no_frame_of_type("note", Duration::from_millis(300)).await;
    assert!(
        !visitor.log.iter().any(|f| f.to_string().contains("refund already refused")),
        "{:?}",
        visitor.log
    );
    // Their history has no gap and no note: seqs 1, 2, 3.
    let page = app.history(&room.visitor_token, &room.id, "").await;
    assert_eq!(seqs(page.json(200)), vec![1, 2, 3]);
    assert!(!page.text.contains("refund already refused"));
    // Asking for notes with the visitor's token is refused.
    app.get(&format!("/rooms/{}/notes", room.id), Some(&room.visitor_token)).await.problem(403, "forbidden");
    visitor.refused(json!({"type": "notes", "room_id": room.id}), "forbidden").await;
    visitor.refused(json!({"type": "note", "room_id": room.id, "content": "me too"}), "forbidden").await;

    // After a transfer, Bea reads it with the room.
    app.post(&format!("/rooms/{}/transfer", room.id), Some(&admin.token), json!({"agent_id": bea.id}))
        .await
        .json(200);
    let notes = app.get(&format!("/rooms/{}/notes", room.id), Some(&bea.token)).await;
    assert_eq!(notes.json(200)["notes"], json!([note]));
    // Before it, she could not (an agent without access to the room).
    let other = app.engaged_room(&admin, "Ben").await;
    app.get(&format!("/rooms/{}/notes", other.id), Some(&bea.token)).await.problem(403, "forbidden");
    app.post(&format!("/rooms/{}/notes", other.id), Some(&bea.token), json!({"content": "x"}))
        .await
        .problem(403, "forbidden");
    // A blank note is refused like a blank message.
    app.post(&format!("/rooms/{}/notes", room.id), Some(&bea.token), json!({"content": "  "}))
        .await
        .problem(422, "invalid");
}
