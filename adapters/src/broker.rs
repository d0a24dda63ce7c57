//! RabbitMQ between the adapter and the core: customers' messages go to
//! the core's inbound queue with publisher confirms; the channel's outbound
//! queue is consumed with manual acks (single active consumer, so replicas
//! stand by and per-room order holds); what keeps failing goes to the
//! outbound queue's dead-letter queue. A supervisor reconnects with capped
//! backoff and jitter; meanwhile readiness is false and publishing fails
//! (the platform gets 503 and retries).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use livechat_proto::bus::{self, queues};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::queue::{Delivery, Inbox, NotDurable, Settle};

/// Outbound messages the broker hands over before the first is settled.
/// Enough that one room stuck behind a failing platform (its messages
/// wait in turn) leaves room for every other room's.
pub const PREFETCH: u16 = 256;
/// Longest wait between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The adapter's connection to RabbitMQ.
pub struct Broker {
    exchange: String,
    publisher: RwLock<Option<Channel>>,
    connected: AtomicBool,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("exchange", &self.exchange).finish_non_exhaustive()
    }
}

impl Broker {
    /// Connects (failing the start with a clear error if RabbitMQ does not
    /// answer within `first_connect`), declares the queues, and starts
    /// consuming `channel`'s outbound queue into the returned receiver.
    pub async fn start(
        url: String,
        exchange: String,
        channel: &'static str,
        stop: CancellationToken,
        first_connect: Duration,
    ) -> anyhow::Result<(Arc<Self>, mpsc::Receiver<Delivery>)> {
        let broker =
            Arc::new(Self { exchange, publisher: RwLock::new(None), connected: AtomicBool::new(false) });
        let conn =
            tokio::time::timeout(first_connect, Connection::connect(&url, ConnectionProperties::default()))
                .await
                .map_err(|_| {
                    anyhow::anyhow!("LIVECHAT_AMQP_URL: RabbitMQ did not answer within {first_connect:?}")
                })?
                .map_err(|e| anyhow::anyhow!("LIVECHAT_AMQP_URL: cannot connect to RabbitMQ: {e}"))?;
        let consumer = broker
            .declare(&conn, channel)
            .await
            .map_err(|e| anyhow::anyhow!("declaring the RabbitMQ queues: {e}"))?;
        let (tx, rx) = mpsc::channel(PREFETCH as usize);
        tokio::spawn(broker.clone().supervise(url, channel, conn, consumer, tx, stop));
        Ok((broker, rx))
    }

    async fn declare(&self, conn: &Connection, channel: &str) -> lapin::Result<(lapin::Consumer, Channel)> {
        let publisher = conn.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        let inbound = queues::inbound(&self.exchange);
        let outbound = queues::outbound(&self.exchange, channel);
        declare_queue(&publisher, &inbound, queues::WORK).await?;
        declare_queue(&publisher, &outbound, queues::WORK).await?;
        declare_queue(&publisher, &queues::dead_letters(&outbound), queues::DEAD_LETTERS).await?;
        let consuming = conn.create_channel().await?;
        consuming.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let consumer = consuming
            .basic_consume(
                outbound.as_str().into(),
                format!("livechat-adapter-{channel}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        *self.publisher.write().expect("broker lock poisoned") = Some(publisher);
        self.connected.store(true, Ordering::SeqCst);
        Ok((consumer, consuming))
    }

    async fn supervise(
        self: Arc<Self>,
        url: String,
        channel: &'static str,
        conn: Connection,
        consumer: (lapin::Consumer, Channel),
        deliveries: mpsc::Sender<Delivery>,
        stop: CancellationToken,
    ) {
        let mut current = Some((conn, consumer));
        let mut backoff = Duration::from_millis(200);
        loop {
            if let Some((conn, consumer)) = current.take() {
                backoff = Duration::from_millis(200);
                let dead_letters = channel_dead_letters(&self.exchange, channel);
                tokio::select! {
                    _ = stop.cancelled() => {
                        let _ = conn.close(200, "shutting down".into()).await;
                        return;
                    }
                    _ = self.forward(consumer, &deliveries, &dead_letters) => {}
                }
                self.connected.store(false, Ordering::SeqCst);
                *self.publisher.write().expect("broker lock poisoned") = None;
                let _ = conn.close(200, "reconnecting".into()).await;
                tracing::warn!("lost the RabbitMQ connection; reconnecting");
            }
            let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match Connection::connect(&url, ConnectionProperties::default()).await {
                Ok(conn) => match self.declare(&conn, channel).await {
                    Ok(consumer) => {
                        tracing::info!("RabbitMQ connection re-established");
                        current = Some((conn, consumer));
                    }
                    Err(e) => tracing::warn!(error = %e, "declaring the RabbitMQ queues failed"),
                },
                Err(e) => tracing::debug!(error = %e, "RabbitMQ still unreachable"),
            }
        }
    }

    /// Hands each outbound delivery to the adapter until the consumer ends.
    async fn forward(
        &self,
        (mut consumer, consuming): (lapin::Consumer, Channel),
        deliveries: &mpsc::Sender<Delivery>,
        dead_letters: &str,
    ) {
        while let Some(next) = consumer.next().await {
            let d = match next {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "RabbitMQ consumer failed");
                    return;
                }
            };
            let publisher = self.publisher.read().expect("broker lock poisoned").clone();
            let settle = Box::new(BrokerSettle {
                acker: d.acker.clone(),
                consuming: consuming.clone(),
                publisher,
                dead_letters: dead_letters.to_string(),
                body: d.data.clone(),
            });
            if deliveries.send(Delivery { envelope: d.data, settle }).await.is_err() {
                return; // The adapter stopped.
            }
        }
    }
}

