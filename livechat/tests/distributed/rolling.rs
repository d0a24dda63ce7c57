//! A rolling restart of every role under a steady load, as Kubernetes runs
//! one: for each replica in turn a new one starts and becomes ready, then
//! the old one gets SIGTERM. Clients reach the gateways and the adapter
//! through `Service`s that follow readiness. Nothing may be lost or
//! doubled, and no client may see an error it would have to handle by
//! hand: every send is acknowledged, every REST call answered 2xx, every
//! webhook 200. A WebSocket closed by a stopping gateway (1001) is
//! resumed by seq, as the console and the widget do by themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use livechat_test_support::channels::{self, Customer, FakePlatform};
use serde_json::{Value, json};

use crate::channels::says_until_taken;
use crate::client::{Live, Rest};
use crate::cluster::{ADMIN_PASSWORD, Cluster, Proc};
use crate::service::Service;

/// Between two sends of one side (a room stays under the 500 messages
/// one history read returns).
const PACE: Duration = Duration::from_millis(300);

/// What one sending side did while the cluster rolled.
struct Sent {
    live: Live,
    texts: Vec<String>,
    /// Answers other than an ack (a client would have had to act on them).
    errors: Vec<String>,
}

/// Sends `"<who> <i>"` every `PACE` until `stop`; a dropped connection is
/// resumed and the send repeated with its `client_id`.
async fn keep_sending(mut live: Live, who: String, stop: Arc<AtomicBool>) -> Sent {
    let (mut texts, mut errors) = (vec![], vec![]);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("{who} {i}");
        let frame =
            json!({"type": "send", "room_id": live.room, "content": text, "client_id": format!("{who}-{i}")});
        loop {
            live.ensure_connected().await;
            let answer = live.request(frame.clone()).await;
            if answer["type"] == "ack" {
                live.record(&answer["message"]);
                break;
            }
            if answer["code"] != "disconnected" {
                errors.push(format!("{text}: {answer}"));
                tokio::time::sleep(PACE).await;
            }
        }
        texts.push(text);
        i += 1;
        live.drain(PACE).await;
    }
    Sent { live, texts, errors }
}

/// Reads the agent's rooms and a room's latest messages over REST until
/// `stop`; every answer that is not 2xx, or no answer.
async fn keep_reading(
    api: String,
    token: String,
    room: String,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<String>) {
    let http = reqwest::Client::new();
    let (mut calls, mut errors) = (0, vec![]);
    while !stop.load(Ordering::Relaxed) {
        for path in [format!("/rooms/{room}/messages?limit=5"), "/rooms?status=engaged".to_string()] {
            calls += 1;
            match http.get(format!("{api}{path}")).bearer_auth(&token).send().await {
                Ok(res) if res.status().is_success() => {}
                Ok(res) => errors.push(format!(
                    "GET {path}: {} {}",
                    res.status(),
                    res.text().await.unwrap_or_default()
                )),
                Err(e) => errors.push(format!("GET {path}: {e}")),
            }
        }
        tokio::time::sleep(PACE).await;
    }
    (calls, errors)
}

/// A Telegram customer writing every `PACE` until `stop`: the texts, and
/// the webhook answers that were not 200.
async fn keep_writing(customer: Customer, stop: Arc<AtomicBool>) -> (Vec<String>, Vec<String>) {
    let (mut texts, mut refused) = (vec![], vec![]);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("customer {i}");
        refused.extend(says_until_taken(&customer, &text, customer.next_id()).await);
        texts.push(text);
        i += 1;
        tokio::time::sleep(PACE).await;
    }
    (texts, refused)
}

