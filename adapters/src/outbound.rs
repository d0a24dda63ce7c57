//! Outbound: every message the core put on the channel's queue reaches the
//! customer, in seq order per room, each once as far as the platform's
//! answers allow. Rooms are served side by side (one message in flight per
//! room); a long text is split to the platform's limit; transient failures
//! are retried with capped backoff and jitter (a platform's `retry_after`
//! honoured) and finally dead-lettered; a permanent refusal, or giving up,
//! is reported to the core, which tells the agent in the room.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use livechat_proto::bus;
use livechat_proto::v1 as pb;
use pb::bus_envelope::Payload;
use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::DeliveryPolicy;
use crate::platform::{Platform, SendOutcome, split};
use crate::queue::{Delivery, Inbox};

/// Rooms with a message in flight at once; more wait in the queue.
const ROOMS_IN_FLIGHT: usize = 64;

/// Sends one channel's outbound messages.
pub struct Sender {
    /// Where the texts go.
    pub platform: Arc<dyn Platform>,
    /// Where reports of undelivered messages go (back to the core).
    pub inbox: Arc<dyn Inbox>,
    /// How failing sends are retried.
    pub policy: DeliveryPolicy,
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    Delivered,
    Refused(String),
    GaveUp(String),
    Unreadable(String),
    /// Shutting down: left unsettled, so it comes back.
    Stopped,
}

impl Sender {
    /// Runs until `deliveries` ends or `stop` is cancelled. Messages of one
    /// room go one after the other, in the order the queue gave them. Once
    /// stopped it takes nothing new and returns when the sends under way
    /// have had their answer (a retry waiting for its turn gives up at
    /// once, unsettled, and is delivered again later): a message is not
    /// cut off mid-send, which would send it twice.
    pub async fn run(self, mut deliveries: mpsc::Receiver<Delivery>, stop: CancellationToken) {
        let this = Arc::new(self);
        // Per room with a message in flight: the ones waiting behind it.
        let mut waiting: HashMap<String, VecDeque<Delivery>> = HashMap::new();
        let mut in_flight: FuturesUnordered<BoxFuture<'static, String>> = FuturesUnordered::new();
        let mut open = true;
        loop {
            if !open && in_flight.is_empty() {
                return;
            }
            tokio::select! {
                _ = stop.cancelled(), if open => open = false,
                next = deliveries.recv(), if open && in_flight.len() < ROOMS_IN_FLIGHT => {
                    let Some(d) = next else { open = false; continue };
                    let room = room_of(&d.envelope);
                    match waiting.get_mut(&room) {
                        Some(queue) => queue.push_back(d),
                        None => {
                            waiting.insert(room.clone(), VecDeque::new());
                            in_flight.push(Box::pin(this.clone().settle(room, d, stop.clone())));
                        }
                    }
                }
                Some(room) = in_flight.next() => {
                    match waiting.get_mut(&room).and_then(VecDeque::pop_front) {
                        Some(d) if open => in_flight.push(Box::pin(this.clone().settle(room, d, stop.clone()))),
                        _ => { waiting.remove(&room); }
                    }
                }
            }
        }
    }

    /// Delivers one message and settles it; returns its room.
    async fn settle(self: Arc<Self>, room: String, d: Delivery, stop: CancellationToken) -> String {
        let channel = self.platform.name();
        match self.deliver(&d, &stop).await {
            Ended::Delivered => d.settle.delivered().await,
            Ended::Refused(reason) => {
                metrics::counter!("livechat_adapter_refused_total", "channel" => channel).increment(1);
                tracing::info!(%room, %reason, "the platform refused a message for good; telling the agent");
                if self.report(&d.envelope, &reason, true, &stop).await {
                    d.settle.delivered().await;
                }
            }
            Ended::GaveUp(reason) => {
                metrics::counter!("livechat_adapter_dead_lettered_total", "channel" => channel).increment(1);
                tracing::warn!(%room, %reason, "giving up on a message; dead-lettering it");
                if self.report(&d.envelope, &reason, false, &stop).await {
                    d.settle.dead_letter(&reason).await;
                }
            }
            Ended::Unreadable(reason) => {
                metrics::counter!("livechat_adapter_dead_lettered_total", "channel" => channel).increment(1);
                tracing::warn!(%reason, "dead-lettering an outbound message this build cannot read");
                d.settle.dead_letter(&reason).await;
            }
            Ended::Stopped => {}
        }
        room
    }

