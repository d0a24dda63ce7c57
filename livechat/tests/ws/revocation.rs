//! Revoked tokens: a connected agent's WebSocket closes with 4401, and the
//! old token no longer opens one.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use livechat_test_support::{app::*, ws::*};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_connected_agent_closes_their_websocket_with_4401() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let (mut c, _) = app.ws_welcomed(&bea.token).await;
    let (mut bystander, _) = app.ws_welcomed(&admin.token).await;

    let r = app.request(Method::DELETE, &format!("/agents/{}", bea.id), Some(&admin.token), None).await;
    assert_eq!(r.code(), 204, "{}", r.text);

    assert_eq!(c.expect_end(FRAME_TIMEOUT).await, Ended::Closed(Some(4401)));
    match app.try_ws(Some(&bea.token), Auth::Header).await {
        Ok(_) => panic!("a deleted agent's token still opens a WebSocket"),
        Err((status, body)) => assert_eq!(status, 401, "{body}"),
    }
    // Others are not affected.
    let pong = bystander.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    bystander.assert_no_frame_of_type("error", Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_closes_the_agents_websockets_with_4401() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let (mut one, _) = app.ws_welcomed(&bea.token).await;
    let (mut two, _) = app.ws_welcomed(&bea.token).await;

    let r = app
        .request(
            Method::PATCH,
            &format!("/agents/{}", bea.id),
            Some(&admin.token),
            Some(json!({"password": "a-new-password-2"})),
        )
        .await;
    r.ok(200);

    assert_eq!(one.expect_end(FRAME_TIMEOUT).await, Ended::Closed(Some(4401)));
    assert_eq!(two.expect_end(FRAME_TIMEOUT).await, Ended::Closed(Some(4401)));
    match app.try_ws(Some(&bea.token), Auth::Query).await {
        Ok(_) => panic!("a revoked token still opens a WebSocket"),
        Err((status, body)) => assert_eq!(status, 401, "{body}"),
    }
    // A fresh login works.
    let r = app.login(&bea.username, "a-new-password-2").await;
    let token = r.ok(200)["access_token"].as_str().unwrap().to_string();
    let (_c, welcome) = app.ws_welcomed(&token).await;
    assert_eq!(welcome["user"]["id"], bea.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_moved_to_a_group_without_rights_stops_seeing_the_queue_at_once() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let bea = app.create_named_agent("Bea").await;
    let (mut c, _) = app.ws_welcomed(&bea.token).await;
    let first = app.create_room("Ana", Some("Hello")).await;
    c.wait_for("the first room", |f| f["type"] == "room_queued" && f["room"]["id"] == first.id.as_str())
        .await;

    let viewers = json!({"name": "viewers", "permissions": []});
    app.request(Method::POST, "/groups", Some(&admin.token), Some(viewers)).await.ok(201);
    let moved = json!({"group": "viewers"});
    app.request(Method::PATCH, &format!("/agents/{}", bea.id), Some(&admin.token), Some(moved)).await.ok(200);

    // The connection stays (it subscribed again behind the scenes)...
    let pong = c.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    // ...but the queue is no longer theirs to see.
    let (mut watcher, _) = app.ws_welcomed(&admin.token).await;
    let second = app.create_room("Cy", Some("Private question")).await;
    watcher
        .wait_for("the second room", |f| f["type"] == "room_queued" && f["room"]["id"] == second.id.as_str())
        .await;
    c.assert_no_frame_of_type("room_queued", Duration::from_millis(500)).await;
}