async fn accept(live: &mut Live) {
    let room = live.room.clone();
    let ack = live.request(json!({"type": "accept", "room_id": room})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

/// Replaces `old` behind `service` with `new`: ready behind it first, then
/// `old` is SIGTERMed (it drains and exits 0).
async fn replace_behind(service: &Service, old: &mut Proc, new: Proc) {
    service.add(new.port).await;
    let mut old_proc = std::mem::replace(old, new);
    let status = old_proc.terminate().expect("the old replica was running");
    assert!(status.success(), "a SIGTERMed {} exits 0, got {status:?}", old_proc.name);
    service.remove(old_proc.port);
}

pub async fn every_role_restarted_one_at_a_time_under_load(cluster: &mut Cluster) {
    let ws = Service::front(&cluster.gateways.iter().map(|g| g.port).collect::<Vec<_>>()).await;
    let api_service = Service::front(&[cluster.http.port]).await;
    let api = format!("http://127.0.0.1:{}/api/v1", api_service.port);
    let fake = FakePlatform::start().await;
    let mut adapter = cluster.adapter("telegram", channels::adapter_env("telegram", &fake)).await;
    let hooks = Service::front(&[adapter.port]).await;

    let rest = Rest::new(api.clone());
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let agent = rest.agent(&admin, "bea").await;
    let ws_url = |token: &str| format!("ws://127.0.0.1:{}/ws?access_token={token}", ws.port);

    // Three web chats and one Telegram customer, all with the same agent.
    let mut sides = vec![];
    let mut web_rooms = vec![];
    for n in 0..3 {
        let (room, visitor) = rest.room(&format!("Visitor {n}")).await;
        let mut a = Live::connect(ws_url(&agent), &room).await;
        accept(&mut a).await;
        let v = Live::connect(ws_url(&visitor), &room).await;
        sides.push((a, format!("agent-{n}")));
        sides.push((v, format!("visitor-{n}")));
        web_rooms.push(room);
    }
    let customer = Customer::telegram(&format!("http://127.0.0.1:{}", hooks.port), 7_001, "Tele");
    assert!(says_until_taken(&customer, "hello", customer.next_id()).await.is_empty());
    let telegram_room = wait_for_queued_room(&rest, &agent).await;
    let mut a = Live::connect(ws_url(&agent), &telegram_room).await;
    accept(&mut a).await;
    sides.push((a, "tg-agent".into()));

    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> =
        sides.into_iter().map(|(live, who)| tokio::spawn(keep_sending(live, who, stop.clone()))).collect();
    let reader = tokio::spawn(keep_reading(api.clone(), agent.clone(), web_rooms[0].clone(), stop.clone()));
    let chat = customer.id.clone();
    let writer = tokio::spawn(keep_writing(customer, stop.clone()));
    let settle = || tokio::time::sleep(Duration::from_secs(1));

    settle().await;
    for i in 0..cluster.cores.len() {
        cluster.roll_core(i).await;
        settle().await;
    }
    for i in 0..cluster.gateways.len() {
        let new = cluster.new_gateway(&format!("ws-{i}-new")).await;
        replace_behind(&ws, &mut cluster.gateways[i], new).await;
        settle().await;
    }
    let new = cluster.new_http("http-new").await;
    replace_behind(&api_service, &mut cluster.http, new).await;
    settle().await;
    let new = cluster.adapter("telegram", channels::adapter_env("telegram", &fake)).await;
    replace_behind(&hooks, &mut adapter, new).await;
    settle().await;
    stop.store(true, Ordering::Relaxed);

    let mut sent = vec![];
    for s in senders {
        sent.push(s.await.unwrap());
    }
    let (reads, read_errors) = reader.await.unwrap();
    let (customer_texts, refused_webhooks) = writer.await.unwrap();
    let send_errors: Vec<&String> = sent.iter().flat_map(|s| &s.errors).collect();
    let total: usize = sent.iter().map(|s| s.texts.len()).sum();
    let reconnects: u32 = sent.iter().map(|s| s.live.connections - 1).sum();
    eprintln!(
        "rolling restart: {total} sends, {reads} REST reads, {} webhook deliveries, {reconnects} WebSocket resumes",
        customer_texts.len()
    );
    assert!(send_errors.is_empty(), "sends answered with an error: {send_errors:?}");
    assert!(read_errors.is_empty(), "REST calls that failed: {read_errors:?}");
    assert!(refused_webhooks.is_empty(), "webhook deliveries refused: {refused_webhooks:?}");

    // Web chats: every message stored once, held once by both sides in seq order.
    let mut sent = sent.into_iter();
    for _ in &web_rooms {
        let (mut a, mut v) = (sent.next().unwrap(), sent.next().unwrap());
        let texts: Vec<String> = a.texts.iter().chain(&v.texts).cloned().collect();
        crate::assert_converged(&rest, &agent, &mut [&mut a.live, &mut v.live], &texts).await;
    }
    // Telegram: the customer's messages stored once each, in order; the
    // agent's replies delivered to the platform once each, in order.
    let replies = sent.next().unwrap().texts;
    let stored: Vec<String> = rest
        .history(&agent, &telegram_room)
        .await
        .iter()
        .filter(|m| m["sender"]["kind"] == "visitor")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    let mut expected = vec!["hello".to_string()];
    expected.extend(customer_texts);
    assert_eq!(stored, expected, "each customer message stored once, in order");
    let last = replies.last().unwrap().clone();
    let delivered = fake.wait_for_text(&chat, &last).await;
    let delivered: Vec<&String> = delivered.iter().filter(|t| t.starts_with("tg-agent ")).collect();
    assert_eq!(delivered, replies.iter().collect::<Vec<_>>(), "each reply delivered once, in order");
}

/// The one queued room, from the agent's point of view.
async fn wait_for_queued_room(rest: &Rest, agent: &str) -> String {
    for _ in 0..100 {
        let (status, body) = rest.call(reqwest::Method::GET, "/rooms?status=queued", Some(agent), None).await;
        assert_eq!(status, 200, "{body}");
        if let Some(room) = body["rooms"].as_array().and_then(|r| r.first()).map(|r: &Value| r["id"].clone())
        {
            return room.as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the Telegram customer's room was never queued");
}
