//! Where the RabbitMQ bus keeps what this build cannot read: counted in
//! `livechat_bus_refused_total`, and kept in the `<exchange>.dead-letters`
//! quorum queue (newest 10,000, the oldest dropped first) with the reason
//! in its `x-livechat-refused` header. Never on the consumer's path: a
//! refused delivery is handed to a writer task through a bounded queue, so
//! a flood of unreadable messages (during a rolling upgrade, say) cannot
//! hold up the live events behind it.

use std::sync::atomic::{AtomicU64, Ordering};

use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use livechat_proto::bus::{Refused, queues};
use tokio::sync::mpsc;

/// Refused deliveries waiting for the writer; past this they are counted
/// and logged only.
const PENDING: usize = 256;

/// The exchange that takes what no replica of this version can read.
fn exchange_of(events_exchange: &str) -> String {
    format!("{events_exchange}.dead-letter")
}

/// Declares the dead-letter exchange and its queue, bound together.
pub(super) async fn declare(channel: &Channel, events_exchange: &str) -> lapin::Result<()> {
    let exchange = exchange_of(events_exchange);
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(exchange.as_str().into(), ExchangeKind::Fanout, durable, FieldTable::default())
        .await?;
    let queue = queues::dead_letters(events_exchange);
    super::declare_queue(channel, &queue, queues::DEAD_LETTERS).await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// One refused delivery on its way to the dead-letter queue.
pub(super) struct DeadLetter {
    body: Vec<u8>,
    properties: BasicProperties,
}

/// The consumer's side: counts, logs (the first ten, then every
/// thousandth) and queues refused deliveries without waiting.
pub(super) struct DeadLetters {
    pending: mpsc::Sender<DeadLetter>,
    refused: AtomicU64,
}

impl DeadLetters {
    pub fn new() -> (Self, mpsc::Receiver<DeadLetter>) {
        let (pending, rx) = mpsc::channel(PENDING);
        (Self { pending, refused: AtomicU64::new(0) }, rx)
    }

    /// Refuses one envelope: a whole delivery, or one part of a batch
    /// (whose readable parts were used).
    pub fn refuse(
        &self,
        body: Vec<u8>,
        routing_key: &lapin::types::ShortString,
        properties: &BasicProperties,
        refused: &Refused,
    ) {
        metrics::counter!("livechat_bus_refused_total", "reason" => refused.reason()).increment(1);
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 10 || n.is_multiple_of(1000) {
            tracing::warn!(%refused, %routing_key, refused_so_far = n,
                "dead-lettering a bus message this build cannot read");
        }
        let mut headers = FieldTable::default();
        headers.insert("x-livechat-refused".into(), AMQPValue::LongString(refused.to_string().into()));
        headers
            .insert("x-livechat-routing-key".into(), AMQPValue::LongString(routing_key.to_string().into()));
        let letter = DeadLetter { body, properties: properties.clone().with_headers(headers) };
        if self.pending.try_send(letter).is_err() {
            metrics::counter!("livechat_bus_dead_letters_dropped_total").increment(1);
        }
    }
}

/// The writer: publishes each dead letter on the channel `publisher` gives
/// at the time (none while reconnecting: the letter is counted, not kept).
pub(super) async fn write(
    mut pending: mpsc::Receiver<DeadLetter>,
    publisher: impl Fn() -> Option<Channel>,
    events_exchange: String,
) {
    let exchange = exchange_of(&events_exchange);
    while let Some(letter) = pending.recv().await {
        let Some(channel) = publisher() else {
            metrics::counter!("livechat_bus_dead_letters_dropped_total").increment(1);
            continue;
        };
        let published = channel
            .basic_publish(
                exchange.as_str().into(),
                "".into(),
                BasicPublishOptions::default(),
                &letter.body,
                letter.properties,
            )
            .await;
        if let Err(e) = published {
            metrics::counter!("livechat_bus_dead_letters_dropped_total").increment(1);
            tracing::warn!(error = %e, "could not dead-letter a refused bus message");
        }
    }
}
