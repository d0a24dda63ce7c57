//! The RabbitMQ bus: every replica publishes events (with publisher
//! confirms) to one durable topic exchange, and consumes them from its own
//! exclusive, auto-deleted queue bound to it, into its local hub. Events
//! travel as versioned `BusEnvelope`s (`envelope`); one this build cannot
//! read is dead-lettered (`dead_letter`).
//!
//! A supervisor keeps the connection up: on any failure it reconnects with
//! capped exponential backoff and jitter and declares the topology again.
//! Meanwhile `healthy()` is false (readiness) and publishing fails, so the
//! outbox keeps the events. Events published while this replica's queue did
//! not exist are lost to it, so after a reconnect every local subscription
//! is ended: clients reconnect and resynchronise from history.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use livechat_proto::bus::{self, queues};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::dead_letter::{self, DeadLetters};
use crate::app::hub::{Ended, Hub};
use crate::app::ports::{Bus, RecordedEvent};
use crate::domain::Event;
use crate::error::{CoreError, CoreResult};
use crate::wire::envelope::{self, Opened};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct AmqpBus {
    exchange: String,
    publisher: RwLock<Option<Channel>>,
    connected: AtomicBool,
    dead_letters: DeadLetters,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus").field("exchange", &self.exchange).finish_non_exhaustive()
    }
}

impl AmqpBus {
    /// Starts the supervisor and waits (up to `first_connect`) for the first
    /// connection, so that a wrong URL fails the start with a clear error.
    pub async fn start(
        url: String,
        exchange: String,
        hub: Arc<Hub>,
        stop: CancellationToken,
        first_connect: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let (dead_letters, letters) = DeadLetters::new();
        let bus = Arc::new(Self {
            exchange: exchange.clone(),
            publisher: RwLock::new(None),
            connected: AtomicBool::new(false),
            dead_letters,
        });
        let weak = Arc::downgrade(&bus);
        let publisher = move || weak.upgrade()?.publisher.read().expect("bus lock poisoned").clone();
        tokio::spawn(dead_letter::write(letters, publisher, exchange));
        let first = Connection::connect(&url, ConnectionProperties::default());
        let conn = tokio::time::timeout(first_connect, first)
            .await
            .map_err(|_| {
                anyhow::anyhow!("LIVECHAT_AMQP_URL: RabbitMQ did not answer within {first_connect:?}")
            })?
            .map_err(|e| anyhow::anyhow!("LIVECHAT_AMQP_URL: cannot connect to RabbitMQ: {e}"))?;
        let consumer =
            bus.declare(&conn).await.map_err(|e| anyhow::anyhow!("declaring RabbitMQ topology: {e}"))?;
        tokio::spawn(bus.clone().supervise(url, conn, consumer, hub, stop));
        Ok(bus)
    }