fn channel_dead_letters(exchange: &str, channel: &str) -> String {
    queues::dead_letters(&queues::outbound(exchange, channel))
}

/// Declares a queue with the arguments the core uses too.
async fn declare_queue(channel: &Channel, name: &str, args: queues::QueueArgs) -> lapin::Result<()> {
    let mut table = FieldTable::default();
    table.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    if args.single_active_consumer {
        table.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    if let Some(max) = args.max_length {
        table.insert("x-max-length".into(), AMQPValue::LongLongInt(max));
        table.insert("x-overflow".into(), AMQPValue::LongString("drop-head".into()));
    }
    let opts = QueueDeclareOptions { durable: true, ..Default::default() };
    channel.queue_declare(name.into(), opts, table).await.map(drop)
}

/// Publishes and waits for the broker's confirm; a message no queue took
/// (mandatory, returned) is a failure too.
async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    headers: FieldTable,
) -> Result<(), String> {
    let props = BasicProperties::default()
        .with_content_type(bus::CONTENT_TYPE.into())
        .with_delivery_mode(2)
        .with_headers(headers);
    let opts = BasicPublishOptions { mandatory: true, ..Default::default() };
    let confirm =
        channel.basic_publish("".into(), queue.into(), opts, body, props).await.map_err(|e| e.to_string())?;
    match confirm.await.map_err(|e| e.to_string())? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(format!("queue {queue} does not exist")),
        Confirmation::Nack(_) => Err("the broker refused the message".into()),
        Confirmation::NotRequested => Err("publisher confirms are off".into()),
    }
}

#[async_trait]
impl Inbox for Broker {
    async fn publish(&self, envelopes: Vec<Vec<u8>>) -> Result<(), NotDurable> {
        let channel = self
            .publisher
            .read()
            .expect("broker lock poisoned")
            .clone()
            .ok_or_else(|| NotDurable("RabbitMQ is reconnecting".into()))?;
        let queue = queues::inbound(&self.exchange);
        let sends = envelopes.iter().map(|e| publish_confirmed(&channel, &queue, e, FieldTable::default()));
        for result in futures::future::join_all(sends).await {
            result.map_err(NotDurable)?;
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}

/// Acks an outbound delivery, or moves it to the dead-letter queue first.
struct BrokerSettle {
    acker: lapin::Acker,
    /// The channel it came on: once closed, RabbitMQ delivers it again.
    consuming: Channel,
    publisher: Option<Channel>,
    dead_letters: String,
    body: Vec<u8>,
}

#[async_trait]
impl Settle for BrokerSettle {
    async fn delivered(self: Box<Self>) {
        if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
            // The channel is gone: RabbitMQ redelivers it to whoever consumes next.
            tracing::warn!(error = %e, "could not ack an outbound message");
        }
    }

    /// Tries until the dead letter is confirmed (then acks), or until the
    /// channel it came on is gone (it comes back and is tried again): never
    /// lost, and never left unacked on a live channel, where it would hold
    /// a prefetch slot for good.
    async fn dead_letter(self: Box<Self>, reason: &str) {
        let Some(channel) = &self.publisher else {
            tracing::warn!("no RabbitMQ channel to dead-letter on; the message will be redelivered");
            return;
        };
        let mut wait = Duration::from_millis(200);
        while self.is_live() {
            let mut headers = FieldTable::default();
            headers.insert(queues::REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
            match publish_confirmed(channel, &self.dead_letters, &self.body, headers).await {
                Ok(()) => return self.delivered().await,
                Err(e) => tracing::warn!(error = %e, "could not dead-letter an outbound message yet"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }

    fn is_live(&self) -> bool {
        self.consuming.status().connected()
    }
}
