//! The `outbox` table: events committed with their change, waiting for the
//! relay to publish them to the broker.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The replica whose change it was (it publishes its own first).
    pub replica_id: String,
    /// Rows written before the bus envelope: the event as JSON. Empty since.
    pub payload: String,
    /// The routing key the relay publishes `envelope` under.
    pub routing_key: Option<String>,
    /// The event as a `livechat.v1.BusEnvelope` (proto/livechat/v1/bus.proto).
    pub envelope: Option<Vec<u8>>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
