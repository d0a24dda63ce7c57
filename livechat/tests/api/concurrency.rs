//! Accept is atomic: of many agents accepting one room, one wins.

use futures::future::join_all;

use livechat_test_support::app::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_agents_accepting_one_room_at_once_exactly_one_wins() {
    let app = spawn_app().await;
    app.admin_token().await;
    let agents = join_all((0..20).map(|_| app.create_agent("agent"))).await;
    let room = app.create_room("Ana", Some("anyone there?")).await;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(agents.len()));
    let answers = join_all(agents.iter().map(|a| {
        let barrier = barrier.clone();
        let app = &app;
        let room_id = room.id.clone();
        async move {
            barrier.wait().await;
            (a.id.clone(), app.accept(&a.token, &room_id).await)
        }
    }))
    .await;

    let winners: Vec<_> = answers.iter().filter(|(_, r)| r.code() == 200).collect();
    let losers: Vec<_> = answers.iter().filter(|(_, r)| r.code() == 409).collect();
    let statuses: Vec<u16> = answers.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(winners.len(), 1, "exactly one 200: {statuses:?}");
    assert_eq!(losers.len(), 19, "nineteen 409s: {statuses:?}");
    for (_, r) in &losers {
        r.problem(409, "conflict");
    }
    let (winner_id, won) = winners[0];
    assert_eq!(won.body["status"], "engaged");
    assert_eq!(won.body["agent"]["id"], winner_id.as_str());

    let r = app.get_room(&room.visitor_token, &room.id).await;
    assert_eq!(r.json(200)["agent"]["id"], winner_id.as_str());
    // One join message, not twenty.
    let page = app.history(&room.visitor_token, &room.id, "").await;
    let system = page.json(200)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"]["kind"] == "system")
        .count();
    assert_eq!(system, 1, "one join message: {}", page.text);
}
