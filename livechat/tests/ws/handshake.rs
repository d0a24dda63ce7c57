//! The upgrade: no or bad token is an HTTP 401 before any WebSocket exists;
//! the token may come in the Authorization header or the access_token query.

use livechat_test_support::{app::*, ws::*};

#[track_caller]
fn assert_refused_401(r: Result<WsClient, (u16, String)>, what: &str) {
    match r {
        Ok(_) => panic!("{what}: the upgrade succeeded, it should be an HTTP 401"),
        Err((status, body)) => {
            assert_eq!(status, 401, "{what}: refused with {status}: {body}");
            let b: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{what}: the 401 body is not JSON: {body:?}"));
            assert_eq!(b["code"], "unauthorized", "{what}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_without_a_valid_token_is_refused_with_401_and_a_query_token_is_accepted() {
    let app = spawn_app_without_limits().await;
    let room = app.create_room("Ana", Some("Hello?")).await;

    assert_refused_401(app.try_ws(None, Auth::Header).await, "no token");
    assert_refused_401(app.try_ws(Some("not-a-jwt"), Auth::Header).await, "a garbage bearer token");
    assert_refused_401(app.try_ws(Some("not-a-jwt"), Auth::Query).await, "a garbage access_token");
    // A well-formed token signed with another secret.
    let mut forged: Vec<&str> = room.visitor_token.split('.').collect();
    forged[2] = "c2lnbmF0dXJlLW9mLXNvbWVvbmUtZWxzZQ";
    assert_refused_401(
        app.try_ws(Some(&forged.join(".")), Auth::Header).await,
        "a token with a wrong signature",
    );

    // The visitor token in the query parameter, as a browser sends it.
    let mut visitor = match app.try_ws(Some(&room.visitor_token), Auth::Query).await {
        Ok(c) => c,
        Err((s, b)) => panic!("a valid access_token was refused with {s}: {b}"),
    };
    let welcome = visitor.expect_type("welcome").await;
    assert_eq!(welcome["role"], "visitor", "{welcome}");

    // An agent's token in the header.
    let admin = app.admin().await;
    let (_agent, welcome) = app.ws_welcomed(&admin.token).await;
    assert_eq!(welcome["role"], "agent", "{welcome}");
}
