//! The `webhook_deliveries` table: one row per event and endpoint, written
//! in the transaction of the change, worked off by the dispatcher
//! (migration 12). `id` orders a room's deliveries; `delivery_id` is what
//! the endpoint sees.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: String,
    pub webhook_id: String,
    /// The room whose deliveries this one is ordered with ("" for a ping).
    pub room_key: String,
    pub topic: String,
    pub body: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i32,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: i64,
    pub last_status: i32,
    pub last_error: Option<String>,
    pub last_response_ms: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
