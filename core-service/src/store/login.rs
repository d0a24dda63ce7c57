//! Failed logins in the `login_failures` table, each change one
//! conditional statement so that replicas counting at once stay right.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::SqlStore;
use super::entity::login_failure as row;
use crate::app::ports::LoginRecords;
use crate::domain::Millis;
use crate::domain::login::Failures;
use crate::error::CoreResult;

#[async_trait]
impl LoginRecords for SqlStore {
    async fn login_failures(&self, keys: &[String]) -> CoreResult<Vec<(String, Failures)>> {
        let rows =
            row::Entity::find().filter(row::Column::Key.is_in(keys.iter().cloned())).all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let failures = Failures {
                    count: u32::try_from(r.failures).unwrap_or(0),
                    first_at: r.first_failed_at,
                    last_at: r.last_failed_at,
                };
                (r.key, failures)
            })
            .collect())
    }

    async fn login_failed(&self, keys: &[String], now: Millis, window_start: Millis) -> CoreResult<()> {
        for key in keys {
            // Within the window: one more. Past it: a new window.
            let counted = row::Entity::update_many()
                .col_expr(row::Column::Failures, Expr::col(row::Column::Failures).add(1))
                .col_expr(row::Column::LastFailedAt, Expr::value(now))
                .filter(row::Column::Key.eq(key.as_str()))
                .filter(row::Column::FirstFailedAt.gte(window_start))
                .exec(&self.db)
                .await?;
            if counted.rows_affected > 0 {
                continue;
            }
            let fresh = row::ActiveModel {
                key: Set(key.clone()),
                failures: Set(1),
                first_failed_at: Set(now),
                last_failed_at: Set(now),
                // Slots are taken only once the account is slowed.
                last_attempt_at: Set(0),
            };
            // A key whose window ended is started again; a new key inserted.
            row::Entity::insert(fresh)
                .on_conflict(
                    OnConflict::column(row::Column::Key)
                        .update_columns([
                            row::Column::Failures,
                            row::Column::FirstFailedAt,
                            row::Column::LastFailedAt,
                        ])
                        .to_owned(),
                )
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    async fn take_login_slot(&self, key: &str, now: Millis, free_since: Millis) -> CoreResult<bool> {
        let taken = row::Entity::update_many()
            .col_expr(row::Column::LastAttemptAt, Expr::value(now))
            .filter(row::Column::Key.eq(key))
            .filter(row::Column::LastAttemptAt.lte(free_since))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    async fn forget_login_failures(&self, key: &str) -> CoreResult<()> {
        row::Entity::delete_many().filter(row::Column::Key.eq(key)).exec(&self.db).await?;
        Ok(())
    }

    async fn prune_login_failures(&self, before: Millis) -> CoreResult<()> {
        row::Entity::delete_many().filter(row::Column::FirstFailedAt.lt(before)).exec(&self.db).await?;
        Ok(())
    }
}
