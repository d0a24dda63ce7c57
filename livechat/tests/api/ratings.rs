//! Satisfaction ratings: the visitor rates a chat once it has ended, once;
//! agents who may read the room see it; supervisors read the report.

use serde_json::json;

use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn a_visitor_rates_their_ended_chat_once_and_the_agent_sees_it() {
    let app = spawn_app_without_limits().await;
    let bea = app.create_named_agent("Bea").await;
    let room = app.engaged_room(&bea, "Ana").await;
    let rating = format!("/rooms/{}/rating", room.id);

    let early = app.post(&rating, Some(&room.visitor_token), json!({"score": 5})).await;
    early.problem(409, "conflict");
    app.close(&bea.token, &room.id, None).await.json(200);
    app.get(&rating, Some(&bea.token)).await.problem(404, "not_found");

    let bad = app.post(&rating, Some(&room.visitor_token), json!({"score": 6})).await;
    bad.invalid_field("score");
    let r =
        app.post(&rating, Some(&room.visitor_token), json!({"score": 4, "comment": "Quick and kind"})).await;
    let stored = r.json(201).clone();
    assert_keys(&stored, &["score", "comment", "created_at"]);
    assert_eq!(stored["score"], 4);
    assert_eq!(stored["comment"], "Quick and kind");
    app.post(&rating, Some(&room.visitor_token), json!({"score": 1})).await.problem(409, "conflict");

    // The agent who handled it reads it; so does the visitor.
    assert_eq!(app.get(&rating, Some(&bea.token)).await.json(200), &stored);
    assert_eq!(app.get(&rating, Some(&room.visitor_token)).await.json(200), &stored);
    // An agent who had nothing to do with it, another room's visitor, and
    // an agent rating in the visitor's place are refused.
    let cal = app.create_named_agent("Cal").await;
    app.get(&rating, Some(&cal.token)).await.problem(403, "forbidden");
    let other = app.create_room("Mallory", None).await;
    app.get(&rating, Some(&other.visitor_token)).await.problem(403, "forbidden");
    app.post(&rating, Some(&other.visitor_token), json!({"score": 1})).await.problem(403, "forbidden");
    app.post(&rating, Some(&bea.token), json!({"score": 5})).await.problem(403, "forbidden");
}

#[tokio::test]
async fn supervisors_read_ratings_by_agent_and_by_day() {
    let app = spawn_app_without_limits().await;
    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    for (agent, score) in [(&bea, 5), (&bea, 4), (&cal, 2)] {
        let room = app.engaged_room(agent, "Ana").await;
        app.close(&agent.token, &room.id, None).await.json(200);
        app.post(&format!("/rooms/{}/rating", room.id), Some(&room.visitor_token), json!({"score": score}))
            .await
            .json(201);
    }
    let unrated = app.engaged_room(&cal, "Ben").await;
    app.close(&cal.token, &unrated.id, None).await.json(200);

    let supervisor = app.create_agent("supervisor").await;
    let r = app.get("/reports/ratings", Some(&supervisor.token)).await;
    let report = r.json(200);
    assert_keys(report, &["days", "overall", "by_agent", "by_day"]);
    assert_eq!(report["days"], 30);
    assert_eq!(report["overall"], json!({"count": 3, "average": 3.67}));
    assert_eq!(
        report["by_agent"],
        json!([
            {"agent": {"id": bea.id, "name": "Bea"}, "count": 2, "average": 4.5},
            {"agent": {"id": cal.id, "name": "Cal"}, "count": 1, "average": 2.0},
        ])
    );
    assert_eq!(report["by_day"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["by_day"][0]["count"], 3);

    // Agents without rooms.view_all do not read it; a silly period is refused.
    app.get("/reports/ratings", Some(&bea.token)).await.problem(403, "forbidden");
    app.get("/reports/ratings?days=0", Some(&supervisor.token)).await.invalid_field("days");
    let week = app.get("/reports/ratings?days=7", Some(&supervisor.token)).await;
    assert_eq!(week.json(200)["days"], 7);
}
