//! Rate limits: failed logins (per account and address, and per account,
//! owned by the core for REST and gRPC alike), logins and rooms opened per
//! client address.

use livechat_test_support::*;
use livechat_test_support::{app::*, rest::*};

#[track_caller]
fn assert_rate_limited(r: &Resp) {
    r.problem(429, "rate_limited");
    let retry = r
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("a 429 carries Retry-After: {:?}", r.headers))
        .to_str()
        .unwrap();
    let secs: u64 = retry.parse().unwrap_or_else(|_| panic!("Retry-After is delta-seconds: {retry}"));
    assert!(secs >= 1, "Retry-After: {secs}");
}

/// POST /auth/login as a client at `address` behind the trusted proxy.
async fn login_from(app: &TestApp, address: &str, username: &str, password: &str) -> Resp {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", address)
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Resp { status, headers, text, body }
}

/// Logins throttled per address after `per_address` failures and per
/// account after `per_user`, behind a proxy we trust.
async fn throttled_app(per_address: u32, per_user: u32) -> TestApp {
    spawn_configured(|c| {
        c.core.login_failures_per_address = per_address;
        c.core.login_failures_per_user = per_user;
        c.http.login_rate_per_min = 1000;
        c.http.listener.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

#[tokio::test]
async fn wrong_passwords_from_one_address_back_off_and_the_admin_still_gets_in_from_another() {
    let app = throttled_app(3, 1000).await;
    let guesser = "198.51.100.7";
    for attempt in 1..=3 {
        let r = login_from(&app, guesser, "admin", "wrong-password").await;
        assert_eq!(r.code(), 401, "wrong password #{attempt}: {}", r.text);
    }
    assert_rate_limited(&login_from(&app, guesser, "admin", "wrong-password").await);
    // The guesser waits, even with the right password...
    assert_rate_limited(&login_from(&app, guesser, "admin", ADMIN_PASSWORD).await);
    // ...but the admin, elsewhere, is not locked out.
    login_from(&app, "203.0.113.9", "admin", ADMIN_PASSWORD).await.ok(200);
    // Once the backoff has passed, the guesser may try once more, then waits longer.
    app.advance_clock(std::time::Duration::from_secs(2)).await;
    login_from(&app, guesser, "admin", "wrong-password").await.problem(401, "unauthorized");
    let r = login_from(&app, guesser, "admin", "wrong-password").await;
    assert_rate_limited(&r);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 2, "the backoff doubled: Retry-After {wait}");
}

#[tokio::test]
async fn an_account_guessed_from_many_addresses_is_slowed_never_locked() {
    let app = throttled_app(1000, 4).await;
    for i in 1..=4 {
        login_from(&app, &format!("198.51.100.{i}"), "admin", "wrong").await.problem(401, "unauthorized");
    }
    // Over the ceiling: one attempt per 2 s for the account, from anywhere.
    login_from(&app, "198.51.100.5", "admin", "wrong").await.problem(401, "unauthorized");
    assert_rate_limited(&login_from(&app, "203.0.113.9", "admin", ADMIN_PASSWORD).await);
    app.advance_clock(std::time::Duration::from_secs(2)).await;
    login_from(&app, "203.0.113.9", "admin", ADMIN_PASSWORD).await.ok(200);
}

#[tokio::test]
async fn grpc_logins_share_the_throttle_of_the_rest_api() {
    use livechat_proto::v1::{LoginRequest, auth_service_client::AuthServiceClient};
    let app = spawn_configured(|c| {
        c.core.login_failures_per_address = 3;
        c.http.login_rate_per_min = 1000;
    })
    .await;
    // REST and gRPC both reach the core from 127.0.0.1.
    for _ in 0..3 {
        app.login("admin", "wrong-password").await.problem(401, "unauthorized");
    }
    let mut grpc = AuthServiceClient::connect(app.grpc_address.clone()).await.unwrap();
    let refused = grpc
        .login(LoginRequest { username: "admin".into(), password: ADMIN_PASSWORD.into() })
        .await
        .expect_err("the same address backs off over gRPC too");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
}

#[tokio::test]
async fn logins_from_one_ip_are_rate_limited() {
    let app = spawn_configured(|c| {
        c.http.login_rate_per_min = 3;
        c.core.login_failures_per_address = 1000;
    })
    .await;

    for attempt in 1..=3 {
        let r = app.login(&format!("user{attempt}"), "wrong-password").await;
        assert_eq!(r.code(), 401, "attempt #{attempt} is within the limit: {}", r.text);
    }
    let r = app.login("user4", "wrong-password").await;
    assert_rate_limited(&r);
    assert_rate_limited(&app.login("admin", ADMIN_PASSWORD).await);
}

/// POST /rooms from this test, claiming to come from `forwarded_for`.
async fn open_room(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req =
        app.client.post(format!("{}/api/v1/rooms", app.address)).json(&serde_json::json!({"name": "Ana"}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn rooms_opened_from_one_address_are_limited_and_a_forged_forwarded_for_does_not_help() {
    let app = spawn_configured(|c| c.core.rooms_per_ip_per_min = 3).await;
    for i in 0..3 {
        assert_eq!(open_room(&app, Some(&format!("198.51.100.{i}"))).await.status(), 201);
    }
    // The peer is not a trusted proxy: what it claims changes nothing.
    let r = open_room(&app, Some("203.0.113.77")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_room_budget() {
    let app = spawn_configured(|c| {
        c.core.rooms_per_ip_per_min = 2;
        c.http.listener.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            assert_eq!(open_room(&app, Some(client)).await.status(), 201, "{client}");
        }
        assert_eq!(open_room(&app, Some(client)).await.status(), 429, "{client}'s third room");
    }
}

#[tokio::test]
async fn spaces_around_a_username_do_not_buy_more_guesses() {
    let app = spawn_configured(|c| {
        c.core.login_failures_per_address = 3;
        c.http.login_rate_per_min = 1000;
    })
    .await;
    for name in [" admin", "admin ", "ADMIN\n"] {
        app.login(name, "wrong-password").await.problem(401, "unauthorized");
    }
    assert_rate_limited(&app.login("\tadmin", "wrong-password").await);
}

#[tokio::test]
async fn one_address_keeps_only_so_many_rooms_open_at_once() {
    let app = spawn_configured(|c| c.core.open_rooms_per_ip = 2).await;
    let first = app.create_room("Ana", None).await;
    app.create_room("Ana", None).await;
    let third = open_room(&app, None).await;
    assert_eq!(third.status(), 429, "a third open room from one address");
    assert!(third.headers().contains_key("retry-after"));
    // Once one of them ends, there is room again.
    let agent = app.create_agent("agent").await;
    app.accepted(&agent, &first.id).await;
    app.close(&agent.token, &first.id, None).await.ok(200);
    assert_eq!(open_room(&app, None).await.status(), 201);
}

#[tokio::test]
async fn grpc_create_room_shares_the_per_address_limit() {
    use livechat_proto::v1::{CreateRoomRequest, room_service_client::RoomServiceClient};
    let app = spawn_configured(|c| c.core.rooms_per_ip_per_min = 2).await;
    assert_eq!(open_room(&app, None).await.status(), 201);
    let mut grpc = RoomServiceClient::connect(app.grpc_address.clone()).await.unwrap();
    let request = || CreateRoomRequest { name: "Ana".into(), ..Default::default() };
    grpc.create_room(request()).await.expect("the second room of the minute");
    let refused =
        grpc.create_room(request()).await.expect_err("the third is over the limit, whatever the entry");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
}
