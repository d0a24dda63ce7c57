//! Event buses: how an event stored on one replica reaches the subscribers
//! of every replica. The in-process bus is the single-process case.

pub mod amqp;
pub mod dead_letter;
pub mod inbound;

use std::sync::Arc;

use async_trait::async_trait;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use livechat_proto::bus::queues;

use crate::app::hub::Hub;
use crate::app::ports::{Bus, RecordedEvent};
use crate::domain::Event;
use crate::error::CoreResult;
use crate::wire::envelope;

/// Delivers straight into this process's hub: one replica, no broker.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    hub: Arc<Hub>,
}

impl InProcessBus {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, events: Vec<Event>) -> CoreResult<()> {
        for e in events {
            self.hub.dispatch(e);
        }
        Ok(())
    }

    /// Not used in one process (there is no outbox without a broker), but
    /// correct: the recorded envelopes are opened and dispatched.
    async fn publish_recorded(&self, events: Vec<RecordedEvent>) -> CoreResult<()> {
        for recorded in events {
            match envelope::open(&recorded.bytes) {
                Ok(e) => self.hub.dispatch(e),
                Err(refused) => tracing::warn!(%refused, "dropping a recorded event this build cannot read"),
            }
        }
        Ok(())
    }
}

/// Declares a quorum queue with the arguments every declarer of it uses
/// (the core's replicas and the adapters): RabbitMQ refuses a redeclaration
/// that differs.
pub(crate) async fn declare_queue(
    channel: &lapin::Channel,
    name: &str,
    args: queues::QueueArgs,
) -> lapin::Result<()> {
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
