//! The `rooms` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub status: String,
    pub channel: String,
    pub visitor_id: String,
    pub visitor_name: String,
    pub visitor_email: Option<String>,
    pub external_id: Option<String>,
    /// A keyed digest of the client address that opened it (web rooms).
    pub visitor_address: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub subject: Option<String>,
    pub created_at: i64,
    pub last_message_at: i64,
    pub engaged_at: Option<i64>,
    /// Seq of the newest message: the per-room counter, bumped under the
    /// row lock of the transaction that stores the message.
    pub last_seq: i64,
    pub ended_at: Option<i64>,
    pub end_message: Option<String>,
    /// Opened while no agent was online (migration 9).
    pub left_offline: bool,
    /// The visitor's rating once it ended (migration 11): 1..=5.
    pub rating_score: Option<i16>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<i64>,
    /// When its visitor's data was erased (migration 14).
    pub erased_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
