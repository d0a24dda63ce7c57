//! An agent's token stops working when the agent is deleted or their
//! password changes.

use serde_json::json;

use livechat_test_support::*;
use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn deleting_an_agent_revokes_their_token_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bea = app.create_agent("agent").await;
    app.list_rooms(&bea.token, "").await.json(200);

    let r = app.delete(&format!("/agents/{}", bea.id), Some(&admin)).await;
    assert_eq!(r.code(), 204, "DELETE /agents/{{id}}: {}", r.text);
    assert!(r.text.is_empty(), "a 204 has no body: {}", r.text);

    app.list_rooms(&bea.token, "").await.problem(401, "unauthorized");
    app.get("/canned-responses", Some(&bea.token)).await.problem(401, "unauthorized");
    app.login(&bea.username, AGENT_PASSWORD).await.problem(401, "unauthorized");
    let agents = app.get("/agents", Some(&admin)).await;
    assert!(
        !agents.json(200)["agents"].as_array().unwrap().iter().any(|a| a["id"] == bea.id.as_str()),
        "the deleted agent is still listed: {}",
        agents.text
    );
}

#[tokio::test]
async fn changing_an_agents_password_revokes_their_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bea = app.create_agent("agent").await;
    app.list_rooms(&bea.token, "").await.json(200);

    let r = app
        .patch(&format!("/agents/{}", bea.id), Some(&admin), json!({"password": "a-new-password-2"}))
        .await;
    let agent = r.json(200);
    assert_keys(agent, &["id", "username", "name", "group", "disabled"]);
    assert!(!r.text.to_lowercase().contains("password"), "{}", r.text);

    app.list_rooms(&bea.token, "").await.problem(401, "unauthorized");
    app.login(&bea.username, AGENT_PASSWORD).await.problem(401, "unauthorized");
    let fresh = app.login(&bea.username, "a-new-password-2").await;
    let token = fresh.json(200)["access_token"].as_str().unwrap().to_string();
    app.list_rooms(&token, "").await.json(200);
}

#[tokio::test]
async fn disabling_an_agent_revokes_their_token_and_refuses_their_login() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bea = app.create_agent("agent").await;

    let r = app.patch(&format!("/agents/{}", bea.id), Some(&admin), json!({"disabled": true})).await;
    assert_eq!(r.json(200)["disabled"], true);
    app.list_rooms(&bea.token, "").await.problem(401, "unauthorized");
    let refused = app.login(&bea.username, AGENT_PASSWORD).await;
    refused.problem(401, "unauthorized");
    // Same answer as for a wrong password: nothing tells the account apart.
    assert_eq!(refused.body, app.login("nobody-here", "x-password").await.body);
}
