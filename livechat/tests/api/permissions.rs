//! Who may call what: admin routes, room visibility, tokens.

use reqwest::Method;
use serde_json::json;

use livechat_test_support::*;
use livechat_test_support::{app::*, rest::*, shapes::*};

#[tokio::test]
async fn every_admin_route_is_forbidden_to_an_agent_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bea = app.create_agent("agent").await;
    let admin_id =
        app.login("admin", ADMIN_PASSWORD).await.json(200)["agent"]["id"].as_str().unwrap().to_string();

    let new_agent =
        json!({"username": "mallory", "password": "mallory-pass-1", "name": "M", "group": "admin"});
    let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/agents".into(), None),
        (Method::POST, "/agents".into(), Some(new_agent)),
        (Method::PATCH, format!("/agents/{admin_id}"), Some(json!({"password": "taken-over-1"}))),
        (Method::PATCH, format!("/agents/{}", bea.id), Some(json!({"group": "admin"}))),
        (Method::DELETE, format!("/agents/{admin_id}"), None),
        (Method::GET, "/groups".into(), None),
        (Method::POST, "/groups".into(), Some(json!({"name": "crew", "permissions": ["agents.manage"]}))),
        (
            Method::PUT,
            "/groups/agent".into(),
            Some(json!({"name": "agent", "permissions": ["agents.manage", "settings.manage"]})),
        ),
        (Method::PUT, "/settings".into(), Some(json!({"history_load_count": 3}))),
    ];
    for (method, path, body) in calls {
        let r = app.request(method.clone(), &path, Some(&bea.token), body).await;
        assert_eq!(r.code(), 403, "{method} {path} as a plain agent: {}", r.text);
        r.problem(403, "forbidden");
    }

    // Nothing changed.
    let agents = app.get("/agents", Some(&admin)).await;
    let list = agents.json(200)["agents"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", agents.text);
    let me = list.iter().find(|a| a["id"] == bea.id.as_str()).unwrap();
    assert_eq!(me["group"], "agent");
    app.login("admin", ADMIN_PASSWORD).await.json(200);
    let groups = app.get("/groups", Some(&admin)).await;
    let groups = groups.json(200)["groups"].as_array().unwrap().clone();
    assert!(!groups.iter().any(|g| g["name"] == "crew"));
    let agent_group = groups.iter().find(|g| g["name"] == "agent").unwrap();
    assert_eq!(agent_group["permissions"], json!(["rooms.accept"]));
    assert_eq!(app.settings(&admin).await.json(200), &default_settings());
}

#[tokio::test]
async fn an_agent_without_view_all_sees_the_queue_and_their_own_rooms_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ana = app.create_agent("agent").await;
    let bea = app.create_agent("agent").await;
    let queued = app.create_room("Queued Quinn", Some("q")).await;
    let anas = app.engaged_room(&ana, "Ana's visitor").await;
    let beas = app.engaged_room(&bea, "Bea's visitor").await;

    let r = app.list_rooms(&bea.token, "").await;
    let seen = room_ids(r.json(200));
    assert!(seen.contains(&queued.id), "the queue is visible: {seen:?}");
    assert!(seen.contains(&beas.id), "her own room is visible: {seen:?}");
    assert!(!seen.contains(&anas.id), "another agent's room must not be listed: {}", r.text);
    let r = app.list_rooms(&bea.token, "status=engaged").await;
    assert_eq!(room_ids(r.json(200)), vec![beas.id.clone()]);
    let r = app.list_rooms(&bea.token, "mine=true").await;
    assert_eq!(room_ids(r.json(200)), vec![beas.id.clone()]);

    app.get_room(&bea.token, &anas.id).await.problem(403, "forbidden");
    app.history(&bea.token, &anas.id, "").await.problem(403, "forbidden");
    app.get_room(&bea.token, &beas.id).await.json(200);
    app.get_room(&bea.token, &queued.id).await.json(200);

    // An admin (rooms.view_all) sees them all.
    let r = app.list_rooms(&admin, "").await;
    let all = room_ids(r.json(200));
    for id in [&queued.id, &anas.id, &beas.id] {
        assert!(all.contains(id), "admin sees {id}: {all:?}");
    }
    app.get_room(&admin, &anas.id).await.json(200);

    // A bad status filter is a 422 naming it.
    app.list_rooms(&bea.token, "status=open").await.invalid_field("status");
}

#[tokio::test]
async fn a_visitor_token_opens_only_its_own_room() {
    let app = spawn_app().await;
    let mine = app.create_room("Ana", Some("mine")).await;
    let other = app.create_room("Bob", Some("other")).await;
    let v = &mine.visitor_token;

    let r = app.get_room(v, &mine.id).await;
    assert_room_shape(r.json(200));
    app.get_room(v, &other.id).await.problem(403, "forbidden");
    app.history(v, &other.id, "").await.problem(403, "forbidden");
    app.send(v, &other.id, "sneaky", None).await.problem(403, "forbidden");
    app.accept(v, &other.id).await.problem(403, "forbidden");
    // Agent-only routes refuse a visitor.
    let r = app.list_rooms(v, "").await;
    assert_eq!(r.code(), 403, "GET /rooms with a visitor token: {}", r.text);
    r.problem(403, "forbidden");
    app.get("/canned-responses", Some(v)).await.problem(403, "forbidden");
    assert_eq!(seqs(app.history(&other.visitor_token, &other.id, "").await.json(200)), vec![1]);
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_garbage_token_are_unauthorized() {
    let app = spawn_app().await;
    let room = app.create_room("Ana", None).await;
    for path in ["/rooms".to_string(), format!("/rooms/{}", room.id), "/settings".into(), "/agents".into()] {
        let r = app.get(&path, None).await;
        r.problem(401, "unauthorized");
        for garbage in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            app.get(&path, Some(garbage)).await.problem(401, "unauthorized");
        }
    }
    // Another scheme is no bearer token.
    let r = app
        .client
        .get(app.url("/rooms"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.send("garbage", &room.id, "x", None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn an_agent_without_permissions_cannot_read_the_queue() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.post("/groups", Some(&admin), serde_json::json!({"name": "viewers", "permissions": []}))
        .await
        .json(201);
    let idle = app.create_agent("viewers").await;
    let room = app.create_room("Ana", Some("my private question")).await;

    let list = app.get("/rooms?status=queued", Some(&idle.token)).await;
    assert_eq!(room_ids(list.json(200)), Vec::<String>::new(), "{}", list.text);
    app.get(&format!("/rooms/{}", room.id), Some(&idle.token)).await.problem(403, "forbidden");
    app.get(&format!("/rooms/{}/messages", room.id), Some(&idle.token)).await.problem(403, "forbidden");
    // An agent who may accept it still sees it.
    let bea = app.create_agent("agent").await;
    let list = app.get("/rooms?status=queued", Some(&bea.token)).await;
    assert_eq!(room_ids(list.json(200)), vec![room.id.clone()]);
}
