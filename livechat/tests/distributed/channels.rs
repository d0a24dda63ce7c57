//! Customers on messengers reach agents through separate adapter
//! processes and RabbitMQ: the inbound queue to the core, each channel's
//! outbound queue back, dead letters when a platform stays down, and
//! nothing lost or doubled when the broker connections drop mid-way.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use livechat_proto::bus::queues;
use livechat_proto::v1 as pb;
use livechat_test_support::channels::{self, Customer, FakePlatform, Signing};
use serde_json::{Value, json};

use crate::client::{Live, Rest};
use crate::cluster::{ADMIN_PASSWORD, Cluster, Proc, services};

/// An agent's console on gateway 0, not yet in any room.
async fn console(cluster: &Cluster, rest: &Rest) -> (Live, String) {
    let admin = rest.login("admin", ADMIN_PASSWORD).await;
    let token = rest.agent(&admin, "bea").await;
    (Live::connect(cluster.ws(0, &token), "none").await, token)
}

async fn queued(agent: &mut Live, channel: &str) -> Value {
    let frame = agent.wait_for("room_queued", |f| f["type"] == "room_queued").await;
    assert_eq!(frame["room"]["channel"], channel, "{frame}");
    frame["room"].clone()
}

/// As a platform does: delivers until the webhook answers 200 (a 503
/// while the adapter's broker connection is down is retried); the
/// answers that were not 200, with their body.
pub async fn says_until_taken(customer: &Customer, text: &str, id: i64) -> Vec<String> {
    let body = customer.body(text, id);
    let mut refused = vec![];
    for _ in 0..100 {
        let (status, answer) = customer.deliver(&body, Signing::Right).await;
        if status == 200 {
            return refused;
        }
        refused.push(format!("{status} {answer}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the webhook never took {text:?}");
}

/// The whole path of one customer, as in the all-in-one suite.
async fn whole_path(agent: &mut Live, fake: &FakePlatform, customer: &Customer) {
    assert_eq!(customer.says("Hello from far away").await, 200);
    let room = queued(agent, customer.channel).await;
    assert_eq!(room["visitor"]["name"], customer.name.as_str());
    let room_id = room["id"].as_str().unwrap().to_string();
    let ack = agent.request(json!({"type": "accept", "room_id": room_id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    agent.room = room_id.clone();
    fake.wait_for_text(&customer.id, "bea has entered the chat").await;
    let ack = agent.request(json!({"type": "send", "room_id": room_id, "content": "How can I help?"})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    fake.wait_for_text(&customer.id, "How can I help?").await;
    assert_eq!(customer.says("My parcel").await, 200);
    let again = agent
        .wait_for("the second message", |f| f["type"] == "message" && f["message"]["content"] == "My parcel")
        .await;
    assert_eq!(again["message"]["room_id"], room_id.as_str(), "same room");
    let ack = agent.request(json!({"type": "close", "room_id": room_id})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let texts = fake.wait_for_text(&customer.id, "This chat has been closed. Thank you!").await;
    assert_eq!(
        texts,
        ["bea has entered the chat", "How can I help?", "This chat has been closed. Thank you!"]
    );
    assert_eq!(customer.says("And another thing").await, 200);
    let next = queued(agent, customer.channel).await;
    assert_ne!(next["id"], room_id.as_str(), "a new room after the close");
}

/// The three adapters of a cluster, against one fake platform.
async fn adapters(cluster: &Cluster, fake: &FakePlatform) -> Vec<Proc> {
    let mut procs = Vec::new();
    for channel in ["telegram", "messenger", "wechat"] {
        procs.push(cluster.adapter(channel, channels::adapter_env(channel, fake)).await);
    }
    procs
}

fn base(p: &Proc) -> String {
    format!("http://127.0.0.1:{}", p.port)
}

pub async fn every_channel_reaches_agents_through_rabbitmq(cluster: &Cluster) {
    let fake = FakePlatform::start().await;
    let procs = adapters(cluster, &fake).await;
    let rest = Rest::new(cluster.api());
    let (mut agent, _) = console(cluster, &rest).await;
    let customers = [
        Customer::telegram(&base(&procs[0]), 9_001, "Ana"),
        Customer::messenger(&base(&procs[1]), "psid-9002"),
        Customer::wechat(&base(&procs[2]), "oUser-9003", true),
    ];
    for customer in &customers {
        whole_path(&mut agent, &fake, customer).await;
    }
    // A burst of replies, stored round-robin by both cores, leaves in order.
    let customer = Customer::telegram(&base(&procs[0]), 9_004, "Bo");
    assert_eq!(customer.says("one more").await, 200);
    let room = queued(&mut agent, "telegram").await["id"].as_str().unwrap().to_string();
    let ack = agent.request(json!({"type": "accept", "room_id": room})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let replies: Vec<String> = (0..20).map(|i| format!("reply {i}")).collect();
    for reply in &replies {
        let ack = agent.request(json!({"type": "send", "room_id": room, "content": reply})).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let texts = fake.wait_for_text(&customer.id, "reply 19").await;
    assert_eq!(texts[1..], replies[..], "after the join text, every reply once, in seq order");
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
}

pub async fn broker_faults_lose_and_double_nothing_and_dead_letters_are_kept(cluster: &Cluster) {
    let fake = FakePlatform::start().await;
    let procs = adapters(cluster, &fake).await;
    let rest = Rest::new(cluster.api());
    let (mut agent, token) = console(cluster, &rest).await;

    // Inbound: the broker connections of every process drop mid-way.
    let customer = Customer::telegram(&base(&procs[0]), 9_101, "Ana");
    let texts: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
    let mut room_id = None;
    for (i, text) in texts.iter().enumerate() {
        if i == 10 {
            let out = std::process::Command::new("rabbitmqctl")
                .args(["close_all_connections", "livechat channel fault test"])
                .output()
                .expect("rabbitmqctl is needed for the broker fault test");
            assert!(out.status.success(), "rabbitmqctl failed: {out:?}");
        }
        says_until_taken(&customer, text, customer.next_id()).await;
        if room_id.is_none() {
            room_id = Some(queued(&mut agent, "telegram").await["id"].as_str().unwrap().to_string());
        }
    }
    let room_id = room_id.unwrap();
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = rest.history(&token, &room_id).await;
        if stored.len() >= texts.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let contents: Vec<&str> = stored.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, texts, "every line stored once, in order");

    // Outbound: a platform that stays down is dead-lettered and counted.
    let psid = "psid-9102";
    let messenger = Customer::messenger(&base(&procs[1]), psid);
    assert_eq!(messenger.says("anyone?").await, 200);
    let room = queued(&mut agent, "messenger").await["id"].as_str().unwrap().to_string();
    fake.fail_next(3, 503, json!({"error": {"message": "Service temporarily unavailable", "code": 2}}));
    let ack = agent.request(json!({"type": "accept", "room_id": room})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    agent
        .wait_for("the note", |f| {
            f["type"] == "message"
                && f["message"]["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("Not delivered to messenger"))
        })
        .await;
    let (_, amqp) = services().unwrap();
    let conn = lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let dlq = queues::dead_letters(&queues::outbound(&cluster.exchange, "messenger"));
    let mut letter = None;
    for _ in 0..50 {
        letter = channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap();
        if letter.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let letter = letter.expect("the undeliverable message is kept in the dead-letter queue");
    let headers = letter.delivery.properties.headers().clone().unwrap_or_default();
    assert!(
        matches!(headers.inner().get(queues::REASON_HEADER), Some(AMQPValue::LongString(r)) if r.to_string().contains("3 tries")),
        "{headers:?}"
    );
    let metrics = reqwest::get(format!("{}/metrics", base(&procs[1]))).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "livechat_adapter_dead_lettered_total{channel=\"messenger\"} 1"),
        "{metrics}"
    );
    assert!(fake.sent_to(psid).is_empty());

    // What the core can never store is dead-lettered, and the queue moves on.
    let web = pb::InboundMessage {
        channel: pb::Channel::Web.into(),
        external_user_id: "x".into(),
        display_name: "x".into(),
        text: "not from a messenger".into(),
        platform_message_id: "1".into(),
        sent_at_ms: 0,
    };
    let nobody = pb::InboundMessage {
        channel: pb::Channel::Telegram.into(),
        external_user_id: String::new(),
        ..web.clone()
    };
    let inbound = queues::inbound(&cluster.exchange);
    let mut sealed = Vec::new();
    for m in [web, nobody] {
        let bytes = livechat_proto::bus::seal(pb::bus_envelope::Payload::Inbound(m), None);
        let opts = lapin::options::BasicPublishOptions::default();
        let props = lapin::BasicProperties::default();
        channel
            .basic_publish("".into(), inbound.as_str().into(), opts, &bytes, props)
            .await
            .unwrap()
            .await
            .unwrap();
        sealed.push(bytes);
    }
    let after = Customer::wechat(&base(&procs[2]), "oUser-after", true);
    assert_eq!(after.says("still taken").await, 200);
    queued(&mut agent, "wechat").await;
    let dlq = queues::dead_letters(&inbound);
    for expected in &sealed {
        let letter = channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap();
        let letter = letter.expect("each unstorable inbound message is kept, in order");
        assert_eq!(&letter.delivery.data, expected);
    }
    let metrics = cluster.core_metrics(0).await;
    for reason in ["undecodable", "invalid"] {
        let line = format!("livechat_bus_refused_total{{reason=\"{reason}\"}} 1");
        assert!(metrics.lines().any(|l| l == line), "no {line} in {metrics}");
    }
}
