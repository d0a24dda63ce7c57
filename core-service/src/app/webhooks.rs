//! Outbound webhooks: the admin's endpoints (settings.manage), and the
//! dispatcher that works off their deliveries. A delivery is written with
//! the change it tells of (see `store::webhooks`); here it is sent, signed,
//! retried with backoff for a day, and settled. Each endpoint has its own
//! few slots, so a slow or dead one holds only its own; the chat never
//! waits for any of them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;

use super::ports::{Attempt, DueDelivery, PostOutcome, WebhookPost};
use super::{Core, Principal};
use crate::domain::audit::{AuditAction, changes};
use crate::domain::value::Checks;
use crate::domain::webhook::{self, AfterFailure, Delivery, DeliveryState, Webhook};
use crate::domain::{FieldError, Millis, Permission, new_id};
use crate::error::{CoreError, CoreResult};

/// Tries in flight at once per endpoint, and in all.
const SLOTS_PER_ENDPOINT: usize = 4;
const SLOTS: usize = 32;
/// A claimed delivery is another dispatcher's to try after this long
/// (its replica died mid-try): longer than any try takes.
const LEASE_MS: Millis = 60_000;
/// How often due retries are looked for when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(500);
/// After a look that found nothing to send, the next waits this long
/// whatever wakes it: every stored message wakes the dispatcher, and while
/// an endpoint is down or full every look comes back empty.
const IDLE_GAP: Duration = Duration::from_millis(100);
/// Settled deliveries are listed for this long, then forgotten.
const KEEP_SETTLED_MS: Millis = 7 * 86_400_000;
/// Most deliveries one page lists.
const MAX_PAGE: u32 = 100;

/// Changes to an endpoint; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The networks an admin let webhooks reach. Stored lists were checked
/// when saved; one that no longer parses allows nothing rather than
/// failing.
fn networks(settings: &crate::domain::Settings) -> Vec<ipnet::IpNet> {
    webhook::parse_networks(&settings.webhook_allowed_networks).unwrap_or_default()
}

/// An endpoint as the audit trail shows it: never its secret.
fn audit_fields(w: &Webhook) -> serde_json::Value {
    let events: Vec<&str> = w.topics.iter().map(|t| t.as_str()).collect();
    serde_json::json!({ "url": w.url, "events": events, "enabled": w.enabled })
}

/// Without its secret: only the answer that creates it shows that.
fn shown(mut w: Webhook) -> Webhook {
    w.secret.clear();
    w
}

impl Core {
    async fn allowed_networks(&self) -> CoreResult<Vec<ipnet::IpNet>> {
        Ok(networks(&self.settings.get().await?))
    }

    /// The URL as stored, or what is wrong with it (a field error, so
    /// that it is reported beside the request's other mistakes).
    async fn checked_url(&self, raw: &str) -> CoreResult<Result<String, FieldError>> {
        let url = match webhook::parse_url(raw) {
            Ok(url) => url,
            Err(e) => return Ok(Err(e)),
        };
        // Read from the database, not this replica's cache: an admin who
        // just allowed a network on another replica registers at once.
        let allowed = networks(&self.store.load_settings().await?);
        let checked = self.webhook_sender.check_target(&url, &allowed).await;
        Ok(checked.map(|()| url.to_string()).map_err(|why| FieldError::new("url", why)))
    }

    /// Reads the endpoints again after a change, here at once (the other
    /// replicas within a second, see `run_timers`).
    pub(super) async fn refresh_webhooks(&self) -> CoreResult<()> {
        let any = self.store.refresh_webhook_routes().await?;
        self.webhooks_on.store(any, Ordering::Relaxed);
        Ok(())
    }

    pub async fn webhooks(&self, p: &Principal) -> CoreResult<Vec<Webhook>> {
        p.agent_with(Permission::SettingsManage)?;
        Ok(self.store.webhooks().await?.into_iter().map(shown).collect())
    }

    pub async fn webhook(&self, p: &Principal, id: &str) -> CoreResult<Webhook> {
        p.agent_with(Permission::SettingsManage)?;
        self.store.webhook(id).await?.map(shown).ok_or_else(|| CoreError::not_found("webhook"))
    }

