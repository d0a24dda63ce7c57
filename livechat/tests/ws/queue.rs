//! The queue over WebSockets: racing accepts, and declines.

use std::time::Duration;

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_agents_accepting_one_room_at_once_exactly_one_wins_and_both_see_it_taken() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    // A few rounds: the accepts really do overlap in some of them.
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(app.create_room(&format!("Visitor {i}"), Some("help")).await);
    }
    let (mut a, wa) = app.ws_welcomed(&admin.token).await;
    let (mut b, wb) = app.ws_welcomed(&bea.token).await;
    assert_eq!(wa["queue"].as_array().unwrap().len(), 3);
    assert_eq!(wb["queue"].as_array().unwrap().len(), 3);

    for room in &rooms {
        let frame = json!({"type": "accept", "room_id": room.id});
        let (ra, rb) = tokio::join!(a.request(frame.clone()), b.request(frame.clone()));
        let (winner, loser_answer, winner_agent, winner_conn, loser) =
            match (ra["type"].as_str(), rb["type"].as_str()) {
                (Some("ack"), Some("error")) => (&ra, &rb, &admin, &mut a, &mut b),
                (Some("error"), Some("ack")) => (&rb, &ra, &bea, &mut b, &mut a),
                _ => panic!("exactly one accept must win: {ra} / {rb}"),
            };
        assert_eq!(loser_answer["code"], "conflict", "{loser_answer}");
        assert_eq!(winner["room"]["status"], "engaged");
        assert_eq!(winner["room"]["agent"]["id"], winner_agent.id.as_str());

        let taken = loser
            .wait_for("room_taken", |f| f["type"] == "room_taken" && f["room_id"] == room.id.as_str())
            .await;
        assert_eq!(
            taken,
            json!({"type": "room_taken", "room_id": room.id, "agent": {"id": winner_agent.id, "name": winner_agent.name}})
        );
        // The winner's own list learns it too (room_taken goes to every acceptor).
        let own = winner_conn
            .wait_for("room_taken", |f| f["type"] == "room_taken" && f["room_id"] == room.id.as_str())
            .await;
        assert_eq!(own, taken);
        let stored = app.room(&admin.token, &room.id).await;
        assert_eq!(stored["status"], "engaged");
        assert_eq!(stored["agent"]["id"], winner_agent.id.as_str());
        assert_eq!(stored["last_seq"], 2, "one join text only: {stored}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_room_leaves_the_decliners_queue_and_another_agent_takes_it() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let room = app.create_room("Ana", Some("Hello")).await;
    let other = app.create_room("Bo", Some("Me too")).await;
    let (mut visitor, _) = app.ws_welcomed(&room.visitor_token).await;
    visitor.expect_type("history").await;

    let (mut a, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![room.id.clone(), other.id.clone()]);
    a.ack(json!({"type": "decline", "room_id": room.id})).await;
    a.close().await;

    // A fresh connection of the decliner no longer offers the room.
    let (_a, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![other.id.clone()], "{welcome}");

    // Someone else still can take it.
    let (mut b, welcome) = app.ws_welcomed(&bea.token).await;
    assert_eq!(ids(&welcome["queue"]), vec![room.id.clone(), other.id.clone()]);
    let ack = b.ack(json!({"type": "accept", "room_id": room.id})).await;
    assert_eq!(ack["room"]["agent"]["name"], "Bea");
    let history = b.wait_for_type("history").await;
    assert_eq!(seqs(&history), vec![1, 2]);

    let joined = visitor.messages(&room.id, 1).await;
    assert_eq!(joined[0]["seq"], 2);
    assert_eq!(joined[0]["sender"]["kind"], "system");
    assert_eq!(joined[0]["content"], "Bea has entered the chat");
    let updated = visitor.wait_for_type("room_updated").await;
    assert_eq!(updated["room"]["agent"]["name"], "Bea", "{updated}");
    visitor.assert_no_frame_of_type("message", Duration::from_millis(300)).await;
}
