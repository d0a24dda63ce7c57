//! Bad requests get problem+json 4xx answers, never a 500.

use reqwest::Method;
use serde_json::json;

use livechat_test_support::{app::*, rest::*, shapes::*};

#[tokio::test]
async fn invalid_json_is_a_400_invalid_problem() {
    let app = spawn_app().await;
    for body in [&b"{\"name\": "[..], b"not json", b"{\"name\":\"Ana\",}", b"{\"name\":\"Ana\""] {
        let r = app.request_raw(Method::POST, "/rooms", None, body.to_vec()).await;
        r.problem(400, "invalid");
    }
    let r = app.request_raw(Method::POST, "/auth/login", None, b"{".to_vec()).await;
    r.problem(400, "invalid");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_422_naming_it() {
    let app = spawn_app().await;
    app.post("/rooms", None, json!({"name": 5})).await.invalid_field("name");
    app.post("/rooms", None, json!({"name": "Ana", "message": ["hi"]})).await.invalid_field("message");
    app.post("/auth/login", None, json!({"username": "admin", "password": true}))
        .await
        .invalid_field("password");
    let room = app.create_room("Ana", None).await;
    app.send(&room.visitor_token, &room.id, "x", None).await.json(201);
    app.post(
        &format!("/rooms/{}/messages", room.id),
        Some(&room.visitor_token),
        json!({"content": {"text": "hi"}}),
    )
    .await
    .invalid_field("content");
    // A body that is JSON but not an object.
    let r = app.post("/rooms", None, json!(["Ana"])).await;
    r.problem(422, "invalid");
}

#[tokio::test]
async fn a_missing_required_field_is_a_422_naming_it() {
    let app = spawn_app().await;
    app.post("/rooms", None, json!({})).await.invalid_field("name");
    app.post("/auth/login", None, json!({"username": "admin"})).await.invalid_field("password");
    let room = app.create_room("Ana", None).await;
    app.post(&format!("/rooms/{}/messages", room.id), Some(&room.visitor_token), json!({"client_id": "c-1"}))
        .await
        .invalid_field("content");
    // No body at all where one is required.
    let r = app.post_empty("/rooms", None).await;
    assert!([400, 422].contains(&r.code()), "an empty body on POST /rooms: {} {}", r.code(), r.text);
    r.problem(r.code(), "invalid");
}

#[tokio::test]
async fn invalid_utf8_in_a_body_is_a_4xx() {
    let app = spawn_app().await;
    let r = app.request_raw(Method::POST, "/rooms", None, b"{\"name\":\"An\xff\xfe\"}".to_vec()).await;
    assert!(r.status.is_client_error(), "invalid UTF-8: {} {}", r.code(), r.text);
    assert_problem_shape(&r);
    assert_eq!(r.body["code"], "invalid");
    let r = app
        .request_raw(
            Method::POST,
            "/auth/login",
            None,
            b"{\"username\":\"\xc3\",\"password\":\"x\"}".to_vec(),
        )
        .await;
    assert!(r.status.is_client_error(), "invalid UTF-8: {} {}", r.code(), r.text);
    assert_problem_shape(&r);
}

#[tokio::test]
async fn a_two_mebibyte_body_is_a_413_too_large() {
    let app = spawn_app().await;
    let mut body = b"{\"name\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    body.extend(b"\"}");
    let r = app.request_raw(Method::POST, "/rooms", None, body).await;
    r.problem(413, "too_large");
}

#[tokio::test]
async fn an_unknown_settings_key_is_a_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app.put("/settings", Some(&admin), json!({"history_load_count": 5, "colour": "red"})).await;
    r.problem(422, "invalid");
    assert!(r.text.contains("colour"), "the problem names the unknown key: {}", r.text);
    assert_eq!(app.settings(&admin).await.json(200), &default_settings());
    // Wrong type of a known key.
    app.put("/settings", Some(&admin), json!({"history_load_count": "many"}))
        .await
        .invalid_field("history_load_count");
}

