//! Nobody hands out more than they hold: `agents.manage` manages agents,
//! it is not an admin in disguise.

use serde_json::json;

use livechat_test_support::app::*;
use livechat_test_support::*;

/// An agent in a group that has `agents.manage` and nothing else.
async fn agent_manager(app: &TestApp) -> TestAgent {
    let admin = app.admin_token().await;
    let group = json!({"name": "people", "permissions": ["agents.manage"]});
    app.post("/groups", Some(&admin), group).await.json(201);
    app.create_agent("people").await
}

#[tokio::test]
async fn an_agent_manager_cannot_make_anyone_more_than_they_are() {
    let app = spawn_app().await;
    let hr = agent_manager(&app).await;
    let admin_id = app.admin().await.id.clone();

    // Into the admin group: neither themselves nor a new account.
    app.patch(&format!("/agents/{}", hr.id), Some(&hr.token), json!({"group": "admin"}))
        .await
        .problem(409, "conflict");
    let mallory = json!({"username": "mallory", "password": "mallory-pass-1", "name": "M", "group": "admin"});
    app.post("/agents", Some(&hr.token), mallory).await.problem(403, "forbidden");
    // Nor a group with permissions they do not hold, new or changed.
    let settings_group = json!({"name": "tuners", "permissions": ["settings.manage"]});
    app.post("/groups", Some(&hr.token), settings_group).await.problem(403, "forbidden");
    let more = json!({"name": "agent", "permissions": ["rooms.accept", "settings.manage"]});
    app.put("/groups/agent", Some(&hr.token), more).await.problem(403, "forbidden");

    // The admin is out of reach: no password change, no deletion.
    app.patch(&format!("/agents/{admin_id}"), Some(&hr.token), json!({"password": "taken-over-1"}))
        .await
        .problem(403, "forbidden");
    app.delete(&format!("/agents/{admin_id}"), Some(&hr.token)).await.problem(403, "forbidden");
    app.login("admin", ADMIN_PASSWORD).await.json(200);
    let me = app.login(&hr.username, AGENT_PASSWORD).await;
    assert_eq!(me.json(200)["agent"]["group"], "people");

    // What they hold, they may hand out.
    let peer = json!({"username": "peer", "password": "peer-pass-12", "name": "Peer", "group": "people"});
    app.post("/agents", Some(&hr.token), peer).await.json(201);
}

#[tokio::test]
async fn the_last_admin_cannot_demote_or_disable_themselves() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let path = format!("/agents/{}", admin.id);
    app.patch(&path, Some(&admin.token), json!({"group": "agent"})).await.problem(409, "conflict");
    app.patch(&path, Some(&admin.token), json!({"disabled": true})).await.problem(409, "conflict");
    app.delete(&path, Some(&admin.token)).await.problem(409, "conflict");
    app.put("/groups/admin", Some(&admin.token), json!({"name": "admin", "permissions": []}))
        .await
        .problem(409, "conflict");
    let me = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(me.json(200)["agent"]["group"], "admin");
}
