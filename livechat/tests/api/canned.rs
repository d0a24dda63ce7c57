//! /canned-responses: personal ones stay personal, shared ones need
//! canned.manage_shared.

use serde_json::{Value, json};

use livechat_test_support::{app::*, rest::*, shapes::*};

fn shortcuts(list: &Value) -> Vec<String> {
    let mut s: Vec<String> = list["canned_responses"]
        .as_array()
        .unwrap_or_else(|| panic!("no canned_responses array: {list}"))
        .iter()
        .map(|c| {
            assert_keys(c, &["id", "shortcut", "title", "body", "scope"]);
            c["shortcut"].as_str().unwrap().to_string()
        })
        .collect();
    s.sort();
    s
}

async fn create(app: &TestApp, token: &str, shortcut: &str, title: &str, scope: Option<&str>) -> Resp {
    let mut body = json!({"shortcut": shortcut, "title": title, "body": format!("Body of {title}")});
    if let Some(s) = scope {
        body["scope"] = json!(s);
    }
    app.post("/canned-responses", Some(token), body).await
}

#[tokio::test]
async fn an_agent_sees_their_own_and_shared_canned_responses_but_never_another_agents_personal_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ana = app.create_agent("agent").await;
    let bea = app.create_agent("agent").await;

    let r = create(&app, &ana.token, "hi", "Greeting", None).await;
    let mine = r.json(201).clone();
    assert_keys(&mine, &["id", "shortcut", "title", "body", "scope"]);
    assert_eq!(mine["scope"], "personal");
    assert_eq!(mine["shortcut"], "hi");
    assert_eq!(mine["body"], "Body of Greeting");
    let r = create(&app, &bea.token, "bye", "Farewell", Some("personal")).await;
    let beas = r.json(201).clone();
    let r = create(&app, &admin, "refund", "Refund policy", Some("shared")).await;
    assert_eq!(r.json(201)["scope"], "shared");

    let r = app.get("/canned-responses", Some(&ana.token)).await;
    assert_keys(r.json(200), &["canned_responses"]);
    assert_eq!(shortcuts(&r.body), vec!["hi", "refund"]);
    let r = app.get("/canned-responses", Some(&bea.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["bye", "refund"]);

    // Someone else's personal one does not exist for Ana.
    let path = format!("/canned-responses/{}", beas["id"].as_str().unwrap());
    app.put(&path, Some(&ana.token), json!({"title": "mine now"})).await.problem(404, "not_found");
    app.delete(&path, Some(&ana.token)).await.problem(404, "not_found");
    let r = app.get("/canned-responses", Some(&bea.token)).await;
    let list = r.json(200)["canned_responses"].as_array().unwrap().clone();
    let kept = list.iter().find(|c| c["id"] == beas["id"]).expect("Bea's one survives");
    assert_eq!(kept["title"], "Farewell");

    // Her own she may change and delete.
    let path = format!("/canned-responses/{}", mine["id"].as_str().unwrap());
    let r = app.put(&path, Some(&ana.token), json!({"title": "Hello"})).await;
    let updated = r.json(200);
    assert_eq!(updated["title"], "Hello");
    assert_eq!(updated["shortcut"], "hi");
    assert_eq!(updated["id"], mine["id"]);
    let r = app.delete(&path, Some(&ana.token)).await;
    assert_eq!(r.code(), 204, "{}", r.text);
    let r = app.get("/canned-responses", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["refund"]);
}

#[tokio::test]
async fn canned_shortcuts_are_unique_per_owner_and_sharing_needs_permission() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ana = app.create_agent("agent").await;
    let bea = app.create_agent("agent").await;

    create(&app, &ana.token, "hi", "Greeting", None).await.json(201);
    create(&app, &ana.token, "hi", "Another greeting", None).await.problem(409, "conflict");
    // Another owner may use the same shortcut.
    create(&app, &bea.token, "hi", "Bea's greeting", None).await.json(201);

    // A plain agent may not share; an admin may.
    create(&app, &ana.token, "policy", "Policy", Some("shared")).await.problem(403, "forbidden");
    let r = create(&app, &admin, "policy", "Policy", Some("shared")).await;
    let shared = r.json(201).clone();
    assert_eq!(shared["scope"], "shared");
    // ... nor change or delete a shared one.
    let path = format!("/canned-responses/{}", shared["id"].as_str().unwrap());
    let r = app.put(&path, Some(&ana.token), json!({"title": "x"})).await;
    assert!([403, 404].contains(&r.code()), "a plain agent changing a shared one: {} {}", r.code(), r.text);
    assert_problem_shape(&r);
    let r = app.delete(&path, Some(&ana.token)).await;
    assert!([403, 404].contains(&r.code()), "{} {}", r.code(), r.text);
    let r = app.get("/canned-responses", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["hi", "policy"]);

    // Bad scopes and missing fields are 422s naming the field.
    create(&app, &ana.token, "x", "X", Some("everyone")).await.invalid_field("scope");
    app.post("/canned-responses", Some(&ana.token), json!({"shortcut": "y", "body": "b"}))
        .await
        .invalid_field("title");
}

#[tokio::test]
async fn canned_responses_are_searched_with_q() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ana = app.create_agent("agent").await;
    create(&app, &ana.token, "ship", "Shipping times", None).await.json(201);
    create(&app, &ana.token, "hi", "Greeting", None).await.json(201);
    create(&app, &admin, "refund", "Refund policy", Some("shared")).await.json(201);

    let r = app.get("/canned-responses?q=shipping", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["ship"]);
    let r = app.get("/canned-responses?q=REFUND", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["refund"], "q is case-insensitive");
    // The body is searched too ("Body of Greeting").
    let r = app.get("/canned-responses?q=of%20greet", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["hi"]);
    let r = app.get("/canned-responses?q=nothing-matches", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), Vec::<String>::new());
    let r = app.get("/canned-responses?q=", Some(&ana.token)).await;
    assert_eq!(shortcuts(r.json(200)), vec!["hi", "refund", "ship"]);
}
