//! Agents, permission groups and the meta table.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::entity::{agent, canned, decline, group, meta};
use super::{SqlStore, convert::corrupt, is_unique_violation};
use crate::app::ports::{AgentChanges, AgentRecord, Directory};
use crate::domain::{Millis, PermissionSet};
use crate::error::{CoreError, CoreResult};

fn permissions(row: &group::Model) -> CoreResult<PermissionSet> {
    let names: Vec<&str> = row.permissions.split(',').filter(|s| !s.is_empty()).collect();
    PermissionSet::parse_names(&names).map_err(|_| corrupt("permissions", &row.permissions))
}

fn record(a: agent::Model, perms: PermissionSet) -> AgentRecord {
    AgentRecord {
        id: a.id,
        username: a.username,
        name: a.name,
        group: a.group_name,
        disabled: a.disabled,
        password_hash: a.password_hash,
        token_version: a.token_version,
        permissions: perms,
        away: a.away,
        capacity: a.capacity.map(|c| c.max(0) as u32),
        last_assigned_at: a.last_assigned_at,
    }
}

impl SqlStore {
    async fn with_permissions(&self, a: Option<agent::Model>) -> CoreResult<Option<AgentRecord>> {
        let Some(a) = a else { return Ok(None) };
        let perms = self.group(&a.group_name).await?.unwrap_or_default();
        Ok(Some(record(a, perms)))
    }
}

#[async_trait]
impl Directory for SqlStore {
    async fn agent(&self, id: &str) -> CoreResult<Option<AgentRecord>> {
        let a = agent::Entity::find_by_id(id).one(&self.db).await?;
        self.with_permissions(a).await
    }

    async fn agent_by_username(&self, username: &str) -> CoreResult<Option<AgentRecord>> {
        let a = agent::Entity::find().filter(agent::Column::Username.eq(username)).one(&self.db).await?;
        self.with_permissions(a).await
    }

    async fn agents(&self) -> CoreResult<Vec<AgentRecord>> {
        let groups: HashMap<String, PermissionSet> = self.groups().await?.into_iter().collect();
        let rows = agent::Entity::find().order_by_asc(agent::Column::Username).all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|a| {
                let perms = groups.get(&a.group_name).copied().unwrap_or_default();
                record(a, perms)
            })
            .collect())
    }

    async fn agent_count(&self) -> CoreResult<u64> {
        Ok(agent::Entity::find().count(&self.db).await?)
    }

    async fn create_agent(&self, a: AgentRecord, created_at: Millis) -> CoreResult<AgentRecord> {
        let row = agent::ActiveModel {
            id: Set(a.id.clone()),
            username: Set(a.username.clone()),
            name: Set(a.name.clone()),
            group_name: Set(a.group.clone()),
            password_hash: Set(a.password_hash.clone()),
            token_version: Set(a.token_version),
            disabled: Set(a.disabled),
            away: Set(a.away),
            created_at: Set(created_at),
            capacity: Set(a.capacity.map(|c| c.min(i32::MAX as u32) as i32)),
            last_assigned_at: Set(0),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(self.agent(&a.id).await?.expect("just inserted")),
            Err(e) if is_unique_violation(&e) => Err(CoreError::Conflict("this username is taken".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn update_agent(&self, id: &str, c: AgentChanges) -> CoreResult<Option<AgentRecord>> {
        let Some(row) = agent::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let version = row.token_version;
        let mut row = row.into_active_model();
        if let Some(n) = c.name {
            row.name = Set(n);
        }
        if let Some(g) = c.group {
            row.group_name = Set(g);
        }
        if let Some(h) = c.password_hash {
            row.password_hash = Set(h);
        }
        if let Some(d) = c.disabled {
            row.disabled = Set(d);
        }
        if c.revoke_tokens {
            row.token_version = Set(version + 1);
        }
        row.update(&self.db).await?;
        self.agent(id).await
    }

    async fn set_away(&self, id: &str, away: bool) -> CoreResult<bool> {
        let done = agent::Entity::update_many()
            .col_expr(agent::Column::Away, sea_orm::sea_query::Expr::value(away))
            .filter(agent::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    async fn set_capacity(&self, id: &str, capacity: Option<u32>) -> CoreResult<bool> {
        let value = capacity.map(|c| c.min(i32::MAX as u32) as i32);
        let done = agent::Entity::update_many()
            .col_expr(agent::Column::Capacity, sea_orm::sea_query::Expr::value(value))
            .filter(agent::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    async fn delete_agent(&self, id: &str) -> CoreResult<bool> {
        let (_turn, txn) = self.begin_write().await?;
        canned::Entity::delete_many()
            .filter(canned::Column::OwnerId.eq(id))
            .filter(canned::Column::Shared.eq(false))
            .exec(&txn)
            .await?;
        decline::Entity::delete_many().filter(decline::Column::AgentId.eq(id)).exec(&txn).await?;
        let gone = agent::Entity::delete_by_id(id).exec(&txn).await?.rows_affected > 0;
        txn.commit().await?;
        Ok(gone)
    }

    async fn groups(&self) -> CoreResult<Vec<(String, PermissionSet)>> {
        let rows = group::Entity::find().order_by_asc(group::Column::Name).all(&self.db).await?;
        rows.into_iter().map(|g| Ok((g.name.clone(), permissions(&g)?))).collect()
    }

    async fn group(&self, name: &str) -> CoreResult<Option<PermissionSet>> {
        group::Entity::find_by_id(name).one(&self.db).await?.map(|g| permissions(&g)).transpose()
    }

    async fn create_group(&self, name: &str, perms: PermissionSet) -> CoreResult<()> {
        let row = group::ActiveModel {
            name: Set(name.into()),
            permissions: Set(perms.names().join(",")),
            built_in: Set(false),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CoreError::Conflict("this group exists".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn update_group(&self, name: &str, perms: PermissionSet) -> CoreResult<bool> {
        let res = group::Entity::update_many()
            .col_expr(group::Column::Permissions, sea_orm::sea_query::Expr::value(perms.names().join(",")))
            .filter(group::Column::Name.eq(name))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    async fn meta(&self, key: &str) -> CoreResult<Option<String>> {
        Ok(meta::Entity::find_by_id(key).one(&self.db).await?.map(|m| m.value))
    }

    async fn meta_init(&self, key: &str, value: &str) -> CoreResult<String> {
        let row = meta::ActiveModel { key: Set(key.into()), value: Set(value.into()) };
        match row.insert(&self.db).await {
            Ok(m) => Ok(m.value),
            Err(e) if is_unique_violation(&e) => self
                .meta(key)
                .await?
                .ok_or_else(|| CoreError::Unexpected(anyhow::anyhow!("meta {key} vanished"))),
            Err(e) => Err(e.into()),
        }
    }
}
