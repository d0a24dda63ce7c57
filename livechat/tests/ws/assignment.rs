//! Automatic assignment: queued rooms handed to the online, not-away agent
//! with the fewest open rooms, in turn, within capacity; the rest wait in
//! the queue until someone frees up; a decline hands the room on; rooms
//! arriving at once each get one owner and nobody more than their share.

use std::time::Duration;

use serde_json::{Value, json};

use livechat_test_support::app::*;

async fn automatic(app: &TestApp, capacity: u32) {
    let admin = app.admin_token().await;
    let r = app
        .put(
            "/workspace-settings",
            Some(&admin),
            json!({"assignment_mode": "automatic", "agent_capacity": capacity}),
        )
        .await;
    let s = r.json(200);
    assert_eq!(
        (s["assignment_mode"].as_str(), s["agent_capacity"].as_u64()),
        (Some("automatic"), Some(u64::from(capacity)))
    );
}

/// Who holds the room now ("" while queued).
async fn holder(app: &TestApp, room_id: &str) -> String {
    let admin = app.admin_token().await;
    let room = app.room(&admin, room_id).await;
    room["agent"]["name"].as_str().filter(|_| room["status"] == "engaged").unwrap_or("").to_string()
}

async fn holders(app: &TestApp, rooms: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rooms {
        out.push(holder(app, r).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_go_to_the_least_loaded_agent_in_turn_within_capacity() {
    let app = spawn_app_without_limits().await;
    automatic(&app, 2).await;
    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    let _dan = app.create_named_agent("Dan").await;
    let eve = app.create_named_agent("Eve").await;
    let (mut bea_ws, _) = app.ws_welcomed(&bea.token).await;
    let (_cal_ws, _) = app.ws_welcomed(&cal.token).await;
    let (_eve_ws, _) = app.ws_welcomed(&eve.token).await;
    app.put("/presence", Some(&eve.token), json!({"status": "away"})).await.json(200);

    let mut rooms = Vec::new();
    for n in 1..=5 {
        rooms.push(app.create_room(&format!("Visitor {n}"), Some("Hello?")).await.id);
    }
    // Dan is offline and Eve away: Bea and Cal take turns up to 2 each.
    assert_eq!(holders(&app, &rooms).await, ["Bea", "Cal", "Bea", "Cal", ""]);
    // Bea's console is given the room with its conversation.
    let given = bea_ws
        .wait_for("room_updated", |f| f["type"] == "room_updated" && f["room"]["id"] == rooms[0].as_str())
        .await;
    assert_eq!(given["room"]["agent"]["name"], "Bea");
    let history =
        bea_ws.wait_for("history", |f| f["type"] == "history" && f["room_id"] == rooms[0].as_str()).await;
    assert_eq!(history["messages"][0]["content"], "Hello?");

    // The fifth waits in the queue until Bea frees up.
    app.close(&bea.token, &rooms[0], None).await.json(200);
    app.advance_clock(Duration::from_secs(1)).await;
    assert_eq!(holder(&app, &rooms[4]).await, "Bea");

    // Cal's own capacity is higher than the workspace's.
    let admin = app.admin_token().await;
    let cap = app.put(&format!("/agents/{}/capacity", cal.id), Some(&admin), json!({"capacity": 3})).await;
    assert_eq!(cap.json(200), &json!({"agent_id": cal.id, "capacity": 3, "effective_capacity": 3}));
    app.put(&format!("/agents/{}/capacity", cal.id), Some(&admin), json!({"capacity": 0}))
        .await
        .invalid_field("capacity");
    let sixth = app.create_room("Visitor 6", Some("Hi")).await.id;
    assert_eq!(holder(&app, &sixth).await, "Cal");
    let cleared =
        app.put(&format!("/agents/{}/capacity", bea.id), Some(&admin), json!({"capacity": null})).await;
    assert_eq!(cleared.json(200)["effective_capacity"], 2);

    // Manual again: a new room waits for an accept.
    app.put("/workspace-settings", Some(&admin), json!({"assignment_mode": "manual"})).await.json(200);
    app.close(&cal.token, &rooms[1], None).await.json(200);
    let manual = app.create_room("Visitor 7", Some("Hi")).await.id;
    app.advance_clock(Duration::from_secs(1)).await;
    assert_eq!(holder(&app, &manual).await, "");
    app.put("/workspace-settings", Some(&admin), json!({"assignment_mode": "round-robin"}))
        .await
        .invalid_field("assignment_mode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_room_goes_to_the_next_agent_and_then_to_the_queue() {
    let app = spawn_app_without_limits().await;
    automatic(&app, 3).await;
    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    let (_bea_ws, _) = app.ws_welcomed(&bea.token).await;
    let (_cal_ws, _) = app.ws_welcomed(&cal.token).await;
    let room = app.create_room("Ana", Some("Hello?")).await.id;
    assert_eq!(holder(&app, &room).await, "Bea");

    app.post_empty(&format!("/rooms/{room}/decline"), Some(&bea.token)).await.ok(204);
    assert_eq!(holder(&app, &room).await, "Cal");
    app.post_empty(&format!("/rooms/{room}/decline"), Some(&cal.token)).await.ok(204);
    // Both declined: it waits in the queue, offered to neither again.
    app.advance_clock(Duration::from_secs(1)).await;
    assert_eq!(holder(&app, &room).await, "");
    let admin = app.admin().await;
    let taken = app.accepted(&admin, &room).await;
    assert_eq!(taken["agent"]["name"], admin.name.as_str(), "anyone may still accept from the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_arriving_at_once_each_get_one_owner_within_capacity() {
    let app = spawn_app_without_limits().await;
    automatic(&app, 3).await;
    let mut sockets = Vec::new();
    for name in ["Bea", "Cal", "Dan"] {
        let agent = app.create_named_agent(name).await;
        sockets.push(app.ws_welcomed(&agent.token).await.0);
    }
    let app = &app;
    let arrivals =
        (0..20).map(|n| async move { app.create_room(&format!("Visitor {n}"), Some("Hi")).await.id });
    let rooms: Vec<String> = futures::future::join_all(arrivals).await;
    let owners = holders(app, &rooms).await;
    for name in ["Bea", "Cal", "Dan"] {
        assert_eq!(owners.iter().filter(|o| *o == name).count(), 3, "{owners:?}");
    }
    assert_eq!(owners.iter().filter(|o| o.is_empty()).count(), 11);
    // One join text per engaged room: nobody was handed a room twice.
    let admin = app.admin_token().await;
    for (room, owner) in rooms.iter().zip(&owners).filter(|(_, o)| !o.is_empty()) {
        let history = app.get(&format!("/rooms/{room}/messages"), Some(&admin)).await.json(200).clone();
        let joins: Vec<&Value> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["content"].as_str().unwrap().ends_with("has entered the chat"))
            .collect();
        assert_eq!(joins.len(), 1, "{room} held by {owner}: {history}");
    }
}
