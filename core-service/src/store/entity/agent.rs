//! The `agents` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    pub name: String,
    pub group_name: String,
    /// PHC string: `$pbkdf2-sha512$i=210000,l=64$salt$hash`.
    pub password_hash: String,
    /// Bumped to revoke every token of the agent.
    pub token_version: i64,
    pub disabled: bool,
    /// Set themselves away (migration 8).
    pub away: bool,
    /// Rooms automatic assignment may hand them at once; None: the
    /// workspace default (migration 15).
    pub capacity: Option<i32>,
    /// When automatic assignment last handed them a room (0: never).
    pub last_assigned_at: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