    /// Registers an endpoint; the answer is the only one with its secret.
    pub async fn create_webhook(
        &self,
        p: &Principal,
        url: &str,
        events: &[String],
        enabled: bool,
    ) -> CoreResult<Webhook> {
        let me = p.agent_with(Permission::SettingsManage)?;
        let mut c = Checks::default();
        let url = c.check(self.checked_url(url).await?);
        let topics = c.check(webhook::parse_topics(events));
        c.finish()?;
        let (url, topics) = (url.expect("checked"), topics.expect("checked"));
        let w =
            Webhook { id: new_id(), url, topics, enabled, created_at: self.now_ms(), secret: new_secret() };
        self.store.create_webhook(&w).await?;
        self.refresh_webhooks().await?;
        self.audit(me, AuditAction::WebhookCreated, &w.id, audit_fields(&w)).await;
        Ok(w)
    }

    pub async fn update_webhook(&self, p: &Principal, id: &str, c: WebhookChanges) -> CoreResult<Webhook> {
        let me = p.agent_with(Permission::SettingsManage)?;
        let mut w = self.store.webhook(id).await?.ok_or_else(|| CoreError::not_found("webhook"))?;
        let before = audit_fields(&w);
        if let Some(url) = &c.url {
            w.url = self.checked_url(url).await??;
        }
        if let Some(events) = &c.events {
            w.topics = webhook::parse_topics(events)?;
        }
        if let Some(enabled) = c.enabled {
            w.enabled = enabled;
        }
        if !self.store.update_webhook(&w).await? {
            return Err(CoreError::not_found("webhook"));
        }
        self.refresh_webhooks().await?;
        self.audit(me, AuditAction::WebhookUpdated, &w.id, changes(&before, &audit_fields(&w))).await;
        if w.enabled {
            self.webhook_wakeup.notify_one();
        }
        Ok(shown(w))
    }

    pub async fn delete_webhook(&self, p: &Principal, id: &str) -> CoreResult<()> {
        let me = p.agent_with(Permission::SettingsManage)?;
        let w = self.store.webhook(id).await?.ok_or_else(|| CoreError::not_found("webhook"))?;
        if !self.store.delete_webhook(id).await? {
            return Err(CoreError::not_found("webhook"));
        }
        self.refresh_webhooks().await?;
        self.audit(me, AuditAction::WebhookDeleted, id, audit_fields(&w)).await;
        Ok(())
    }

    /// Queues a `ping` to the endpoint, whatever events it takes.
    pub async fn send_test_event(&self, p: &Principal, id: &str) -> CoreResult<Delivery> {
        p.agent_with(Permission::SettingsManage)?;
        self.store.webhook(id).await?.ok_or_else(|| CoreError::not_found("webhook"))?;
        let d = self.store.queue_ping(id, self.now_ms()).await?;
        self.webhook_wakeup.notify_one();
        Ok(d)
    }

