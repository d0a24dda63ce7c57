//! The audit trail.

use async_trait::async_trait;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::SqlStore;
use super::entity::audit;
use crate::app::ports::{AuditQuery, AuditStore};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::{Millis, Person};
use crate::error::CoreResult;

fn from_row(r: audit::Model) -> Option<AuditEntry> {
    Some(AuditEntry {
        id: r.id,
        at: r.at,
        actor: r.actor_id.map(|id| Person { id, name: r.actor_name.unwrap_or_default() }),
        address: r.address,
        action: AuditAction::parse(&r.action)?,
        target: r.target,
        details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, e: &AuditEntry) -> CoreResult<()> {
        let (_turn, txn) = self.begin_write().await?;
        audit::ActiveModel {
            id: Default::default(),
            at: Set(e.at),
            actor_id: Set(e.actor.as_ref().map(|a| a.id.clone())),
            actor_name: Set(e.actor.as_ref().map(|a| a.name.clone())),
            address: Set(e.address.clone()),
            action: Set(e.action.as_str().to_string()),
            target: Set(e.target.clone()),
            details: Set(e.details.to_string()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn audit_log(&self, q: &AuditQuery) -> CoreResult<Vec<AuditEntry>> {
        let mut find = audit::Entity::find();
        if let Some(action) = q.action {
            find = find.filter(audit::Column::Action.eq(action.as_str()));
        }
        if let Some(actor) = &q.actor_id {
            find = find.filter(audit::Column::ActorId.eq(actor));
        }
        if let Some(before) = q.before_id {
            find = find.filter(audit::Column::Id.lt(before));
        }
        let rows = find.order_by_desc(audit::Column::Id).limit(q.limit).all(&self.db).await?;
        Ok(rows.into_iter().filter_map(from_row).collect())
    }

    async fn prune_audit(&self, before: Millis) -> CoreResult<u64> {
        let (_turn, txn) = self.begin_write().await?;
        let done = audit::Entity::delete_many().filter(audit::Column::At.lt(before)).exec(&txn).await?;
        txn.commit().await?;
        Ok(done.rows_affected)
    }
}