    /// Declares the exchange and this replica's queue; sets the publisher.
    async fn declare(&self, conn: &Connection) -> lapin::Result<lapin::Consumer> {
        let publisher = conn.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        publisher
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        dead_letter::declare(&publisher, &self.exchange).await?;
        // The channels' outbound queues exist before the first message for
        // them is published, whether or not their adapter runs yet.
        for channel in queues::CHANNELS {
            super::declare_queue(&publisher, &queues::outbound(&self.exchange, channel), queues::WORK)
                .await?;
        }
        let consuming = conn.create_channel().await?;
        let queue_opts = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
        let queue = consuming.queue_declare("".into(), queue_opts, FieldTable::default()).await?;
        consuming
            .queue_bind(
                queue.name().as_str().into(),
                self.exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
        let consumer = consuming
            .basic_consume(
                queue.name().as_str().into(),
                "livechat-core".into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        *self.publisher.write().expect("bus lock poisoned") = Some(publisher);
        self.connected.store(true, Ordering::SeqCst);
        Ok(consumer)
    }

    async fn supervise(
        self: Arc<Self>,
        url: String,
        conn: Connection,
        consumer: lapin::Consumer,
        hub: Arc<Hub>,
        stop: CancellationToken,
    ) {
        let mut current = Some((conn, consumer));
        let mut backoff = Duration::from_millis(200);
        loop {
            if let Some((conn, consumer)) = current.take() {
                backoff = Duration::from_millis(200);
                tokio::select! {
                    _ = stop.cancelled() => {
                        let _ = conn.close(200, "shutting down".into()).await;
                        return;
                    }
                    _ = self.consume(consumer, &hub) => {}
                }
                self.connected.store(false, Ordering::SeqCst);
                *self.publisher.write().expect("bus lock poisoned") = None;
                tracing::warn!("lost the RabbitMQ connection; reconnecting");
            }
            let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match Connection::connect(&url, ConnectionProperties::default()).await {
                Ok(conn) => match self.declare(&conn).await {
                    Ok(consumer) => {
                        tracing::info!("RabbitMQ connection re-established");
                        metrics::counter!("livechat_bus_reconnects_total").increment(1);
                        // Whatever was published while we had no queue is
                        // lost to our subscribers: make them resynchronise.
                        hub.end_all(Ended::Resync);
                        current = Some((conn, consumer));
                    }
                    Err(e) => tracing::warn!(error = %e, "declaring RabbitMQ topology failed"),
                },
                Err(e) => tracing::debug!(error = %e, "RabbitMQ still unreachable"),
            }
        }
    }
}

impl AmqpBus {
    /// Feeds deliveries into the hub until the consumer ends (connection
    /// lost). A delivery this build cannot read is dead-lettered, never
    /// silently dropped, and never waited on.
    async fn consume(&self, mut consumer: lapin::Consumer, hub: &Hub) {
        while let Some(delivery) = consumer.next().await {
            match delivery {
                Ok(d) => match envelope::open_any(&d.data) {
                    Ok(Opened::Event(event)) => hub.dispatch(event),
                    Ok(Opened::Batch(parts)) => {
                        for part in parts {
                            match envelope::open(&part) {
                                Ok(event) => hub.dispatch(event),
                                Err(refused) => {
                                    self.dead_letters.refuse(part, &d.routing_key, &d.properties, &refused)
                                }
                            }
                        }
                    }
                    Err(refused) => self.dead_letters.refuse(d.data, &d.routing_key, &d.properties, &refused),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "RabbitMQ consumer failed");
                    return;
                }
            }
        }
    }

    /// Publishes sealed events and waits for the broker's confirms.
    async fn publish_sealed(&self, sealed: impl Iterator<Item = (String, Vec<u8>)>) -> CoreResult<()> {
        let sealed = batched(sealed);
        let unavailable =
            |e: lapin::Error| CoreError::Unavailable(format!("the event bus is unavailable: {e}"));
        let channel = self
            .publisher
            .read()
            .expect("bus lock poisoned")
            .clone()
            .ok_or_else(|| CoreError::Unavailable("the event bus is reconnecting".into()))?;
        let mut confirms = Vec::with_capacity(sealed.len());
        for (routing_key, bytes) in sealed {
            let props = BasicProperties::default().with_content_type(bus::CONTENT_TYPE.into());
            // A channel's outbound message goes straight to its queue (the
            // default exchange routes by queue name), never to the replicas;
            // mandatory: a missing queue fails the publish, the outbox keeps it.
            let (exchange, key, opts) = match routing_key.strip_prefix(queues::OUTBOUND_PREFIX) {
                Some(channel) => (
                    String::new(),
                    queues::outbound(&self.exchange, channel),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                ),
                None => (self.exchange.clone(), routing_key, BasicPublishOptions::default()),
            };
            let confirm = channel
                .basic_publish(exchange.as_str().into(), key.as_str().into(), opts, &bytes, props)
                .await
                .map_err(unavailable)?;
            confirms.push(confirm);
        }
        for c in confirms {
            match c.await.map_err(unavailable)? {
                Confirmation::Ack(Some(_returned)) => {
                    return Err(CoreError::Unavailable("a channel's outbound queue does not exist".into()));
                }
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Nack(_) => {
                    return Err(CoreError::Unavailable("the broker refused an event".into()));
                }
            }
        }
        Ok(())
    }
}

/// Events for the replicas published together travel as batches of up to
/// this many: one broker message, one confirm and one delivery per replica
/// for all of them.
const BATCH_EVENTS: usize = 100;

/// The routing key of a batch (replicas bind `#`; it names what it is).
const BATCH_KEY: &str = "batch";

/// The broker messages for sealed events: the replicas' events in batches
/// (in order; one alone stays as it is), each channel's outbound message on
/// its own (it goes to its channel's queue).
fn batched(sealed: impl Iterator<Item = (String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let mut messages = Vec::new();
    let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
    let close = |batch: &mut Vec<(String, Vec<u8>)>, messages: &mut Vec<(String, Vec<u8>)>| match batch.len()
    {
        0 => {}
        1 => messages.append(batch),
        _ => {
            let envelopes = batch.drain(..).map(|(_, bytes)| bytes).collect();
            messages.push((BATCH_KEY.to_string(), bus::seal_batch(envelopes)));
        }
    };
    for (key, bytes) in sealed {
        if key.starts_with(queues::OUTBOUND_PREFIX) {
            messages.push((key, bytes));
            continue;
        }
        batch.push((key, bytes));
        if batch.len() == BATCH_EVENTS {
            close(&mut batch, &mut messages);
        }
    }
    close(&mut batch, &mut messages);
    messages
}

#[async_trait]
impl Bus for AmqpBus {
    async fn publish(&self, events: Vec<Event>) -> CoreResult<()> {
        self.publish_sealed(events.iter().map(envelope::seal).map(|s| (s.routing_key, s.bytes))).await
    }

    async fn publish_recorded(&self, events: Vec<RecordedEvent>) -> CoreResult<()> {
        self.publish_sealed(events.into_iter().map(|r| (r.routing_key, r.bytes))).await
    }

    fn healthy(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audience, EventKind};

    fn revoked(n: usize) -> Event {
        Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: format!("a{n}") })
    }

