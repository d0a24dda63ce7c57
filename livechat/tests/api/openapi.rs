//! GET /api/v1/openapi.json describes exactly what the server serves.

use reqwest::Method;
use serde_json::{Value, json};

use livechat_test_support::app::*;

/// Every method and path of the docs/protocol.md REST table, as OpenAPI paths.
const REST_TABLE: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/rooms"),
    ("get", "/api/v1/rooms"),
    ("get", "/api/v1/rooms/{id}"),
    ("post", "/api/v1/rooms/{id}/accept"),
    ("post", "/api/v1/rooms/{id}/decline"),
    ("post", "/api/v1/rooms/{id}/close"),
    ("post", "/api/v1/rooms/{id}/transfer"),
    ("get", "/api/v1/rooms/{id}/messages"),
    ("post", "/api/v1/rooms/{id}/messages"),
    ("get", "/api/v1/canned-responses"),
    ("post", "/api/v1/canned-responses"),
    ("put", "/api/v1/canned-responses/{id}"),
    ("delete", "/api/v1/canned-responses/{id}"),
    ("get", "/api/v1/settings"),
    ("put", "/api/v1/settings"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("patch", "/api/v1/agents/{id}"),
    ("delete", "/api/v1/agents/{id}"),
    ("get", "/api/v1/groups"),
    ("post", "/api/v1/groups"),
    ("put", "/api/v1/groups/{name}"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn document(app: &TestApp) -> Value {
    let r = app.get("/api/v1/openapi.json", None).await;
    r.json(200).clone()
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_and_lists_every_rest_route() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let version = doc["openapi"].as_str().expect("`openapi` version string");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths object");

    let missing: Vec<String> = REST_TABLE
        .iter()
        .filter(|(m, p)| paths.get(*p).and_then(|item| item.get(*m)).is_none())
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(missing.is_empty(), "routes of docs/protocol.md missing from the document: {missing:?}");

    // Each path parameter is declared; each protected operation says it needs a bearer token.
    for (m, p) in REST_TABLE {
        let Some(op) = paths.get(*p).and_then(|i| i.get(*m)) else {
            continue;
        };
        for param in ["id", "name"] {
            if p.contains(&format!("{{{param}}}")) {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x["name"] == param && x["in"] == "path"));
                assert!(declared, "{m} {p} declares its path parameter {param}");
            }
        }
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{m} {p} has responses");
    }
    assert!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer",
        "a bearer security scheme: {}",
        doc["components"]
    );
}

#[tokio::test]
async fn every_path_in_the_openapi_document_is_served() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().expect("paths object").clone();
    assert!(!paths.is_empty());

    let mut checked = 0;
    for (path, item) in &paths {
        let concrete = path.replace("{id}", "no-such-id").replace("{name}", "no-such-group");
        assert!(!concrete.contains('{'), "an unexpected path parameter in {path}");
        for method in METHODS {
            if item.get(*method).is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(*method, "post" | "put" | "patch").then(|| json!({}));
            let r = app.request(m, &concrete, Some(&admin), body).await;
            let route_missing = r.code() == 404 && r.body["detail"] == "no such route";
            assert!(!route_missing, "{method} {path} is documented but not served: {}", r.text);
            assert_ne!(r.code(), 405, "{method} {path} is documented but the method is not served");
            assert!(r.code() < 500, "{method} {path} → {}: {}", r.code(), r.text);
            checked += 1;
        }
    }
    assert!(checked >= REST_TABLE.len() - 1, "only {checked} operations documented");
}
