//! The `login_failures` table: failed logins per account (`account:<hash>`)
//! and per account and client address (`address:<hash>`), and the last
//! attempt of an account that is being slowed down (see `domain::login`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub failures: i32,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    pub last_attempt_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
