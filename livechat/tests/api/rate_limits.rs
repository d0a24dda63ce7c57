//! Rate limits of the REST API: logins per username (failures) and per
//! client address, and rooms opened per client address.

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

#[tokio::test]
async fn a_username_is_locked_out_after_too_many_wrong_passwords() {
    let app = spawn_app_with(|_, http| {
        http.login_failures_per_user = 3;
        http.login_rate_per_min = 1000;
    })
    .await;

    for attempt in 1..=3 {
        let r = app.login("admin", "wrong-password").await;
        assert_eq!(r.code(), 401, "wrong password #{attempt}: {}", r.text);
    }
    let r = app.login("admin", "wrong-password").await;
    assert_rate_limited(&r);
    // Locked: even the right password waits now.
    assert_rate_limited(&app.login("admin", ADMIN_PASSWORD).await);
    // Another username is not affected.
    app.login("someone-else", "wrong-password").await.problem(401, "unauthorized");
}

#[tokio::test]
async fn logins_from_one_ip_are_rate_limited() {
    let app = spawn_app_with(|_, http| {
        http.login_rate_per_min = 3;
        http.login_failures_per_user = 1000;
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
    let app = spawn_app_with(|_, http| http.rooms_per_ip_per_min = 3).await;
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
    let app = spawn_app_with(|_, http| {
        http.rooms_per_ip_per_min = 2;
        http.listener.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
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
    let app = spawn_app_with(|_, http| {
        http.login_failures_per_user = 3;
        http.login_rate_per_min = 1000;
    })
    .await;
    for name in [" admin", "admin ", "ADMIN\n"] {
        app.login(name, "wrong-password").await.problem(401, "unauthorized");
    }
    assert_rate_limited(&app.login("\tadmin", "wrong-password").await);
}
