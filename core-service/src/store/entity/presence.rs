//! The `agent_presence` table: per core replica and agent, how many event
//! subscriptions are open and when that was last confirmed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_presence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub replica_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: String,
    pub connections: i32,
    pub last_seen_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
