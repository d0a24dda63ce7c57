//! What crosses RabbitMQ is a versioned envelope: a message this version
//! cannot read is counted and dead-lettered (by each replica that got a
//! copy), never dropped without a trace, and never stops the replica from
//! reading the next one.

use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use livechat_proto::v1::{AgentRevoked, BusEnvelope, BusEvent, bus_envelope::Payload, bus_event::Kind};
use prost::Message;

use crate::cluster::{Cluster, services};

/// The `x-livechat-refused` reason of every message in the cluster's
/// dead-letter queue, waiting until there are `n`.
async fn dead_letters(cluster: &Cluster, channel: &lapin::Channel, n: usize) -> Vec<(Vec<u8>, String)> {
    let queue = format!("{}.dead-letters", cluster.exchange);
    let mut found = vec![];
    for _ in 0..100 {
        let got = channel.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap();
        let Some(m) = got else {
            if found.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let headers = m.delivery.properties.headers().clone().unwrap_or_default();
        let reason = match headers.inner().get("x-livechat-refused") {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => panic!("a dead letter without its reason: {other:?}"),
        };
        found.push((m.delivery.data.clone(), reason));
    }
    found
}

pub async fn unreadable_bus_messages_are_dead_lettered_with_their_reason(cluster: &Cluster) {
    let (_, amqp) = services().expect("checked by the caller");
    let conn = Connection::connect(&amqp, ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let revoked = Kind::AgentRevoked(AgentRevoked { agent_id: "nobody".into() });
    let newer = BusEnvelope {
        version: 99,
        audience: None,
        payload: Some(Payload::Event(BusEvent { kind: Some(revoked) })),
    }
    .encode_to_vec();
    let old_json = br#"{"audience":{"agents":[]},"kind":{"type":"agent_revoked","agent_id":"x"}}"#.to_vec();
    // A relay's batch whose second part is of the newer version: that part
    // alone is refused, as it was sealed.
    let readable = livechat_proto::bus::seal(
        Payload::Event(BusEvent {
            kind: Some(Kind::AgentRevoked(AgentRevoked { agent_id: "nobody".into() })),
        }),
        None,
    );
    let batch = livechat_proto::bus::seal_batch(vec![readable, newer.clone()]);
    for (key, body) in [("agent.nobody", &newer), ("agent.nobody", &old_json), ("batch", &batch)] {
        channel
            .basic_publish(
                cluster.exchange.as_str().into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let letters = dead_letters(cluster, &channel, 3).await;
    assert_eq!(letters.len(), 3, "every unreadable envelope is kept: {letters:?}");
    let newer_kept = letters.iter().filter(|(b, _)| *b == newer).count();
    assert_eq!(newer_kept, 2, "the newer envelope, alone and out of the batch");
    let by_body = |body: &[u8]| letters.iter().find(|(b, _)| b == body).map(|(_, r)| r.clone());
    let why_newer = by_body(&newer).expect("the newer envelope is dead-lettered as it was sent");
    assert!(why_newer.contains("version 99"), "{why_newer}");
    let why_json = by_body(&old_json).expect("the JSON message is dead-lettered as it was sent");
    assert!(why_json.contains("not a livechat.v1.BusEnvelope"), "{why_json}");

    // And counted, where an operator looks.
    let metrics = cluster.core_metrics(0).await;
    for (reason, n) in [("unknown_version", 2), ("undecodable", 1)] {
        let line = format!("livechat_bus_refused_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in the core's metrics:\n{metrics}");
    }
    // What an operator alerts on (README, "Operating").
    for line in ["livechat_database_reachable 1", "livechat_bus_connected 1"] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in the core's metrics:\n{metrics}");
    }
    for gauge in ["livechat_outbox_rows ", "livechat_outbox_oldest_age_seconds "] {
        assert!(
            metrics.lines().any(|l| l.starts_with(gauge)),
            "no `{gauge}` in the core's metrics:\n{metrics}"
        );
    }
}
