//! Integrations across replicas: automatic assignment with rooms arriving
//! at once through both cores (one owner each, nobody past capacity), and
//! webhook deliveries that reach a receiver which was down, across a core
//! restart, each once and in room order.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use livechat_test_support::webhooks::WebhookReceiver;
use reqwest::Method;
use serde_json::{Value, json};

use super::cluster::{ADMIN_PASSWORD, Cluster, services};
use super::{SERIAL, client::Rest};

/// An agent's console: a WebSocket kept open (and read) until dropped.
fn online(url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("the agent connects");
        while socket.next().await.is_some() {}
    })
}

async fn ok(rest: &Rest, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, v) = rest.call(method, path, Some(token), body).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_and_webhooks_hold_across_cores_and_a_restart() {
    if services().is_none() {
        eprintln!(
            "skipped: set LIVECHAT_TEST_DATABASE_URL and LIVECHAT_TEST_AMQP_URL to run the distributed suite"
        );
        return;
    }
    let _one = SERIAL.lock().await;
    let mut cluster = Cluster::start(2, 2).await;
    let rest = Rest::new(cluster.api());
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let settings = json!({"assignment_mode": "automatic", "agent_capacity": 2, "webhook_allowed_networks": ["127.0.0.0/8"]});
    ok(&rest, Method::PUT, "/workspace-settings", &admin, Some(settings)).await;
    let receiver = WebhookReceiver::start().await;
    let events = json!(["room.queued", "room.accepted", "message.created"]);
    let hook =
        ok(&rest, Method::POST, "/webhooks", &admin, Some(json!({"url": receiver.url, "events": events})))
            .await;
    receiver.set_secret(hook["secret"].as_str().unwrap());
    receiver.set_failing(true);

    let mut consoles = Vec::new();
    for (i, name) in ["bea", "cal", "dan"].into_iter().enumerate() {
        let token = rest.agent(&admin, name).await;
        consoles.push(online(cluster.ws(i % 2, &token)));
    }
    // Both cores see all three online (presence rows, within a heartbeat).
    for _ in 0..100 {
        let team = ok(&rest, Method::GET, "/team", &admin, None).await;
        let online = team["agents"].as_array().unwrap().iter().filter(|a| a["status"] == "online").count();
        if online == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every second core sees it too: the endpoint list is read each second.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let rest = &rest;
    let arrivals = (0..12).map(|n| async move { rest.room(&format!("Visitor {n}")).await.0 });
    let rooms: Vec<String> = futures::future::join_all(arrivals).await;
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for room in &rooms {
        let r = ok(rest, Method::GET, &format!("/rooms/{room}"), &admin, None).await;
        if r["status"] == "engaged" {
            *owners.entry(r["agent"]["name"].as_str().unwrap().to_string()).or_default() += 1;
            let history = rest.history(&admin, room).await;
            let joins =
                history.iter().filter(|m| m["content"].as_str().unwrap().ends_with("has entered the chat"));
            assert_eq!(joins.count(), 1, "{room}: {history:?}");
        }
    }
    assert_eq!(
        owners,
        BTreeMap::from([("bea".into(), 2), ("cal".into(), 2), ("dan".into(), 2)]),
        "two each, the rest queued"
    );

    // A core restarts while the receiver is down; then the receiver is back.
    receiver.wait_for("a failed try", |got| !got.is_empty()).await;
    cluster.cores[0].restart();
    receiver.set_failing(false);
    // 12 rooms queued with their first message; 6 accepted with a join text.
    let expected = 12 * 2 + 6 * 2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while receiver.accepted().len() < expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "got {} of {expected} deliveries",
            receiver.accepted().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = receiver.accepted();
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "no delivery accepted twice");
    assert_eq!(got.len(), expected);
    assert!(got.iter().all(|r| r.signed));
    for room in &rooms {
        let story: Vec<&str> = got
            .iter()
            .filter(|r| {
                r.body["data"]["room"]["id"] == room.as_str() || r.body["data"]["room_id"] == room.as_str()
            })
            .map(|r| r.event_type.as_str())
            .collect();
        let engaged = story.contains(&"room.accepted");
        let want: &[&str] = if engaged {
            &["room.queued", "message.created", "room.accepted", "message.created"]
        } else {
            &["room.queued", "message.created"]
        };
        assert_eq!(story, want, "{room}");
    }
    drop(consoles);
}
