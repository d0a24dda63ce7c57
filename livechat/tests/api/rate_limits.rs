//! Login rate limits: per username (failures) and per client IP.

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
