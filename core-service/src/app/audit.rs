//! The audit trail: who changed what in the workspace, when, and from
//! where, for admins (settings.manage) to read. An action is recorded
//! once it succeeded; a failure to record is logged, never the reason an
//! admin's change fails.

use serde_json::Value;

use super::ports::AuditQuery;
use super::{AgentPrincipal, Core, Principal};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::{Millis, Permission, Person};
use crate::error::{CoreError, CoreResult};

/// Most entries one page lists.
const MAX_PAGE: u32 = 200;

impl Core {
    /// Records an action by an agent.
    pub(super) async fn audit(&self, by: &AgentPrincipal, action: AuditAction, target: &str, details: Value) {
        let entry = AuditEntry {
            id: 0,
            at: self.now_ms(),
            actor: Some(Person { id: by.id.clone(), name: by.name.clone() }),
            address: by.address.map(|a| a.to_string()),
            action,
            target: Some(target.to_string()),
            details,
        };
        self.record_audit(entry).await;
    }

    pub(super) async fn record_audit(&self, entry: AuditEntry) {
        metrics::counter!("livechat_audit_entries_total", "action" => entry.action.as_str()).increment(1);
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = %e, action = entry.action.as_str(), "recording an audit entry failed");
        }
    }

    /// The trail, newest first, filtered by action and actor.
    pub async fn audit_log(
        &self,
        p: &Principal,
        action: Option<&str>,
        actor_id: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> CoreResult<Vec<AuditEntry>> {
        p.agent_with(Permission::SettingsManage)?;
        let action = match action.filter(|a| !a.is_empty()) {
            Some(a) => Some(AuditAction::parse(a).ok_or_else(|| {
                let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                CoreError::invalid("action", format!("one of {}", known.join(", ")))
            })?),
            None => None,
        };
        let before_id = match before.filter(|b| !b.is_empty()) {
            Some(b) => Some(b.parse::<i64>().map_err(|_| CoreError::invalid("before", "not an entry id"))?),
            None => None,
        };
        let limit = if limit == 0 { 50 } else { limit.min(MAX_PAGE) };
        let q = AuditQuery {
            action,
            actor_id: actor_id.filter(|a| !a.is_empty()).map(str::to_string),
            before_id,
            limit: u64::from(limit),
        };
        self.store.audit_log(&q).await
    }

    /// Forgets entries older than the retention setting (the timers, hourly).
    pub(super) async fn prune_audit(&self) -> CoreResult<u64> {
        let days = self.settings.get().await?.audit_retention_days;
        let before: Millis = self.now_ms() - i64::from(days) * 86_400_000;
        self.store.prune_audit(before).await
    }
}
