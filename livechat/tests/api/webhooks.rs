//! Outbound webhooks: an admin registers an endpoint and it is told, by
//! signed POSTs, of every event of a chat in the room's order; targets in
//! private networks are refused unless allowed; a receiver that is down
//! gets everything once it is back, across a restart; a slow receiver
//! holds up no other; retries end after a day.

use std::time::Duration;

use serde_json::{Value, json};

use livechat_test_support::app::*;
use livechat_test_support::shapes::assert_keys;
use livechat_test_support::webhooks::{Received, WebhookReceiver};

const EVERY_EVENT: [&str; 7] = [
    "room.queued",
    "room.accepted",
    "room.transferred",
    "room.closed",
    "room.expired",
    "message.created",
    "room.rated",
];

/// Lets webhooks reach this machine (the receivers listen on 127.0.0.1).
async fn allow_loopback(app: &TestApp) {
    let admin = app.admin_token().await;
    let r = app
        .put("/workspace-settings", Some(&admin), json!({"webhook_allowed_networks": ["127.0.0.0/8"]}))
        .await;
    assert_eq!(r.json(200)["webhook_allowed_networks"], json!(["127.0.0.0/8"]));
}

/// Registers `receiver` for `events` and hands it the secret; the webhook.
async fn register(app: &TestApp, receiver: &WebhookReceiver, events: &[&str]) -> Value {
    let admin = app.admin_token().await;
    let r = app.post("/webhooks", Some(&admin), json!({"url": receiver.url, "events": events})).await;
    let hook = r.json(201).clone();
    assert_keys(&hook, &["id", "url", "events", "enabled", "created_at", "secret"]);
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    receiver.set_secret(secret);
    hook
}

async fn deliveries(app: &TestApp, hook: &Value) -> Vec<Value> {
    let admin = app.admin_token().await;
    let r = app
        .get(&format!("/webhooks/{}/deliveries?limit=100", hook["id"].as_str().unwrap()), Some(&admin))
        .await;
    r.json(200)["deliveries"].as_array().unwrap().clone()
}

/// The event types of one room's deliveries, in the order they came.
fn story(got: &[Received], room_id: &str) -> Vec<String> {
    got.iter()
        .filter(|r| {
            let data = &r.body["data"];
            data["room"]["id"] == room_id || data["room_id"] == room_id
        })
        .map(|r| r.event_type.clone())
        .collect()
}