#[tokio::test]
async fn closing_a_room_with_an_empty_body_is_fine() {
    let app = spawn_app().await;
    let bea = app.create_agent("agent").await;
    let room = app.engaged_room(&bea, "Ana").await;
    // No body and no content type at all.
    let r = app.post_empty(&format!("/rooms/{}/close", room.id), Some(&bea.token)).await;
    assert_eq!(r.json(200)["status"], "closed");
    let r = app.history(&bea.token, &room.id, "limit=1").await;
    let last = &r.json(200)["messages"][0];
    assert_eq!(last["sender"]["kind"], "system");
    assert_eq!(last["content"], "This chat has been closed. Thank you!");

    // `{}` is fine too (on another room).
    let room = app.engaged_room(&bea, "Bob").await;
    let r = app.close(&bea.token, &room.id, Some(json!({}))).await;
    assert_eq!(r.json(200)["status"], "closed");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    for path in ["/api/v1/nothing-here", "/api/v1/rooms/x/y/z", "/api/v2/rooms", "/nothing-here"] {
        let r = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 404, "GET {path}: {body}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "GET {path}");
        assert_eq!(body["code"], "not_found", "GET {path}: {body}");
        assert_eq!(body["status"], 404);
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (method, path) in [
        (Method::DELETE, "/rooms"),
        (Method::PUT, "/auth/login"),
        (Method::GET, "/auth/login"),
        (Method::GET, "/rooms/x/accept"),
        (Method::PATCH, "/settings"),
        (Method::POST, "/api/v1/openapi.json"),
    ] {
        let r = app.request(method.clone(), path, Some(&admin), None).await;
        assert_eq!(r.code(), 405, "{method} {path}: {}", r.text);
        assert_problem_shape(&r);
        assert!(
            r.headers.get("allow").is_some(),
            "{method} {path}: a 405 says what is allowed: {:?}",
            r.headers
        );
    }
}

#[tokio::test]
async fn content_longer_than_max_message_chars_is_too_large_and_length_counts_characters() {
    let app = spawn_app().await;
    let room = app.create_room("Ana", None).await;
    let v = &room.visitor_token;
    // 4000 characters of two bytes each: at the limit, in characters.
    let at_limit = "é".repeat(4000);
    assert_eq!(app.send(v, &room.id, &at_limit, None).await.json(201)["content"], at_limit.as_str());
    app.send(v, &room.id, &"a".repeat(4001), None).await.problem(413, "too_large");
    // A client_id longer than 64 characters is refused, naming it.
    app.send(v, &room.id, "hi", Some(&"c".repeat(65))).await.invalid_field("client_id");
    app.send(v, &room.id, "hi", Some(&"c".repeat(64))).await.json(201);
    assert_eq!(seqs(app.history(v, &room.id, "").await.json(200)), vec![1, 2]);
}

/// PostgreSQL cannot store U+0000 (SQLite can): both databases must answer
/// the same, a 422 naming the field, and never a 500.
#[tokio::test]
async fn nul_characters_are_refused_as_invalid_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.post("/rooms", None, json!({"name": "Ana", "message": "hi\u{0}there"}))
        .await
        .invalid_field("message");
    app.post("/rooms", None, json!({"name": "Ana", "email": "ana\u{0}@example.com"}))
        .await
        .invalid_field("email");
    app.post("/rooms", None, json!({"name": "A\u{0}na"})).await.invalid_field("name");

    let room = app.create_room("Ana", Some("Hello")).await;
    let path = format!("/rooms/{}/messages", room.id);
    app.post(&path, Some(&room.visitor_token), json!({"content": "a\u{0}b"})).await.invalid_field("content");
    app.post(&path, Some(&room.visitor_token), json!({"content": "ok", "client_id": "c\u{0}1"}))
        .await
        .invalid_field("client_id");

    let canned = json!({"shortcut": "hi", "title": "Hi", "body": "Hello\u{0}"});
    app.post("/canned-responses", Some(&admin.token), canned).await.invalid_field("body");
    app.put("/settings", Some(&admin.token), json!({"close_message": "Bye\u{0}"}))
        .await
        .invalid_field("close_message");

    // An id with a NUL in it names nothing that exists.
    app.get("/rooms/abc%00def", Some(&admin.token)).await.problem(404, "not_found");
    app.get("/rooms/abc%00def/messages", Some(&admin.token)).await.problem(404, "not_found");
    let history = app.get(&path, Some(&room.visitor_token)).await;
    assert_eq!(seqs(history.json(200)), vec![1], "nothing with a NUL was stored");
}
