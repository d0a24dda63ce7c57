//! The `webhook_queues` table: per endpoint and room, how many deliveries
//! wait and when the oldest is due; a dispatcher leases the row while it
//! tries that delivery (migration 12).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_queues")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub webhook_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub room_key: String,
    pub pending: i64,
    /// When the oldest pending delivery is due; `IDLE` with none.
    pub due_at: i64,
    pub lease_until: i64,
    pub lease_token: Option<String>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `due_at` of a queue with nothing pending.
pub const IDLE: i64 = i64::MAX;
