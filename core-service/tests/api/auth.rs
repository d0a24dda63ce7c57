//! Logging in: tokens for good credentials, one answer for every bad one.

use livechat_proto::v1 as pb;

use livechat_test_support::grpc::*;
use livechat_test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_core().await;
    let wrong = expect_err(app.login("admin", "not-the-password").await, "unauthorized");
    let unknown = expect_err(app.login("nobody-at-all", "not-the-password").await, "unauthorized");
    assert_eq!(wrong.code(), unknown.code());
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(detail(&wrong), detail(&unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_agent_cannot_log_in_and_loses_their_token() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    let updated = ok(
        app.admin_api(&app.admin_token())
            .update_agent(pb::UpdateAgentRequest {
                id: agent.id.clone(),
                disabled: Some(true),
                ..Default::default()
            })
            .await,
        "UpdateAgent",
    );
    assert!(updated.disabled);

    let refused = expect_err(app.login(&agent.username, AGENT_PASSWORD).await, "unauthorized");
    let wrong = expect_err(app.login("admin", "not-the-password").await, "unauthorized");
    assert_eq!(refused.message(), wrong.message());
    assert_eq!(detail(&refused), detail(&wrong), "a disabled account must not be told apart");
    expect_err(app.who_am_i(&agent.token).await, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_bearer_token_that_identifies_the_agent() {
    let app = spawn_core().await;
    let login = app.login("admin", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(login.token_type, "Bearer");
    assert_eq!(login.expires_in, 8 * 3600);
    let agent = login.agent.unwrap();
    assert_eq!((agent.username.as_str(), agent.group.as_str(), agent.disabled), ("admin", "admin", false));

    let claims = claims_of(&login.access_token);
    assert_eq!(claims["sub"], agent.id.as_str());
    assert_eq!(claims["role"], "agent");
    assert_eq!(claims["iss"], "livechat");

    let me = app.who_am_i(&login.access_token).await.unwrap();
    assert_eq!(me.role, "agent");
    assert_eq!(me.user.unwrap().id, agent.id);
    assert_eq!(me.group.as_deref(), Some("admin"));
    let mut perms = me.permissions.clone();
    perms.sort();
    assert_eq!(
        perms,
        vec![
            "agents.manage",
            "canned.manage_shared",
            "rooms.accept",
            "rooms.manage_all",
            "rooms.view_all",
            "settings.manage"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_gives_a_new_working_token() {
    let app = spawn_core().await;
    let refreshed = ok(app.auth(&app.admin_token()).refresh(pb::RefreshRequest {}).await, "Refresh");
    assert_eq!(refreshed.token_type, "Bearer");
    let me = app.who_am_i(&refreshed.access_token).await.unwrap();
    assert_eq!(me.user.unwrap().id, app.admin.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_token_opens_exactly_its_room() {
    let app = spawn_core().await;
    let r = ok(
        app.rooms(NO_TOKEN)
            .create_room(pb::CreateRoomRequest { name: "Dee".into(), ..Default::default() })
            .await,
        "CreateRoom",
    );
    assert_eq!(r.expires_in, 7 * 86400);
    let room = r.room.unwrap();
    let me = app.who_am_i(&r.visitor_token).await.unwrap();
    assert_eq!(me.role, "visitor");
    assert_eq!(me.room_id.as_deref(), Some(room.id.as_str()));
    assert_eq!(me.user.unwrap(), room.visitor.unwrap());
    assert!(me.permissions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agent_needs_a_password_of_at_least_eight_characters() {
    let app = spawn_core().await;
    let status = expect_err(
        app.admin_api(&app.admin_token())
            .create_agent(pb::CreateAgentRequest {
                username: "shorty".into(),
                password: "1234567".into(),
                name: "Shorty".into(),
                group: "agent".into(),
            })
            .await,
        "invalid",
    );
    assert!(detail(&status).errors.iter().any(|e| e.field == "password"), "{status:?}");
    let listed =
        ok(app.admin_api(&app.admin_token()).list_agents(pb::ListAgentsRequest {}).await, "ListAgents");
    assert!(listed.agents.iter().all(|a| a.username != "shorty"));
}