    fn sealed(n: usize) -> (String, Vec<u8>) {
        let s = envelope::seal(&revoked(n));
        (s.routing_key, s.bytes)
    }

    /// What the replicas make of the broker messages, in order.
    fn received(messages: &[(String, Vec<u8>)]) -> Vec<Event> {
        let mut events = Vec::new();
        for (_, bytes) in messages {
            match envelope::open_any(bytes).unwrap() {
                Opened::Event(e) => events.push(e),
                Opened::Batch(parts) => events.extend(parts.iter().map(|p| envelope::open(p).unwrap())),
            }
        }
        events
    }

    #[test]
    fn a_round_of_events_travels_in_batches_in_commit_order_and_a_reply_to_a_channel_alone() {
        let reply = (queues::outbound_routing_key("telegram"), b"a reply".to_vec());
        let mut round: Vec<_> = (0..150).map(sealed).collect();
        round.insert(3, reply.clone());
        let messages = batched(round.into_iter());

        let keys: Vec<&str> = messages.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [reply.0.as_str(), BATCH_KEY, BATCH_KEY]);
        assert_eq!(messages[0], reply, "the channel's message goes to its queue as it was");
        assert_eq!(received(&messages[1..]), (0..150).map(revoked).collect::<Vec<_>>());
    }

    #[test]
    fn an_event_alone_is_published_as_it_was_sealed() {
        assert_eq!(batched([sealed(7)].into_iter()), [sealed(7)]);
    }

    #[test]
    fn an_unreadable_part_of_a_batch_is_refused_alone() {
        let batch = bus::seal_batch(vec![sealed(1).1, b"not an envelope".to_vec(), sealed(2).1]);
        let Ok(Opened::Batch(parts)) = envelope::open_any(&batch) else { panic!("a batch") };
        let opened: Vec<_> = parts.iter().map(|p| envelope::open(p).ok()).collect();
        assert_eq!(opened, [Some(revoked(1)), None, Some(revoked(2))]);
        let nested = bus::seal_batch(vec![batch]);
        let Ok(Opened::Batch(parts)) = envelope::open_any(&nested) else { panic!("a batch") };
        assert!(envelope::open(&parts[0]).is_err(), "a batch in a batch is not an event");
    }
}
