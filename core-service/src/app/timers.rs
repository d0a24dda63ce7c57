//! The core's clocks: rooms that expire after inactivity, agents whose
//! grace runs out, this replica's presence heartbeat, and the hourly
//! retention rules (audit trail, webhook deliveries, visitors' data).
//!
//! Both timers work from stored timestamps (last message, presence rows),
//! so they survive restarts and any replica may run them: each change is a
//! conditional update, so two replicas racing do it once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::Core;
use crate::domain::Person;
use crate::error::CoreResult;

/// How often a replica re-records its connected agents.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A presence row older than this is from a replica that died.
pub const PRESENCE_STALE_MS: i64 = 3 * 5_000;
/// Expired rooms handled per tick (the rest wait for the next one).
const EXPIRE_BATCH: u64 = 500;

/// How often retention rules run (on the core's clock).
const HOUSEKEEPING_EVERY_MS: crate::domain::Millis = 3_600_000;
impl Core {
    /// Expires every room idle for longer than room_idle_timeout_secs.
    pub async fn expire_idle_rooms(&self) -> CoreResult<usize> {
        let settings = self.settings.get().await?;
        let idle_before = self.now_ms() - settings.room_idle_timeout_secs as i64 * 1000;
        let offline_before = self.now_ms() - settings.offline_room_wait_secs as i64 * 1000;
        let mut expired = 0;
        for room_id in self.store.idle_rooms(idle_before, offline_before, EXPIRE_BATCH).await? {
            if self.expire(&room_id, idle_before).await? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Gives back the rooms of agents whose last subscription ended more
    /// than agent_grace_secs ago. Grace counts from the later of the
    /// disconnect and the accept. An agent who never subscribed (a REST-only
    /// integration) keeps their rooms until they expire.
    pub async fn requeue_absent_agents(&self) -> CoreResult<usize> {
        let engaged = self.store.engaged_rooms().await?;
        if engaged.is_empty() {
            return Ok(0);
        }
        let now = self.now_ms();
        let local = self.hub.connected_agents();
        let agents: Vec<String> = engaged
            .iter()
            .map(|(_, a, _)| a.clone())
            .filter(|a| !local.contains(a))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if agents.is_empty() {
            return Ok(0);
        }
        let presence: HashMap<String, (bool, i64)> = self
            .store
            .presence(&agents, now - PRESENCE_STALE_MS)
            .await?
            .into_iter()
            .map(|(a, live, seen)| (a, (live, seen)))
            .collect();
        let grace_ms = self.settings.get().await?.agent_grace_secs as i64 * 1000;
        let mut requeued = 0;
        for (room_id, agent_id, engaged_at) in engaged {
            let Some(&(live, last_seen)) = presence.get(&agent_id) else {
                continue;
            };
            if live || local.contains(&agent_id) || now - last_seen.max(engaged_at) < grace_ms {
                continue;
            }
            let Some(agent) = self.store.agent(&agent_id).await? else {
                continue;
            };
            let from = Person { id: agent.id, name: agent.name };
            if self.give_back(&room_id, &from).await?.is_some() {
                tracing::info!(room_id, agent_id, "agent's grace ran out; room back in the queue");
                requeued += 1;
            }
        }
        Ok(requeued)
    }

    /// Publishes gauges: rooms by status (the queue length is `queued`),
    /// this replica's subscriptions and connected agents.
    pub async fn record_gauges(&self) -> CoreResult<()> {
        let counts = self.store.count_by_status().await?;
        for status in crate::domain::RoomStatus::ALL {
            let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
            metrics::gauge!("livechat_rooms", "status" => status.as_str()).set(n as f64);
        }
        metrics::gauge!("livechat_event_subscriptions").set(self.hub.subscribers() as f64);
        metrics::gauge!("livechat_connected_agents").set(self.hub.connected_agents().len() as f64);
        metrics::gauge!("livechat_database_reachable").set(if self.database_reachable() { 1.0 } else { 0.0 });
        metrics::gauge!("livechat_bus_connected").set(if self.bus.healthy() { 1.0 } else { 0.0 });
        if self.store.uses_outbox() {
            let (rows, oldest) = self.store.outbox_backlog().await?;
            metrics::gauge!("livechat_outbox_rows").set(rows as f64);
            let age = oldest.map_or(0, |at| (self.now_ms() - at).max(0));
            metrics::gauge!("livechat_outbox_oldest_age_seconds").set(age as f64 / 1000.0);
        }
        Ok(())
    }

    /// Writes this replica's connected agents (and those who just left).
    pub async fn record_presence(&self) -> CoreResult<()> {
        let _one = self.presence_writer.lock().await;
        let counts = self.hub.take_presence();
        if counts.is_empty() {
            return Ok(());
        }
        self.store.record_presence(&self.replica_id, &counts, self.now_ms()).await
    }

    /// Hourly, on the core's clock (so a test that moves it sees it done):
    /// forgets audit entries and settled webhook deliveries past their
    /// time, and erases visitors' data of rooms past the retention setting.
    async fn keep_house_if_due(&self) {
        let now = self.now_ms();
        let last = self.housekept_at.load(std::sync::atomic::Ordering::Relaxed);
        if now - last < HOUSEKEEPING_EVERY_MS {
            return;
        }
        self.housekept_at.store(now, std::sync::atomic::Ordering::Relaxed);
        log_failure("pruning the audit trail", self.prune_audit().await);
        log_failure("forgetting settled webhook deliveries", self.prune_deliveries().await);
        log_failure("erasing rooms past their retention", self.erase_past_retention().await);
    }

    /// One round of the timers: what is due by now is done when it returns.
    pub async fn run_timers_once(&self) {
        let started_at = self.now_ms();
        log_failure("expiring idle rooms", self.expire_idle_rooms().await);
        log_failure("requeueing rooms of absent agents", self.requeue_absent_agents().await);
        log_failure("assigning waiting rooms", self.assign_waiting_rooms().await);
        // Endpoints another replica changed (this one's own changes are
        // read at once).
        log_failure("reading webhook endpoints", self.refresh_webhooks().await);
        self.keep_house_if_due().await;
        let lapsed = self.typists.lapsed(self.now_ms());
        if !lapsed.is_empty() {
            self.publish(lapsed).await;
        }
        self.clock.timers_ran(started_at);
    }

    /// Runs the timers until `shutdown` resolves.
    pub async fn run_timers(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => self.run_timers_once().await,
                // A test moved the clock: look at the new time at once.
                _ = self.clock.advanced() => self.run_timers_once().await,
                _ = heartbeat.tick() => {
                    log_failure("recording presence", self.record_presence().await);
                    log_failure("recording gauges", self.record_gauges().await);
                    self.rooms_per_address.retain_recent();
                }
                _ = self.hub.presence_changed() => log_failure("recording presence", self.record_presence().await),
                _ = prune.tick() => {
                    let before = self.now_ms() - 86_400_000;
                    log_failure("pruning presence", self.store.prune_presence(before).await);
                    let forgotten = self.now_ms() - crate::domain::login::WINDOW_MS;
                    log_failure("pruning login failures", self.store.prune_login_failures(forgotten).await);
                }
            }
        }
        // Tell the other replicas this one's agents are gone, so their grace
        // starts now rather than when the rows go stale.
        self.hub.forget_all_presence();
        log_failure("recording presence", self.record_presence().await);
    }
}

fn log_failure<T>(what: &str, r: CoreResult<T>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "{what} failed");
    }
}
