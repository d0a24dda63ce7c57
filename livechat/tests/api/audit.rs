//! The audit trail: every administrative action once, with who did it,
//! from where and what changed (never a password or secret); failed
//! logins and the lockout they cause; paging, filters and retention.

use std::time::Duration;

use serde_json::{Value, json};

use livechat_test_support::app::*;
use livechat_test_support::shapes::assert_keys;

async fn trail(app: &TestApp, query: &str) -> Value {
    let admin = app.admin_token().await;
    app.get(&format!("/audit{query}"), Some(&admin)).await.json(200).clone()
}

fn actions(page: &Value) -> Vec<String> {
    page["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn each_admin_action_is_recorded_once_with_its_actor_and_what_changed() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin().await;
    let t = Some(admin.token.as_str());
    let bea = app.create_named_agent("Bea").await;
    app.post("/groups", t, json!({"name": "leads", "permissions": ["rooms.accept"]})).await.ok(201);
    app.put("/groups/leads", t, json!({"permissions": ["rooms.accept", "rooms.view_all"]})).await.ok(200);
    let patched = app
        .patch(&format!("/agents/{}", bea.id), t, json!({"group": "leads", "password": "a-new-secret-1"}))
        .await;
    patched.ok(200);
    app.put("/settings", t, json!({"history_load_count": 30})).await.ok(200);
    app.put("/workspace-settings", t, json!({"webhook_allowed_networks": ["10.0.0.0/8"]})).await.ok(200);
    let hook = app
        .post("/webhooks", t, json!({"url": "https://93.184.216.34/hooks", "events": ["room.closed"]}))
        .await;
    let secret = hook.json(201)["secret"].as_str().unwrap().to_string();
    app.delete(&format!("/agents/{}", bea.id), t).await.ok(204);
    // Reads and refusals are not administrative changes.
    app.get("/agents", t).await.ok(200);
    app.put("/settings", t, json!({"history_load_count": 0})).await.invalid_field("history_load_count");

    let page = trail(&app, "").await;
    assert_eq!(
        actions(&page),
        [
            "agent.deleted",
            "webhook.created",
            "settings.updated",
            "settings.updated",
            "agent.updated",
            "group.updated",
            "group.created",
            "agent.created",
        ]
    );
    for e in page["entries"].as_array().unwrap() {
        assert_keys(e, &["id", "at", "actor", "address", "action", "target", "details"]);
        assert_eq!(e["actor"], json!({"id": admin.id, "name": admin.name}), "{e}");
        assert_eq!(e["address"], "127.0.0.1", "{e}");
    }
    let entries = page["entries"].as_array().unwrap();
    let updated = &entries[4];
    assert_eq!(updated["target"], bea.id);
    assert_eq!(
        updated["details"],
        json!({"group": {"from": "agent", "to": "leads"}, "password": {"changed": true}})
    );
    assert_eq!(entries[3]["details"], json!({"history_load_count": {"from": 20, "to": 30}}));
    assert_eq!(entries[2]["details"]["webhook_allowed_networks"]["to"], json!(["10.0.0.0/8"]));
    assert_eq!(entries[5]["details"]["permissions"]["to"], json!(["rooms.accept", "rooms.view_all"]));
    assert_eq!(
        entries[1]["details"],
        json!({"url": "https://93.184.216.34/hooks", "events": ["room.closed"], "enabled": true})
    );
    let whole = page.to_string();
    for never in ["a-new-secret-1", secret.as_str(), "agent-password-1", "pbkdf2"] {
        assert!(!whole.contains(never), "the trail holds {never}");
    }

    // Filters and pages.
    assert_eq!(actions(&trail(&app, "?action=settings.updated").await), ["settings.updated"; 2]);
    assert_eq!(trail(&app, &format!("?actor_id={}", bea.id)).await["entries"], json!([]));
    let first = trail(&app, "?limit=3").await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap();
    assert_eq!(
        actions(&trail(&app, &format!("?limit=3&before={next}")).await),
        ["settings.updated", "agent.updated", "group.updated"]
    );
    let last = trail(&app, &format!("?limit=3&before={}", entries[5]["id"].as_str().unwrap())).await;
    assert_eq!(actions(&last), ["group.created", "agent.created"]);
    assert_eq!(last["next"], Value::Null);

    // Admins only; a made-up action is named as such.
    let cal = app.create_named_agent("Cal").await;
    app.get("/audit", Some(&cal.token)).await.problem(403, "forbidden");
    app.get("/audit?action=agent.renamed", t).await.invalid_field("action");
}

#[tokio::test]
async fn failed_logins_and_the_lockout_they_cause_are_recorded_without_an_actor() {
    let app = spawn_app_with(|core, _| core.login_failures_per_address = 3).await;
    app.create_named_agent("Bea").await;
    let username = "agent1";
    for _ in 0..3 {
        app.login(username, "wrong-password").await.problem(401, "unauthorized");
    }
    // Refused while locked out: that adds nothing more to the trail.
    app.login(username, "wrong-password").await.problem(429, "rate_limited");
    let page = trail(&app, "?limit=10").await;
    let logins: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("login."))
        .collect();
    let names: Vec<&str> = logins.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(names, ["login.locked_out", "login.failed", "login.failed", "login.failed"]);
    for e in &logins {
        assert_eq!(e["actor"], Value::Null);
        assert_eq!(e["target"], username);
        assert_eq!(e["address"], "127.0.0.1");
    }
    assert_eq!(logins[0]["details"], json!({"by": "address", "failures": 3}));
}

#[tokio::test]
async fn entries_are_kept_for_the_retention_the_admin_sets() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    app.create_named_agent("Bea").await;
    let r = app.put("/workspace-settings", Some(&admin), json!({"audit_retention_days": 2})).await;
    assert_eq!(r.json(200)["audit_retention_days"], 2);
    app.put("/workspace-settings", Some(&admin), json!({"audit_retention_days": 0}))
        .await
        .invalid_field("audit_retention_days");
    assert_eq!(actions(&trail(&app, "").await), ["settings.updated", "agent.created"]);
    app.advance_clock(Duration::from_secs(36 * 3600)).await;
    assert_eq!(trail(&app, "").await["entries"].as_array().unwrap().len(), 2, "kept within two days");
    app.create_named_agent("Cal").await;
    app.advance_clock(Duration::from_secs(24 * 3600)).await;
    assert_eq!(
        actions(&trail(&app, "").await),
        ["agent.created"],
        "only Cal's creation is younger than two days"
    );
}
