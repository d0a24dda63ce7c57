//! The channel adapters inside the all-in-one: the same `ChannelAdapter`
//! as the `livechat-adapter` binary, with the core itself as both queues
//! when there is no broker. Inbound, a webhook's message is stored before
//! the platform hears 200; outbound, messages wait in the core's outbox
//! (SQLite) until the platform took them, so a crash or a restart sends
//! what was pending, in order.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livechat_adapter::{ChannelAdapter, Channels, Delivery, Inbox, NotDurable, Settle};
use livechat_core::app::Core;
use livechat_core::bus::inbound::{Taken, take};
use livechat_core::domain::Channel;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Outbound messages read from the outbox at a time.
const BATCH: u64 = 64;
/// How often the outbox is read again when nothing woke the feed.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Starts every configured channel (with `amqp_url`, through RabbitMQ like
/// the standalone adapter; without, through the core in this process) and
/// returns their webhook routes.
pub async fn start(
    channels: &Channels,
    core: &Arc<Core>,
    amqp: Option<(String, String)>,
    stop: &CancellationToken,
) -> anyhow::Result<axum::Router> {
    let mut routes = axum::Router::new();
    for config in channels.configured().map_err(|e| anyhow::anyhow!(e))? {
        let name = config.name();
        let (inbox, deliveries): (Arc<dyn Inbox>, _) = match &amqp {
            Some((url, exchange)) => {
                let (broker, deliveries) = livechat_adapter::broker::Broker::start(
                    url.clone(),
                    exchange.clone(),
                    name,
                    stop.clone(),
                    Duration::from_secs(10),
                )
                .await?;
                (broker, deliveries)
            }
            None => {
                let channel = Channel::parse(name).expect("adapters name real channels");
                (Arc::new(CoreInbox(core.clone())), local_outbox(core.clone(), channel, stop.clone()))
            }
        };
        let adapter = ChannelAdapter::new(config, inbox, &channels.policy)?;
        adapter.spawn(deliveries, channels.policy.clone(), stop.clone());
        routes = routes.merge(adapter.routes());
        tracing::info!(channel = name, "channel adapter running in this process");
    }
    Ok(routes)
}

/// The inbound queue without a broker: the core stores the message now.
struct CoreInbox(Arc<Core>);

#[async_trait]
impl Inbox for CoreInbox {
    async fn publish(&self, envelopes: Vec<Vec<u8>>) -> Result<(), NotDurable> {
        for envelope in envelopes {
            // On its own task: a platform hanging up (or the webhook's
            // deadline) must not cut a stored message off from its events.
            let core = self.0.clone();
            let taken = tokio::spawn(async move { take(&core, &envelope).await })
                .await
                .map_err(|e| NotDurable(format!("storing failed: {e}")))?;
            match taken {
                Taken::Done => {}
                // Never storable: a retry by the platform would not help.
                Taken::Rejected(why, _) => {
                    tracing::warn!(%why, "dropping an inbound message that can never be stored")
                }
                Taken::Retry(e) => return Err(NotDurable(e.to_string())),
            }
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        self.0.database_reachable()
    }
}

/// Outbound messages handed to the adapter and not yet settled, by outbox
/// id: read again from the oldest each time (ids may commit out of order
/// on PostgreSQL), skipping these, and at most `MAX_IN_FLIGHT` of them.
/// A settled id leaves `ids` only before the next read starts (through
/// `settled_ids`): a read that began before its row was deleted may still
/// return it, and must not hand it out again.
#[derive(Default)]
struct InFlight {
    ids: std::sync::Mutex<HashSet<i64>>,
    settled_ids: std::sync::Mutex<Vec<i64>>,
    settled: tokio::sync::Notify,
}

/// Most outbound messages handed out and not yet settled.
const MAX_IN_FLIGHT: usize = 256;

impl InFlight {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.ids.lock().expect("in-flight lock poisoned")
    }

    /// Called between reads: what was settled since leaves the set.
    fn forget_settled(&self) {
        let settled = std::mem::take(&mut *self.settled_ids.lock().expect("in-flight lock poisoned"));
        let mut ids = self.ids();
        for id in settled {
            ids.remove(&id);
        }
    }

    fn settle(&self, id: i64) {
        self.settled_ids.lock().expect("in-flight lock poisoned").push(id);
        self.settled.notify_waiters();
    }
}

/// Feeds `channel`'s outbound messages from the outbox, oldest first, as
/// they are stored (woken by the core), as others are settled, or within
/// a second.
fn local_outbox(core: Arc<Core>, channel: Channel, stop: CancellationToken) -> mpsc::Receiver<Delivery> {
    let (tx, rx) = mpsc::channel(BATCH as usize);
    let in_flight = Arc::new(InFlight::default());
    tokio::spawn(async move {
        loop {
            // Registered before reading, so a message stored meanwhile wakes us.
            let stored = core.outbound_stored().notified();
            let settled = in_flight.settled.notified();
            tokio::pin!(stored, settled);
            stored.as_mut().enable();
            settled.as_mut().enable();
            in_flight.forget_settled();
            let busy = in_flight.ids().len();
            if busy < MAX_IN_FLIGHT {
                let rows = match core.pending_outbound(channel, (busy + MAX_IN_FLIGHT) as u64).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the outbound messages failed");
                        Vec::new()
                    }
                };
                let fresh: Vec<(i64, Vec<u8>)> = {
                    let mut ids = in_flight.ids();
                    let room = MAX_IN_FLIGHT.saturating_sub(ids.len());
                    let fresh: Vec<_> =
                        rows.into_iter().filter(|(id, _)| !ids.contains(id)).take(room).collect();
                    ids.extend(fresh.iter().map(|(id, _)| *id));
                    fresh
                };
                for (id, envelope) in fresh {
                    let settle =
                        Box::new(LocalSettle { core: core.clone(), id, in_flight: in_flight.clone() });
                    if tx.send(Delivery { envelope, settle }).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut stored => {}
                _ = &mut settled => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    });
    rx
}

/// Settles an outbound message by forgetting its outbox row.
struct LocalSettle {
    core: Arc<Core>,
    id: i64,
    in_flight: Arc<InFlight>,
}

#[async_trait]
impl Settle for LocalSettle {
    async fn delivered(self: Box<Self>) {
        match self.core.forget_outbound(self.id).await {
            Ok(()) => self.in_flight.settle(self.id),
            // Kept: it is sent again after a restart, never lost.
            Err(e) => tracing::warn!(error = %e, "could not forget a delivered outbound message"),
        }
    }

    async fn dead_letter(self: Box<Self>, reason: &str) {
        // Kept in the outbox as a dead letter (the agent has been told in
        // the room), where an operator finds it with its reason.
        tracing::error!(%reason, "gave up on an outbound message; kept as a dead letter");
        match self.core.keep_dead_outbound(self.id, reason).await {
            Ok(()) => self.in_flight.settle(self.id),
            Err(e) => tracing::warn!(error = %e, "could not keep a dead outbound message"),
        }
    }

    fn is_live(&self) -> bool {
        true
    }
}
