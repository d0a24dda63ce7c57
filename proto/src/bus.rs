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
