//! Settings, agent presence and the readiness ping.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::SqlStore;
use super::entity::{presence, setting};
use crate::app::ports::{Health, PresenceStore, SettingsStore};
use crate::domain::{Millis, Settings};
use crate::error::{CoreError, CoreResult};

#[async_trait]
impl SettingsStore for SqlStore {
    /// Defaults for every key not stored yet; unknown stored keys are ignored.
    async fn load_settings(&self) -> CoreResult<Settings> {
        let rows = setting::Entity::find().all(&self.db).await?;
        let mut merged = match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => unreachable!("settings serialize to an object"),
        };
        for row in rows {
            if merged.contains_key(&row.key) {
                let value = serde_json::from_str(&row.value)
                    .map_err(|e| CoreError::Unexpected(anyhow::anyhow!("setting {}: {e}", row.key)))?;
                merged.insert(row.key, value);
            }
        }
        serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| CoreError::Unexpected(anyhow::anyhow!("stored settings: {e}")))
    }

    async fn save_settings(&self, s: &Settings) -> CoreResult<()> {
        let serde_json::Value::Object(map) =
            serde_json::to_value(s).map_err(|e| CoreError::Unexpected(e.into()))?
        else {
            unreachable!("settings serialize to an object")
        };
        let rows: Vec<setting::ActiveModel> = map
            .into_iter()
            .map(|(key, value)| setting::ActiveModel { key: Set(key), value: Set(value.to_string()) })
            .collect();
        let (_turn, txn) = self.begin_write().await?;
        setting::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(setting::Column::Key).update_column(setting::Column::Value).to_owned(),
            )
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl PresenceStore for SqlStore {
    async fn record_presence(&self, replica: &str, counts: &[(String, u32)], now: Millis) -> CoreResult<()> {
        let rows: Vec<presence::ActiveModel> = counts
            .iter()
            .map(|(agent, n)| presence::ActiveModel {
                replica_id: Set(replica.into()),
                agent_id: Set(agent.clone()),
                connections: Set((*n).min(i32::MAX as u32) as i32),
                last_seen_at: Set(now),
            })
            .collect();
        presence::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([presence::Column::ReplicaId, presence::Column::AgentId])
                    .update_columns([presence::Column::Connections, presence::Column::LastSeenAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn presence(
        &self,
        agent_ids: &[String],
        fresh_after: Millis,
    ) -> CoreResult<Vec<(String, bool, Millis)>> {
        let rows = presence::Entity::find()
            .filter(presence::Column::AgentId.is_in(agent_ids.iter().map(String::as_str)))
            .all(&self.db)
            .await?;
        let mut by_agent: HashMap<String, (bool, Millis)> = HashMap::new();
        for r in rows {
            let e = by_agent.entry(r.agent_id).or_insert((false, 0));
            e.0 |= r.connections > 0 && r.last_seen_at > fresh_after;
            e.1 = e.1.max(r.last_seen_at);
        }
        Ok(by_agent.into_iter().map(|(a, (live, seen))| (a, live, seen)).collect())
    }

    async fn prune_presence(&self, before: Millis) -> CoreResult<()> {
        presence::Entity::delete_many()
            .filter(presence::Column::LastSeenAt.lt(before))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

impl Health for SqlStore {
    fn reachable(&self) -> bool {
        self.reachability.is_up()
    }
}