    /// Sends every piece of the message, retrying what fails transiently.
    /// Stops as soon as the delivery can no longer be settled: it will come
    /// again (to this adapter or another), and must be sent only then.
    async fn deliver(&self, d: &Delivery, stop: &CancellationToken) -> Ended {
        let (external_id, text) = match outbound(&d.envelope) {
            Ok(m) => (m.external_user_id.clone(), m.message.map(|m| m.content).unwrap_or_default()),
            Err(why) => return Ended::Unreadable(why),
        };
        let channel = self.platform.name();
        for piece in split::split(&text, self.platform.limit()) {
            let mut attempt = 0;
            loop {
                if !d.settle.is_live() {
                    return Ended::Stopped;
                }
                attempt += 1;
                let sent = tokio::time::timeout(
                    self.policy.send_timeout(),
                    self.platform.send(&external_id, &piece),
                );
                let (reason, retry_after) = match sent.await {
                    Ok(SendOutcome::Delivered) => {
                        metrics::counter!("livechat_adapter_sent_total", "channel" => channel).increment(1);
                        break;
                    }
                    Ok(SendOutcome::Permanent { reason }) => return Ended::Refused(reason),
                    Ok(SendOutcome::Transient { reason, retry_after }) => (reason, retry_after),
                    Err(_) => ("the platform did not answer in time".to_string(), None),
                };
                metrics::counter!("livechat_adapter_send_failures_total", "channel" => channel).increment(1);
                if attempt >= self.policy.send_attempts {
                    return Ended::GaveUp(format!(
                        "the platform kept failing ({reason}) after {attempt} tries"
                    ));
                }
                let wait = retry_after.unwrap_or_else(|| jittered(self.policy.backoff(attempt)));
                tracing::debug!(%reason, ?wait, attempt, "retrying a send");
                tokio::select! {
                    _ = stop.cancelled() => return Ended::Stopped,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        Ended::Delivered
    }

    /// Tells the core a message did not reach the customer; true once the
    /// report is durable (false only when stopping).
    async fn report(&self, envelope: &[u8], reason: &str, permanent: bool, stop: &CancellationToken) -> bool {
        let Ok(m) = outbound(envelope) else { return true };
        let failed = pb::DeliveryFailed {
            channel: m.channel,
            room_id: m.room_id.clone(),
            seq: m.message.as_ref().map_or(0, |m| m.seq),
            reason: reason.to_string(),
            permanent,
        };
        let sealed = bus::seal(Payload::DeliveryFailed(failed), None);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inbox.publish(vec![sealed.clone()]).await {
                Ok(()) => return true,
                Err(e) => tracing::warn!(error = %e, "could not report an undelivered message yet"),
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(jittered(self.policy.backoff(attempt))) => {}
            }
        }
    }
}

/// The outbound message an envelope carries.
fn outbound(envelope: &[u8]) -> Result<pb::OutboundMessage, String> {
    match bus::open(envelope).map_err(|e| e.to_string())?.payload {
        Some(Payload::Outbound(m)) if m.message.is_some() && !m.external_user_id.is_empty() => Ok(m),
        _ => Err("not an outbound message".into()),
    }
}

/// The room a delivery belongs to (unreadable ones each get their own key).
fn room_of(envelope: &[u8]) -> String {
    match outbound(envelope) {
        Ok(m) => m.room_id,
        Err(_) => format!("unreadable-{}", rand::rng().random::<u64>()),
    }
}

/// `d` plus up to a quarter more, so that retries of many rooms spread out.
fn jittered(d: Duration) -> Duration {
    let extra = rand::rng().random_range(0..=d.as_millis() as u64 / 4);
    d + Duration::from_millis(extra)
}
