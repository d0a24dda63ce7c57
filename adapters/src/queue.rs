//! The adapter's two queues, whatever carries them: RabbitMQ between
//! processes (`broker`), or the core itself when the all-in-one runs the
//! channel in its own process. Inbound, `Inbox::publish` returns only once
//! what it was given is durable; outbound, each `Delivery` is settled
//! exactly once, after the platform answered.

use async_trait::async_trait;

/// Publishing failed: nothing is durable, the platform must retry (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotDurable(pub String);

/// Where customers' messages and delivery reports go (sealed envelopes).
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Returns once every envelope is durable (confirmed, or stored).
    async fn publish(&self, envelopes: Vec<Vec<u8>>) -> Result<(), NotDurable>;
    /// Whether publishing can work right now (readiness).
    fn ready(&self) -> bool;
}

/// What happens to an outbound message once the adapter is done with it.
#[async_trait]
pub trait Settle: Send + Sync {
    /// The platform took it (or refused it for good and the agent was told).
    async fn delivered(self: Box<Self>);
    /// It kept failing: keep it aside, with why.
    async fn dead_letter(self: Box<Self>, reason: &str);
    /// False once it can no longer be settled (its broker channel closed):
    /// it will be delivered again, so sending it now would send it twice.
    fn is_live(&self) -> bool;
}

/// One outbound message (a sealed `OutboundMessage` envelope).
pub struct Delivery {
    /// The sealed `OutboundMessage`, as the core recorded it.
    pub envelope: Vec<u8>,
    /// Called once, when the adapter is done with it.
    pub settle: Box<dyn Settle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("bytes", &self.envelope.len()).finish_non_exhaustive()
    }
}
