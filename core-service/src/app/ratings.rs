//! Satisfaction ratings: the visitor rates their chat once it has ended;
//! agents who may read the room see it; supervisors read the report.

use super::{Core, Principal};
use crate::domain::rating::report;
use crate::domain::{Millis, Permission, Rating, RatingsReport};
use crate::error::{CoreError, CoreResult};

/// Longest period the report covers.
pub const MAX_REPORT_DAYS: u32 = 366;
/// Most ratings one report reads.
const REPORT_LIMIT: u64 = 100_000;

impl Core {
    /// The room's visitor rates it, once, after it ended.
    pub async fn rate(
        &self,
        p: &Principal,
        room_id: &str,
        score: u32,
        comment: Option<&str>,
    ) -> CoreResult<Rating> {
        let Principal::Visitor(v, _) = p else {
            return Err(CoreError::forbidden("only the room's visitor rates it"));
        };
        if v.room_id != room_id {
            return Err(CoreError::forbidden("this token is for another room"));
        }
        let rating = Rating::parse(score, comment, self.now_ms())?;
        let room = self.room(p, room_id).await?;
        if !room.status.is_final() {
            return Err(CoreError::Conflict("a chat is rated once it has ended".into()));
        }
        if !self.store.rate(room_id, &rating).await? {
            return Err(CoreError::Conflict("this chat is rated already".into()));
        }
        self.wake_webhooks();
        metrics::counter!("livechat_ratings_total", "score" => rating.score.to_string()).increment(1);
        Ok(rating)
    }

    /// The room's rating, for its visitor and the agents who may read it;
    /// `not_found` while it has none.
    pub async fn rating(&self, p: &Principal, room_id: &str) -> CoreResult<Rating> {
        self.room(p, room_id).await?;
        self.store.rating(room_id).await?.ok_or_else(|| CoreError::not_found("rating"))
    }

    /// Count and average by agent and by day over the last `days` days,
    /// for supervisors (rooms.view_all).
    pub async fn ratings_report(&self, p: &Principal, days: u32) -> CoreResult<RatingsReport> {
        p.agent_with(Permission::RoomsViewAll)?;
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(CoreError::invalid("days", format!("must be between 1 and {MAX_REPORT_DAYS}")));
        }
        let since: Millis = self.now_ms() - i64::from(days) * 86_400_000;
        Ok(report(&self.store.rated_since(since, REPORT_LIMIT).await?))
    }
}
