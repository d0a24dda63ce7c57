//! The `messages` table: unique (room_id, seq), and unique (room_id,
//! sender_kind, sender_id, client_id) for idempotent sends.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub room_id: String,
    pub seq: i64,
    pub sender_kind: String,
    pub sender_id: String,
    pub sender_name: String,
    pub content: String,
    pub client_id: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
