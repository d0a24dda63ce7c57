//! Who may do what, and which tokens are no good.

use livechat_proto::v1 as pb;
use pb::RoomStatus;

use livechat_test_support::grpc::*;
use livechat_test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_rooms_accept_cannot_accept_a_room() {
    let app = spawn_core().await;
    app.create_group("viewers", &[]).await;
    let viewer = app.create_agent_full("viewers").await;
    assert_eq!(viewer.group, "viewers");
    let (room, visitor) = app.create_room("Lu", Some("hi")).await;

    expect_err(app.try_accept(&viewer.token, &room.id).await, "forbidden");
    let r = app.get_room(&visitor, &room.id).await.unwrap();
    assert_eq!((r.status(), r.agent), (RoomStatus::Queued, None));
    assert_eq!(r.last_seq, 1, "no join message for a refused accept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cannot_read_or_write_another_agents_room() {
    let app = spawn_core().await;
    let owner = app.create_agent_full("agent").await;
    let other = app.create_agent_full("agent").await;
    let (room, _visitor) = app.create_room("Mo", Some("hi")).await;
    app.accept(&owner.token, &room.id).await;

    // The engaged agent reads it; an agent with rooms.view_all (admin) too.
    app.get_room(&owner.token, &room.id).await.unwrap();
    app.history(&owner.token, &room.id, None, None, None).await;
    app.get_room(&app.admin_token(), &room.id).await.unwrap();

    expect_err(app.get_room(&other.token, &room.id).await, "forbidden");
    expect_err(app.try_history(&other.token, &room.id, None, None, None).await, "forbidden");
    expect_err(app.try_send(&other.token, &room.id, "psst", None).await, "forbidden");
    assert_eq!(app.get_room(&owner.token, &room.id).await.unwrap().last_seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_token_does_not_open_another_room() {
    let app = spawn_core().await;
    let (mine, my_token) = app.create_room("Ned", Some("mine")).await;
    let (theirs, _) = app.create_room("Olga", Some("theirs")).await;

    app.get_room(&my_token, &mine.id).await.unwrap();
    app.history(&my_token, &mine.id, None, None, None).await;

    expect_err(app.get_room(&my_token, &theirs.id).await, "forbidden");
    expect_err(app.try_history(&my_token, &theirs.id, None, None, None).await, "forbidden");
    expect_err(app.try_send(&my_token, &theirs.id, "hi", None).await, "forbidden");
    let t = app.get_room(&app.admin_token(), &theirs.id).await.unwrap();
    assert_eq!(t.last_seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_token_cannot_act_as_an_agent() {
    let app = spawn_core().await;
    let (room, visitor) = app.create_room("Pia", Some("hi")).await;
    expect_err(app.try_accept(&visitor, &room.id).await, "forbidden");
    expect_err(app.rooms(&visitor).list_rooms(pb::ListRoomsRequest::default()).await, "forbidden");
    expect_err(app.admin_api(&visitor).list_agents(pb::ListAgentsRequest {}).await, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_token_is_unauthenticated() {
    let app = spawn_core().await;
    let (room, _) = app.create_room("Quinn", None).await;
    expect_err(app.get_room(NO_TOKEN, &room.id).await, "unauthorized");
    expect_err(app.who_am_i(NO_TOKEN).await, "unauthorized");
    expect_err(app.try_subscribe(NO_TOKEN).await, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_unauthenticated() {
    let app = spawn_core().await;
    let now = now_secs();
    // The forged claims are right: the same ones, unexpired, work.
    let fresh = forge_token(&agent_claims(&app.admin.id, 0, now - 10, now + 600));
    app.who_am_i(&fresh).await.expect("a well-forged current token works");

    let expired = forge_token(&agent_claims(&app.admin.id, 0, now - 7200, now - 60));
    expect_err(app.who_am_i(&expired).await, "unauthorized");
    expect_err(app.rooms(&expired).list_rooms(pb::ListRoomsRequest::default()).await, "unauthorized");
    expect_err(app.try_subscribe(&expired).await, "unauthorized");

    let (room, visitor) = app.create_room("Rae", None).await;
    let visitor_id = room.visitor.as_ref().unwrap().id.clone();
    let real = claims_of(&visitor);
    assert_eq!(real["sub"], visitor_id.as_str());
    let expired_visitor = forge_token(&visitor_claims(&visitor_id, &room.id, "Rae", now - 7200, now - 60));
    expect_err(app.get_room(&expired_visitor, &room.id).await, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_of_a_deleted_agent_is_unauthenticated() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    app.who_am_i(&agent.token).await.unwrap();

    ok(
        app.admin_api(&app.admin_token()).delete_agent(pb::DeleteAgentRequest { id: agent.id.clone() }).await,
        "DeleteAgent",
    );
    expect_err(app.who_am_i(&agent.token).await, "unauthorized");
    expect_err(app.rooms(&agent.token).list_rooms(pb::ListRoomsRequest::default()).await, "unauthorized");
    // Even a freshly forged token for the deleted id.
    let now = now_secs();
    let forged = forge_token(&agent_claims(&agent.id, 0, now, now + 600));
    expect_err(app.who_am_i(&forged).await, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_tampered_signature_is_unauthenticated() {
    let app = spawn_core().await;
    let token = app.admin_token();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    // One signature character changed (the first one carries 6 whole bits).
    let sig = parts[2];
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}.{}.{}{}", parts[0], parts[1], flipped, &sig[1..]);
    expect_err(app.who_am_i(&tampered).await, "unauthorized");

    // Signed with another secret.
    let now = now_secs();
    let foreign = forge_token_with(
        "another-secret-that-is-also-32-bytes-long!",
        &agent_claims(&app.admin.id, 0, now, now + 600),
    );
    expect_err(app.who_am_i(&foreign).await, "unauthorized");

    // The claims changed under the original signature.
    let mut claims = claims_of(&token);
    claims["exp"] = serde_json::json!(now + 999_999);
    use base64::Engine as _;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let resigned = format!("{}.{}.{}", parts[0], payload, parts[2]);
    expect_err(app.who_am_i(&resigned).await, "unauthorized");

    expect_err(app.who_am_i("not-a-jwt").await, "unauthorized");
    // The original still works.
    app.who_am_i(&token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_alg_none_token_is_unauthenticated() {
    let app = spawn_core().await;
    let now = now_secs();
    let unsigned = forge_unsigned_token(&agent_claims(&app.admin.id, 0, now, now + 600));
    expect_err(app.who_am_i(&unsigned).await, "unauthorized");
    expect_err(app.admin_api(&unsigned).list_agents(pb::ListAgentsRequest {}).await, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_group_token_cannot_call_admin_rpcs() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    let before = app.settings().await;

    expect_err(
        app.admin_api(&agent.token)
            .create_agent(pb::CreateAgentRequest {
                username: "sneaky".into(),
                password: "sneaky-password".into(),
                name: "Sneaky".into(),
                group: "admin".into(),
            })
            .await,
        "forbidden",
    );
    expect_err(
        app.admin_api(&agent.token)
            .update_settings(pb::UpdateSettingsRequest { history_load_count: Some(7), ..Default::default() })
            .await,
        "forbidden",
    );
    expect_err(app.admin_api(&agent.token).list_agents(pb::ListAgentsRequest {}).await, "forbidden");
    expect_err(
        app.admin_api(&agent.token)
            .update_agent(pb::UpdateAgentRequest {
                id: agent.id.clone(),
                group: Some("admin".into()),
                ..Default::default()
            })
            .await,
        "forbidden",
    );

    // Any agent may read the settings; nothing changed.
    let read = ok(app.admin_api(&agent.token).get_settings(pb::GetSettingsRequest {}).await, "GetSettings");
    assert_eq!(read, before);
    expect_err(app.login("sneaky", "sneaky-password").await, "unauthorized");
    assert_eq!(app.who_am_i(&agent.token).await.unwrap().group.as_deref(), Some("agent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_an_agents_password_revokes_their_old_token() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    app.who_am_i(&agent.token).await.unwrap();

    ok(
        app.admin_api(&app.admin_token())
            .update_agent(pb::UpdateAgentRequest {
                id: agent.id.clone(),
                password: Some("a-brand-new-password".into()),
                ..Default::default()
            })
            .await,
        "UpdateAgent",
    );
    expect_err(app.who_am_i(&agent.token).await, "unauthorized");
    expect_err(app.login(&agent.username, AGENT_PASSWORD).await, "unauthorized");
    let fresh = app.login(&agent.username, "a-brand-new-password").await.unwrap();
    let me = app.who_am_i(&fresh.access_token).await.unwrap();
    assert_eq!(me.user.unwrap().id, agent.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_lists_the_queue_and_their_own_rooms_only() {
    let app = spawn_core().await;
    let agent = app.create_agent_full("agent").await;
    let (queued, _) = app.create_room("Sam", Some("q")).await;
    let (mine, _) = app.create_room("Tia", Some("m")).await;
    let (admins, _) = app.create_room("Uma", Some("a")).await;
    app.accept(&agent.token, &mine.id).await;
    app.accept(&app.admin_token(), &admins.id).await;

    let listed = ok(app.rooms(&agent.token).list_rooms(pb::ListRoomsRequest::default()).await, "ListRooms");
    let ids: std::collections::HashSet<_> = listed.rooms.iter().map(|r| r.id.clone()).collect();
    assert!(ids.contains(&queued.id), "the queue is visible");
    assert!(ids.contains(&mine.id), "own rooms are visible");
    assert!(!ids.contains(&admins.id), "another agent's room must not be listed: {listed:#?}");

    let all =
        ok(app.rooms(&app.admin_token()).list_rooms(pb::ListRoomsRequest::default()).await, "ListRooms");
    assert_eq!(all.rooms.len(), 3, "rooms.view_all sees every room");
    let engaged = ok(
        app.rooms(&app.admin_token())
            .list_rooms(pb::ListRoomsRequest { status: RoomStatus::Engaged as i32, mine: false })
            .await,
        "ListRooms",
    );
    assert_eq!(engaged.rooms.len(), 2);
    assert!(engaged.rooms.iter().all(|r| r.status() == RoomStatus::Engaged));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_engaged_agent_or_a_manager_can_close_a_room() {
    let app = spawn_core().await;
    let owner = app.create_agent_full("agent").await;
    let other = app.create_agent_full("agent").await;
    let (first, _) = app.create_room("Hugo", Some("one")).await;
    let (second, _) = app.create_room("Ines", Some("two")).await;
    app.accept(&owner.token, &first.id).await;
    app.accept(&owner.token, &second.id).await;

    expect_err(
        app.rooms(&other.token)
            .close_room(pb::CloseRoomRequest { room_id: first.id.clone(), message: None })
            .await,
        "forbidden",
    );
    assert_eq!(app.get_room(&owner.token, &first.id).await.unwrap().status(), RoomStatus::Engaged);

    // The engaged agent may; so may rooms.manage_all (admin).
    assert_eq!(app.close(&owner.token, &first.id, None).await.status(), RoomStatus::Closed);
    assert_eq!(app.close(&app.admin_token(), &second.id, None).await.status(), RoomStatus::Closed);
}