#[tokio::test]
async fn an_endpoint_is_told_every_event_of_a_chat_in_order_and_signed() {
    let app = spawn_app_without_limits().await;
    allow_loopback(&app).await;
    let receiver = WebhookReceiver::start().await;
    let hook = register(&app, &receiver, &EVERY_EVENT).await;
    let admin = app.admin_token().await;
    // The list never shows the secret again.
    let listed = app.get("/webhooks", Some(&admin)).await.json(200)["webhooks"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert_eq!(listed[0]["events"], json!(EVERY_EVENT));

    let bea = app.create_named_agent("Bea").await;
    let cal = app.create_named_agent("Cal").await;
    let room = app.engaged_room(&bea, "Ana").await;
    app.sent(&room.visitor_token, &room.id, "Where is my order?").await;
    app.sent(&bea.token, &room.id, "Looking now").await;
    let moved = app
        .post(&format!("/rooms/{}/transfer", room.id), Some(&bea.token), json!({"agent_id": cal.id}))
        .await;
    moved.json(200);
    app.close(&cal.token, &room.id, None).await.json(200);
    let rated =
        app.post(&format!("/rooms/{}/rating", room.id), Some(&room.visitor_token), json!({"score": 5})).await;
    rated.json(201);

    let got = receiver.wait_accepted(12).await;
    assert_eq!(
        story(&got, &room.id),
        [
            "room.queued",
            "message.created",
            "room.accepted",
            "message.created",
            "message.created",
            "message.created",
            "room.transferred",
            "message.created",
            "message.created",
            "message.created",
            "room.closed",
            "room.rated",
        ]
    );
    // Messages in seq order, each body what the REST API returns.
    let seqs: Vec<u64> = got
        .iter()
        .filter(|r| r.event_type == "message.created")
        .map(|r| r.body["data"]["message"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for r in &got {
        assert!(r.signed, "bad signature or headers on {:?}", r.body);
        assert!((now - r.t).abs() < 300, "t={} is not now", r.t);
        assert_eq!(r.body["id"], r.delivery_id);
        assert_eq!(r.body["type"], r.event_type);
        assert_keys(&r.body, &["id", "type", "created_at", "data"]);
    }
    let accepted = got.iter().find(|r| r.event_type == "room.accepted").unwrap();
    assert_eq!(accepted.body["data"]["room"]["agent"]["name"], "Bea");
    let transferred = got.iter().find(|r| r.event_type == "room.transferred").unwrap();
    assert_eq!(transferred.body["data"]["room"]["agent"]["name"], "Cal");
    let rating = got.iter().find(|r| r.event_type == "room.rated").unwrap();
    assert_eq!(rating.body["data"]["rating"]["score"], 5);
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "each delivery once");

    // The admin sees each delivery: delivered at the first try, with its answer.
    let listed = all_delivered(&app, &hook).await;
    assert_eq!(listed.len(), 12);
    for d in &listed {
        assert_keys(
            d,
            &[
                "id",
                "webhook_id",
                "event_type",
                "room_id",
                "state",
                "attempts",
                "created_at",
                "last_attempt_at",
                "next_attempt_at",
                "last_status",
                "last_error",
                "last_response_ms",
            ],
        );
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 204);
        assert!(d["last_response_ms"].is_u64());
    }
    assert_eq!(listed[0]["event_type"], "room.rated", "newest first");
}

#[tokio::test]
async fn targets_in_private_networks_are_refused_unless_an_admin_allows_them() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    let receiver = WebhookReceiver::start().await;
    let port = receiver.url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().to_string();
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hooks"),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://10.0.0.7/hooks".into(),
        "http://[::1]/hooks".into(),
        "ftp://93.184.216.34/hooks".into(),
        "not a url".into(),
    ] {
        let r = app.post("/webhooks", Some(&admin), json!({"url": url, "events": ["room.closed"]})).await;
        r.invalid_field("url");
    }
    let r =
        app.post("/webhooks", Some(&admin), json!({"url": receiver.url, "events": ["room.deleted"]})).await;
    assert_eq!(r.invalid_field("events")["errors"].as_array().unwrap().len(), 2, "the URL is refused too");
    let bad = app
        .put("/workspace-settings", Some(&admin), json!({"webhook_allowed_networks": ["10.0.0.0/33"]}))
        .await;
    bad.invalid_field("webhook_allowed_networks");
    let bea = app.create_named_agent("Bea").await;
    let r = app
        .post("/webhooks", Some(&bea.token), json!({"url": receiver.url, "events": ["room.closed"]}))
        .await;
    r.problem(403, "forbidden");

    // Allowed, it is registered, and a test event goes through.
    allow_loopback(&app).await;
    let hook = register(&app, &receiver, &["room.closed"]).await;
    let path = format!("/webhooks/{}/test", hook["id"].as_str().unwrap());
    let ping = app.post_empty(&path, Some(&admin)).await.json(202).clone();
    assert_eq!(ping["event_type"], "ping");
    assert_eq!(ping["room_id"], Value::Null);
    let got = receiver.wait_accepted(1).await;
    assert_eq!(got[0].event_type, "ping");
    assert_eq!(got[0].delivery_id, ping["id"]);
    assert!(got[0].signed);

    // Allowed no more: the next delivery is refused at the moment of sending.
    app.put("/workspace-settings", Some(&admin), json!({"webhook_allowed_networks": []})).await.json(200);
    let refused = app.post_empty(&path, Some(&admin)).await.json(202).clone();
    let tried = wait_for_delivery(&app, &hook, refused["id"].as_str().unwrap(), |d| d["attempts"] == 1).await;
    assert_eq!(tried["state"], "pending", "{tried}");
    assert_eq!(tried["last_status"], Value::Null);
    assert!(tried["last_error"].as_str().unwrap().contains("not a public address"), "{tried}");
    assert_eq!(receiver.received().len(), 1, "nothing reached the receiver");
}

