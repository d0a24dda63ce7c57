//! The inbound queue: customers' messages and delivery reports from the
//! channel adapters (`<exchange>.inbound`). One core replica at a time
//! consumes it (single active consumer; the others stand by), one delivery
//! at a time, and acks only after the commit. What can never be stored (an
//! envelope this build cannot read, a message that fails validation) goes
//! to `<exchange>.inbound.dead-letters`, never into a redelivery loop; a
//! database outage is waited out with the delivery held, so nothing is
//! lost or reordered meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use livechat_proto::bus::{self, queues};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::app::Core;
use crate::error::CoreError;
use crate::wire::envelope::{self, FromAdapter};

/// Longest wait between reconnections, and between retries of a delivery
/// the database could not take.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Deliveries the broker sends ahead of the one being stored.
const PREFETCH: u16 = 16;
/// Tries of a delivery that fails unexpectedly (a bug, not an outage)
/// before it is dead-lettered instead of blocking the queue.
const UNEXPECTED_TRIES: u32 = 5;

/// What became of one delivery.
#[derive(Debug)]
pub enum Taken {
    /// Stored (or a redelivery of something stored): ack.
    Done,
    /// Never storable: dead-letter, then ack.
    Rejected(String, &'static str),
    /// Not now (the database is down): try again.
    Retry(CoreError),
}

/// Stores what an adapter sent: the one path of the broker's consumer and
/// of the all-in-one's in-process adapters.
pub async fn take(core: &Core, bytes: &[u8]) -> Taken {
    let result = match envelope::open_from_adapter(bytes) {
        Err(refused) => return Taken::Rejected(refused.to_string(), refused.reason()),
        Ok(FromAdapter::Message(m)) => core.receive_inbound(m).await.map(drop),
        Ok(FromAdapter::Undelivered(u)) => core.note_undelivered(u).await,
    };
    match result {
        Ok(()) => Taken::Done,
        Err(e @ (CoreError::Unavailable(_) | CoreError::Unexpected(_))) => Taken::Retry(e),
        Err(CoreError::Invalid(fields)) => {
            let why: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            Taken::Rejected(format!("invalid: {}", why.join("; ")), "invalid")
        }
        Err(e) => Taken::Rejected(e.to_string(), "invalid"),
    }
}

/// Consumes the inbound queue until `stop`, reconnecting with capped
/// backoff and jitter whenever the connection fails.
pub async fn consume(url: String, exchange: String, core: Arc<Core>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let session = async {
            let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
            let consumer = Consumer::declare(&conn, &exchange).await?;
            tracing::info!(queue = %queues::inbound(&exchange), "consuming the channels' inbound queue");
            backoff = Duration::from_millis(200);
            let ended = consumer.run(&core).await;
            let _ = conn.close(200, "reconnecting".into()).await;
            ended
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            ended = session => {
                let error = ended.err().map(|e: lapin::Error| e.to_string()).unwrap_or_else(|| "cancelled".into());
                tracing::warn!(%error, "the inbound queue's consumer stopped; reconnecting");
            }
        }
        let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's consumer and the channel its dead letters go out on.
struct Consumer {
    deliveries: lapin::Consumer,
    consuming: Channel,
    publisher: Channel,
    dead_letters: String,
}

impl Consumer {
    async fn declare(conn: &Connection, exchange: &str) -> lapin::Result<Self> {
        let publisher = conn.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        let queue = queues::inbound(exchange);
        let dead_letters = queues::dead_letters(&queue);
        super::declare_queue(&publisher, &queue, queues::WORK).await?;
        super::declare_queue(&publisher, &dead_letters, queues::DEAD_LETTERS).await?;
        let consuming = conn.create_channel().await?;
        consuming.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let deliveries = consuming
            .basic_consume(
                queue.as_str().into(),
                "livechat-core-inbound".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self { deliveries, consuming, publisher, dead_letters })
    }

    /// Takes deliveries one at a time, in queue order.
    async fn run(mut self, core: &Core) -> lapin::Result<()> {
        while let Some(delivery) = self.deliveries.next().await {
            let d = delivery?;
            let mut backoff = Duration::from_millis(200);
            let mut unexpected = 0;
            loop {
                match take(core, &d.data).await {
                    Taken::Done => break,
                    Taken::Rejected(why, reason) => {
                        self.dead_letter(&d, &why, reason).await?;
                        break;
                    }
                    Taken::Retry(e) => {
                        if matches!(e, CoreError::Unexpected(_)) {
                            unexpected += 1;
                            if unexpected >= UNEXPECTED_TRIES {
                                self.dead_letter(&d, &e.to_string(), "failed").await?;
                                break;
                            }
                        }
                        tracing::warn!(error = %e, retry_in = ?backoff, "an inbound message could not be stored yet");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            d.ack(BasicAckOptions::default()).await?;
        }
        // The broker cancelled the consumer (the queue was deleted, say).
        let _ = self.consuming.close(200, "consumer ended".into()).await;
        Ok(())
    }

    /// Keeps a delivery that can never be stored, with why, and counts it.
    async fn dead_letter(
        &self,
        d: &lapin::message::Delivery,
        why: &str,
        reason: &'static str,
    ) -> lapin::Result<()> {
        metrics::counter!("livechat_bus_refused_total", "reason" => reason).increment(1);
        tracing::warn!(why, "dead-lettering an inbound message that can never be stored");
        let mut headers = FieldTable::default();
        headers.insert(queues::REASON_HEADER.into(), AMQPValue::LongString(why.into()));
        let props =
            BasicProperties::default().with_content_type(bus::CONTENT_TYPE.into()).with_headers(headers);
        let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
        let confirm = self
            .publisher
            .basic_publish("".into(), self.dead_letters.as_str().into(), opts, &d.data, props)
            .await?
            .await?;
        match confirm {
            lapin::Confirmation::Ack(None) => Ok(()),
            // Not kept: fail the consumer, so the delivery comes back.
            _ => Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                lapin::ChannelState::Error,
                "the dead-letter queue did not take the message",
            ))),
        }
    }
}