    /// An endpoint's deliveries, newest first.
    pub async fn deliveries(
        &self,
        p: &Principal,
        id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> CoreResult<Vec<Delivery>> {
        p.agent_with(Permission::SettingsManage)?;
        self.store.webhook(id).await?.ok_or_else(|| CoreError::not_found("webhook"))?;
        let limit = if limit == 0 { 50 } else { limit.min(MAX_PAGE) };
        self.store.deliveries(id, before.filter(|b| !b.is_empty()), u64::from(limit)).await
    }

    /// Forgets delivered and failed deliveries past a week (the timers).
    pub(super) async fn prune_deliveries(&self) -> CoreResult<u64> {
        self.store.prune_deliveries(self.now_ms() - KEEP_SETTLED_MS).await
    }

    /// Sends deliveries until `shutdown`, then waits for the tries in
    /// flight to be settled (each ends within the request deadline).
    pub async fn run_webhook_dispatcher(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        if let Err(e) = self.refresh_webhooks().await {
            tracing::warn!(error = %e, "loading webhook endpoints failed");
        }
        tokio::pin!(shutdown);
        let busy: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let mut tries = tokio::task::JoinSet::new();
        loop {
            let claimed = self.claim_deliveries(&busy).await;
            let idle = claimed.is_empty();
            for due in claimed {
                let core = self.clone();
                let busy = busy.clone();
                tries.spawn(async move {
                    let endpoint = due.webhook_id.clone();
                    core.try_delivery(due).await;
                    let mut busy = busy.lock().expect("slots lock");
                    if let Some(n) = busy.get_mut(&endpoint) {
                        *n -= 1;
                        if *n == 0 {
                            busy.remove(&endpoint);
                        }
                    }
                    drop(busy);
                    core.webhook_wakeup.notify_one();
                });
            }
            if idle {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(IDLE_GAP) => {}
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.webhook_wakeup.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                Some(_) = tries.join_next(), if !tries.is_empty() => {}
            }
        }
        while tries.join_next().await.is_some() {}
    }

    /// Claims what the free slots can take; counts them as busy.
    async fn claim_deliveries(&self, busy: &Mutex<HashMap<String, usize>>) -> Vec<DueDelivery> {
        if !self.webhooks_on.load(Ordering::Relaxed) || !self.store.reachable() {
            return vec![];
        }
        let in_flight = busy.lock().expect("slots lock").clone();
        let free = SLOTS.saturating_sub(in_flight.values().sum());
        if free == 0 {
            return vec![];
        }
        let now = self.now_ms();
        let claimed = self
            .store
            .claim_due_deliveries(now, now + LEASE_MS, &in_flight, SLOTS_PER_ENDPOINT, free as u64)
            .await;
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                return vec![];
            }
        };
        let mut busy = busy.lock().expect("slots lock");
        for due in &claimed {
            *busy.entry(due.webhook_id.clone()).or_insert(0) += 1;
        }
        claimed
    }

    /// One try of one delivery, signed now, and its settlement.
    async fn try_delivery(&self, due: DueDelivery) {
        let t = self.now_ms() / 1000;
        let post = WebhookPost {
            url: due.url.clone(),
            headers: vec![
                ("x-livechat-signature", webhook::signature(&due.secret, t, due.body.as_bytes())),
                ("x-livechat-delivery", due.delivery_id.clone()),
                ("idempotency-key", due.delivery_id.clone()),
                ("x-livechat-event", due.topic.clone()),
            ],
            body: due.body.clone(),
        };
        let allowed = self.allowed_networks().await.unwrap_or_default();
        let started = Instant::now();
        let outcome = self.webhook_sender.post(post, &allowed).await;
        let response_ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        let now = self.now_ms();
        let (status, error) = match outcome {
            PostOutcome::Answered(s) if (200..300).contains(&s) => (s, None),
            PostOutcome::Answered(s) => (s, Some(format!("the endpoint answered HTTP {s}"))),
            PostOutcome::Failed(why) => (0, Some(why)),
        };
        let attempts = due.attempts + 1;
        let (state, retry_at) = match &error {
            None => (DeliveryState::Delivered, now),
            Some(_) => match webhook::after_failure(due.created_at, attempts, now) {
                AfterFailure::RetryAt(at) => (DeliveryState::Pending, at),
                AfterFailure::GiveUp => (DeliveryState::Failed, now),
            },
        };
        let label = if error.is_none() { "delivered" } else { state.as_str() };
        metrics::counter!("livechat_webhook_attempts_total", "outcome" => label).increment(1);
        if let Some(why) = &error {
            tracing::info!(delivery = %due.delivery_id, webhook = %due.webhook_id, attempts, %why, "webhook delivery failed");
        }
        let attempt = Attempt { at: now, status, error, response_ms, state, retry_at };
        if let Err(e) = self.store.settle_delivery(&due, &attempt).await {
            // The lease runs out and the delivery is tried again: the
            // endpoint may see it twice, under the same idempotency id.
            tracing::warn!(error = %e, delivery = %due.delivery_id, "recording a webhook try failed");
        }
    }
}
