//! Canned responses.

use async_trait::async_trait;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

use super::entity::canned;
use super::{SqlStore, is_unique_violation};
use crate::app::ports::{CannedRecord, CannedStore};
use crate::domain::Millis;
use crate::error::{CoreError, CoreResult};

fn record(m: canned::Model) -> CannedRecord {
    CannedRecord {
        id: m.id,
        owner_id: m.owner_id,
        shared: m.shared,
        shortcut: m.shortcut,
        title: m.title,
        body: m.body,
    }
}

fn taken(e: sea_orm::DbErr) -> CoreError {
    if is_unique_violation(&e) {
        CoreError::Conflict("you already have a canned response with this shortcut".into())
    } else {
        e.into()
    }
}

#[async_trait]
impl CannedStore for SqlStore {
    async fn visible_to(&self, agent_id: &str) -> CoreResult<Vec<CannedRecord>> {
        let rows = canned::Entity::find()
            .filter(
                Condition::any()
                    .add(canned::Column::OwnerId.eq(agent_id))
                    .add(canned::Column::Shared.eq(true)),
            )
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    async fn canned(&self, id: &str) -> CoreResult<Option<CannedRecord>> {
        Ok(canned::Entity::find_by_id(id).one(&self.db).await?.map(record))
    }

    async fn create_canned(&self, c: CannedRecord, now: Millis) -> CoreResult<CannedRecord> {
        let row = canned::ActiveModel {
            id: Set(c.id),
            owner_id: Set(c.owner_id),
            shared: Set(c.shared),
            shortcut: Set(c.shortcut),
            title: Set(c.title),
            body: Set(c.body),
            created_at: Set(now),
            updated_at: Set(now),
        };
        row.insert(&self.db).await.map(record).map_err(taken)
    }

    async fn update_canned(&self, c: CannedRecord, now: Millis) -> CoreResult<CannedRecord> {
        let Some(row) = canned::Entity::find_by_id(c.id.as_str()).one(&self.db).await? else {
            return Err(CoreError::not_found("canned response"));
        };
        let mut row = row.into_active_model();
        row.shared = Set(c.shared);
        row.shortcut = Set(c.shortcut);
        row.title = Set(c.title);
        row.body = Set(c.body);
        row.updated_at = Set(now);
        row.update(&self.db).await.map(record).map_err(taken)
    }

    async fn delete_canned(&self, id: &str) -> CoreResult<bool> {
        Ok(canned::Entity::delete_by_id(id).exec(&self.db).await?.rows_affected > 0)
    }
}
