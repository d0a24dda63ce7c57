//! The outbox relay: publishes events that were committed with their change,
//! in commit order, and forgets them once the broker confirmed them. If the
//! broker is down the rows wait; nothing stored is ever left unannounced.
//! A replica relays its own rows at once, and takes over rows another
//! replica left for longer than `ORPHANED_AFTER` (it died mid-way).
//! The channels' outbound rows, one queue shared by the replicas, are
//! looked at when this replica recorded some, and every second (another
//! replica's, when their relay is gone): not on every round, where the
//! turn to relay them costs a transaction of its own.

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
/// How often the shared outbound queue is looked at in any case.
const OUTBOUND_EVERY: Duration = Duration::from_secs(1);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    Nothing,
    Published(usize),
}

impl Core {
    /// One round: read pending rows, publish them with confirms, delete
    /// them; then, if `outbound`, the channels' outbound rows, if this
    /// replica gets the turn.
    pub async fn relay_once(&self, outbound: bool) -> CoreResult<Relayed> {
        let pending =
            self.store.pending_events(&self.replica_id, self.now_ms() - ORPHANED_AFTER_MS, BATCH).await?;
        let mut n = pending.len();
        if !pending.is_empty() {
            let (ids, events): (Vec<i64>, Vec<_>) = pending.into_iter().unzip();
            self.bus.publish_recorded(events).await?;
            self.store.forget_events(&ids).await?;
        }
        let publish = |events| -> futures::future::BoxFuture<'_, CoreResult<()>> {
            Box::pin(self.bus.publish_recorded(events))
        };
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
        loop {
            // Set before the round: rows recorded while it runs are looked
            // at in the next one.
            let recorded = self.outbound_recorded.swap(false, Ordering::Relaxed);
            let outbound = recorded || outbound_seen.elapsed() >= OUTBOUND_EVERY;
            if outbound {
                outbound_seen = Instant::now();
            }
            match self.relay_once(outbound).await {
                Ok(Relayed::Published(_)) => {
                    failing = false;
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