/// The endpoint's deliveries once every one is settled as delivered (the
/// receiver has a delivery a moment before its answer is recorded).
async fn all_delivered(app: &TestApp, hook: &Value) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let listed = deliveries(app, hook).await;
        if listed.iter().all(|d| d["state"] == "delivered") {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all delivered: {listed:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the endpoint's deliveries until `id` satisfies `done` (up to 15 s).
async fn wait_for_delivery(app: &TestApp, hook: &Value, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found = deliveries(app, hook).await.into_iter().find(|d| d["id"] == id);
        if let Some(d) = found.filter(|d| done(d)) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery {id} did not get there: {:?}",
            deliveries(app, hook).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_once_in_order_across_a_restart() {
    let app = spawn_app_without_limits().await;
    allow_loopback(&app).await;
    let receiver = WebhookReceiver::start().await;
    let hook = register(&app, &receiver, &["message.created", "room.closed"]).await;
    receiver.set_failing(true);
    let bea = app.create_named_agent("Bea").await;
    let room = app.engaged_room(&bea, "Ana").await;
    for n in 1..=3 {
        app.sent(&room.visitor_token, &room.id, &format!("message {n}")).await;
    }
    app.close(&bea.token, &room.id, None).await.json(200);

    // Only the room's oldest delivery is tried while it fails: the others wait
    // behind it, so that the room's order holds.
    receiver.wait_for("a failed try", |got| !got.is_empty()).await;
    let listed = deliveries(&app, &hook).await;
    assert_eq!(listed.len(), 7, "{listed:?}");
    let tried: Vec<&Value> = listed.iter().filter(|d| d["attempts"] != 0).collect();
    assert_eq!(tried.len(), 1, "{listed:?}");
    assert_eq!(tried[0]["last_status"], 503);
    assert_eq!(tried[0]["state"], "pending");
    assert!(tried[0]["next_attempt_at"].is_string());

    // The core restarts on the same database; the receiver comes back.
    let app = app.restart(|_| {}).await;
    receiver.set_failing(false);
    app.advance_clock(Duration::from_secs(60)).await;
    let got = receiver.wait_accepted(7).await;
    assert_eq!(
        story(&got, &room.id),
        ["message.created"; 6].iter().chain(&["room.closed"]).map(|s| s.to_string()).collect::<Vec<_>>()
    );
    let seqs: Vec<u64> = got.iter().filter_map(|r| r.body["data"]["message"]["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    // Exactly once each: the one that failed came again under its own id.
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 7);
    assert!(
        receiver.received().iter().filter(|r| r.answered == 503).all(|r| r.delivery_id == got[0].delivery_id)
    );
    assert_eq!(all_delivered(&app, &hook).await.len(), 7);
}

#[tokio::test]
async fn a_slow_endpoint_holds_up_no_other_endpoint() {
    let app = spawn_app_without_limits().await;
    allow_loopback(&app).await;
    let slow = WebhookReceiver::start().await;
    let quick = WebhookReceiver::start().await;
    register(&app, &slow, &["room.queued"]).await;
    register(&app, &quick, &["room.queued"]).await;
    slow.hold().await;
    let mut rooms = Vec::new();
    for n in 0..10 {
        rooms.push(app.create_room(&format!("Visitor {n}"), None).await.id);
    }
    // Every room reached the quick endpoint while the slow one has not
    // answered a single delivery.
    let got = quick.wait_accepted(10).await;
    assert!(slow.received().is_empty());
    let mut told: Vec<String> =
        got.iter().map(|r| r.body["data"]["room"]["id"].as_str().unwrap().to_string()).collect();
    told.sort();
    rooms.sort();
    assert_eq!(told, rooms);
    slow.release();
    slow.wait_accepted(10).await;
}

#[tokio::test]
async fn retries_end_after_a_day_and_a_switched_off_endpoint_is_given_nothing() {
    let app = spawn_app_without_limits().await;
    allow_loopback(&app).await;
    let admin = app.admin_token().await;
    let receiver = WebhookReceiver::start().await;
    let hook = register(&app, &receiver, &["room.queued"]).await;
    let id = hook["id"].as_str().unwrap();
    receiver.set_failing(true);
    app.create_room("Ana", None).await;
    receiver.wait_for("a failed try", |got| !got.is_empty()).await;
    app.advance_clock(Duration::from_secs(25 * 3600)).await;
    receiver.wait_for("the last try", |got| got.len() >= 2).await;
    let first = deliveries(&app, &hook).await[0].clone();
    let failed =
        wait_for_delivery(&app, &hook, first["id"].as_str().unwrap(), |d| d["state"] == "failed").await;
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["next_attempt_at"], Value::Null);

    // Off: no new deliveries. On again with other events, and deleted.
    let off = app.patch(&format!("/webhooks/{id}"), Some(&admin), json!({"enabled": false})).await;
    assert_eq!(off.json(200)["enabled"], false);
    app.create_room("Ben", None).await;
    assert_eq!(deliveries(&app, &hook).await.len(), 1);
    let changed = app
        .patch(&format!("/webhooks/{id}"), Some(&admin), json!({"enabled": true, "events": ["room.closed"]}))
        .await;
    assert_eq!(changed.json(200)["events"], json!(["room.closed"]));
    app.patch(&format!("/webhooks/{id}"), Some(&admin), json!({"events": []})).await.invalid_field("events");
    app.delete(&format!("/webhooks/{id}"), Some(&admin)).await.ok(204);
    app.get(&format!("/webhooks/{id}"), Some(&admin)).await.problem(404, "not_found");
}
