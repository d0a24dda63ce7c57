//! The outbox relay: publishes events that were committed with their change,
//! in commit order, and forgets them once the broker confirmed them. If the
//! broker is down the rows wait; nothing stored is ever left unannounced.
//! A replica relays its own rows at once, each round one transaction, and
//! takes over rows another replica left for longer than `ORPHANED_AFTER`
//! (it died mid-way). Those, and the channels' outbound rows (one queue
//! shared by the replicas), are looked at every second, and the outbound
//! rows also when this replica recorded some: not on every round, where
//! finding orphans is a table scan and the outbound turn a transaction of
//! its own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::Core;
use crate::error::CoreResult;

/// Rows published per round.
const BATCH: u64 = 500;
/// After this, any replica publishes another replica's rows.
const ORPHANED_AFTER_MS: i64 = 15_000;
/// How often other replicas' orphans, and the shared outbound queue, are
/// looked for in any case.
const EVERY_SECOND: Duration = Duration::from_secs(1);
/// The pause after a round that published something. Each round is a
/// transaction; at 1,000 messages/s rounds that followed each other at
/// once carried two or three changes each, and cost PostgreSQL more than
/// the changes did. Other replicas' subscribers get an event up to this
/// much later (this replica's own get it from memory, not the relay).
const BETWEEN_ROUNDS: Duration = Duration::from_millis(5);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    Nothing,
    Published(usize),
}

impl Core {
    /// One round: publish this replica's pending rows with confirms and
    /// delete them, with rows other replicas left behind if `orphans`; then,
    /// if `outbound`, the channels' outbound rows if this replica gets the
    /// turn.
    pub async fn relay_once(&self, orphans: bool, outbound: bool) -> CoreResult<Relayed> {
        let publish = |events| -> futures::future::BoxFuture<'_, CoreResult<()>> {
            Box::pin(self.bus.publish_recorded(events))
        };
        let orphaned_before = orphans.then(|| self.now_ms() - ORPHANED_AFTER_MS);
        let mut n = self.store.relay_events(&self.replica_id, orphaned_before, BATCH, &publish).await?;
        if outbound {
            n += self.store.relay_outbound(BATCH, &publish).await?.unwrap_or(0);
        }
        if n == 0 {
            return Ok(Relayed::Nothing);
        }
        metrics::counter!("livechat_outbox_published_total").increment(n as u64);
        Ok(Relayed::Published(n))
    }

    /// Relays until `shutdown`: woken by each committed change, and every
    /// second anyway (orphans, and retries after a broker outage).
    pub async fn run_relay(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        if !self.store.uses_outbox() {
            return;
        }
        tokio::pin!(shutdown);
        let mut failing = false;
        let mut outbound_seen = Instant::now();
        let mut orphans_seen = Instant::now();
        loop {
            // Set before the round: rows recorded while it runs are looked
            // at in the next one.
            let recorded = self.outbound_recorded.swap(false, Ordering::Relaxed);
            let outbound = recorded || outbound_seen.elapsed() >= EVERY_SECOND;
            if outbound {
                outbound_seen = Instant::now();
            }
            let orphans = orphans_seen.elapsed() >= EVERY_SECOND;
            if orphans {
                orphans_seen = Instant::now();
            }
            match self.relay_once(orphans, outbound).await {
                Ok(Relayed::Published(_)) => {
                    failing = false;
                    // What commits meanwhile goes in the next round: under
                    // load a round carries many changes, not one each.
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(BETWEEN_ROUNDS) => {}
                    }
                    continue;
                }
                Ok(Relayed::Nothing) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "outbox relay cannot publish; events wait in the outbox");
                    }
                    failing = true;
                }
            }
            let wait = if failing { Duration::from_millis(500) } else { Duration::from_secs(1) };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.relay_wakeup.notified(), if !failing => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
