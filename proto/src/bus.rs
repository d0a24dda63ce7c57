//! Reading and writing `BusEnvelope`s (proto/livechat/v1/bus.proto), the
//! one format on RabbitMQ. Every reader goes through `open`, so a message
//! this version cannot use is refused the same way everywhere: counted,
//! dead-lettered, never guessed at.

use prost::Message;

use crate::v1::{BusEnvelope, bus_envelope::Payload};

/// The envelope version this build writes and reads.
pub const BUS_VERSION: u32 = 1;

/// The AMQP content type of an envelope.
pub const CONTENT_TYPE: &str = "application/x-protobuf; proto=livechat.v1.BusEnvelope";

/// The queues between the core and the channel adapters, named after the
/// core's events exchange (`LIVECHAT_AMQP_EXCHANGE`), so that deployments
/// sharing a broker stay apart. Core and adapters both declare them, with
/// the same arguments (RabbitMQ refuses a redeclaration that differs).
pub mod queues {
    /// Inbound messages and delivery reports, adapters -> core.
    pub fn inbound(exchange: &str) -> String {
        format!("{exchange}.inbound")
    }

    /// Outbound messages of one channel, core -> adapter.
    pub fn outbound(exchange: &str, channel: &str) -> String {
        format!("{exchange}.outbound.{channel}")
    }

    /// Where a queue's consumer puts what it can never process.
    pub fn dead_letters(queue: &str) -> String {
        format!("{queue}.dead-letters")
    }

    /// The outbox routing key of a channel's outbound messages. The core's
    /// bus publishes these straight to `outbound(exchange, channel)`
    /// through the default exchange, never to the replicas' events.
    pub fn outbound_routing_key(channel: &str) -> String {
        format!("{OUTBOUND_PREFIX}{channel}")
    }

    /// The prefix that marks an outbound routing key.
    pub const OUTBOUND_PREFIX: &str = "outbound.";

    /// The arguments of a queue, as both sides declare it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct QueueArgs {
        /// One consumer at a time, the others standing by: per-room (and
        /// per-customer) order survives any number of replicas.
        pub single_active_consumer: bool,
        /// Keep at most this many, dropping the oldest.
        pub max_length: Option<i64>,
    }

    /// Inbound and outbound queues: durable quorum queues, one consumer.
    pub const WORK: QueueArgs = QueueArgs { single_active_consumer: true, max_length: None };

    /// Dead-letter queues: the newest `DEAD_LETTERS_KEPT`.
    pub const DEAD_LETTERS: QueueArgs =
        QueueArgs { single_active_consumer: false, max_length: Some(DEAD_LETTERS_KEPT) };

    /// How many dead letters a dead-letter queue keeps (the oldest go first).
    pub const DEAD_LETTERS_KEPT: i64 = 10_000;

    /// The header that says why a message was dead-lettered.
    pub const REASON_HEADER: &str = "x-livechat-refused";

    /// The channels and their wire names.
    pub const CHANNELS: [&str; 3] = ["telegram", "messenger", "wechat"];
}

/// Why a message from the bus was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a livechat.v1.BusEnvelope: {0}")]
    Undecodable(String),
    #[error("bus envelope version {0} is not known to this build (it reads {BUS_VERSION})")]
    UnknownVersion(u32),
    #[error("the envelope carries no payload this reader takes")]
    UnexpectedPayload,
}

impl Refused {
    /// A short label for metrics (`reason="unknown_version"`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Undecodable(_) => "undecodable",
            Self::UnknownVersion(_) => "unknown_version",
            Self::UnexpectedPayload => "unexpected_payload",
        }
    }
}

/// Wraps a payload in an envelope of this build's version.
pub fn seal(payload: Payload, audience: Option<crate::v1::BusAudience>) -> Vec<u8> {
    BusEnvelope { version: BUS_VERSION, audience, payload: Some(payload) }.encode_to_vec()
}

/// Wraps sealed event envelopes into one batch envelope: one broker
/// message for many events.
pub fn seal_batch(envelopes: Vec<Vec<u8>>) -> Vec<u8> {
    seal(Payload::Batch(crate::v1::BusBatch { envelopes }), None)
}

/// Decodes an envelope and checks its version.
pub fn open(bytes: &[u8]) -> Result<BusEnvelope, Refused> {
    let envelope = BusEnvelope::decode(bytes).map_err(|e| Refused::Undecodable(e.to_string()))?;
    if envelope.version != BUS_VERSION {
        return Err(Refused::UnknownVersion(envelope.version));
    }
    if envelope.payload.is_none() {
        return Err(Refused::UnexpectedPayload);
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{AgentRevoked, BusEvent, bus_event::Kind};

    fn revoked() -> Payload {
        Payload::Event(BusEvent { kind: Some(Kind::AgentRevoked(AgentRevoked { agent_id: "a-1".into() })) })
    }

    #[test]
    fn what_is_sealed_opens() {
        let envelope = open(&seal(revoked(), None)).unwrap();
        assert_eq!(envelope.version, BUS_VERSION);
        assert_eq!(envelope.payload, Some(revoked()));
    }

    #[test]
    fn a_newer_version_is_refused_not_guessed_at() {
        let newer = BusEnvelope { version: BUS_VERSION + 1, audience: None, payload: Some(revoked()) };
        assert_eq!(open(&newer.encode_to_vec()), Err(Refused::UnknownVersion(BUS_VERSION + 1)));
    }

    #[test]
    fn json_from_an_older_build_is_undecodable() {
        let old = br#"{"audience":{"agents":[]},"kind":{"type":"agent_revoked","agent_id":"a-1"}}"#;
        assert!(matches!(open(old), Err(Refused::Undecodable(_))));
    }

    #[test]
    fn an_envelope_without_payload_is_refused() {
        let empty = BusEnvelope { version: BUS_VERSION, audience: None, payload: None };
        assert_eq!(open(&empty.encode_to_vec()), Err(Refused::UnexpectedPayload));
    }
}
