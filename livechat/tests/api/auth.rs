//! POST /auth/login.

use livechat_test_support::app::*;
use livechat_test_support::*;

#[tokio::test]
async fn logging_in_with_good_credentials_returns_a_bearer_token_and_the_agent_but_no_password() {
    let app = spawn_app().await;

    let r = app.login("admin", ADMIN_PASSWORD).await;
    let b = r.json(200);

    for key in ["access_token", "token_type", "expires_in", "agent"] {
        assert!(b.get(key).is_some(), "login answer lacks `{key}`: {b}");
    }
    let token = b["access_token"].as_str().expect("access_token is a string");
    assert_eq!(token.split('.').count(), 3, "access_token is a JWT: {token}");
    assert_eq!(b["token_type"], "Bearer");
    assert!(b["expires_in"].as_u64().is_some_and(|s| s > 0), "expires_in: {b}");
    let agent = &b["agent"];
    for key in ["id", "username", "name", "group"] {
        assert!(agent[key].as_str().is_some_and(|s| !s.is_empty()), "agent.{key}: {b}");
    }
    assert_eq!(agent["username"], "admin");
    assert_eq!(agent["group"], "admin");

    // No password, hashed or not, anywhere in the answer.
    let text = r.text.to_lowercase();
    assert!(!text.contains("password"), "the login answer mentions a password: {}", r.text);
    assert!(!text.contains("pbkdf2"), "the login answer carries a hash: {}", r.text);
    assert!(!r.text.contains(ADMIN_PASSWORD));

    // The token works.
    app.list_rooms(token, "").await.json(200);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = spawn_app().await;

    let wrong_password = app.login("admin", "not-the-password").await;
    let unknown_user = app.login("nobody-here", "not-the-password").await;

    wrong_password.problem(401, "unauthorized");
    unknown_user.problem(401, "unauthorized");
    assert_eq!(wrong_password.body, unknown_user.body, "the two failures must not be told apart");
    assert!(wrong_password.headers.get("retry-after").is_none());
}
