//! Rooms, their transitions (each one conditional update), and declines.

use async_trait::async_trait;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::{agent, decline, message, room};
use super::messages::append_in;
use super::{SqlStore, convert, is_unique_violation};
use crate::app::ports::{MakeEvents, NewMessage, NewRoom, RoomFilter, RoomSearch, RoomStore, VisitorRecord};
use crate::domain::rating::RatedChat;
use crate::domain::{AgentChange, Channel, Event, Message, Millis, Rating, Room, RoomStatus, Transition};
use crate::error::{CoreError, CoreResult};

#[async_trait]
impl RoomStore for SqlStore {
    async fn create_room(
        &self,
        new: NewRoom,
        first: Option<NewMessage>,
        events: MakeEvents<'_>,
    ) -> CoreResult<(Room, Option<Message>, Vec<Event>)> {
        let (_turn, txn) = self.begin_write().await?;
        let row = room::ActiveModel {
            id: Set(new.id.clone()),
            status: Set(RoomStatus::Queued.as_str().into()),
            channel: Set(new.channel.as_str().into()),
            visitor_id: Set(new.visitor.id),
            visitor_name: Set(new.visitor.name),
            visitor_email: Set(new.email),
            external_id: Set(new.external_id),
            visitor_address: Set(new.visitor_address),
            agent_id: Set(None),
            agent_name: Set(None),
            subject: Set(new.subject),
            created_at: Set(new.created_at),
            last_message_at: Set(new.created_at),
            engaged_at: Set(None),
            last_seq: Set(0),
            ended_at: Set(None),
            end_message: Set(None),
            left_offline: Set(new.left_offline),
            rating_score: Set(None),
            rating_comment: Set(None),
            rated_at: Set(None),
            erased_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                CoreError::Conflict("the customer already has an open room".into())
            } else {
                e.into()
            }
        })?;
        let (row, first) = match first {
            Some(m) => {
                let (m, row) = append_in(&txn, &new.id, None, m)
                    .await?
                    .ok_or_else(|| CoreError::Unexpected(anyhow::anyhow!("new room vanished")))?;
                (row, Some(m))
            }
            None => (row, None),
        };
        let room = convert::room(row)?;
        let events = events(&room, first.as_slice());
        self.record_events(&txn, &events, new.created_at).await?;
        txn.commit().await?;
        Ok((room, first, events))
    }

    async fn customer_wrote(&self, channel: Channel, external_id: &str, client_id: &str) -> CoreResult<bool> {
        let rooms: Vec<String> = room::Entity::find()
            .select_only()
            .column(room::Column::Id)
            .filter(room::Column::Channel.eq(channel.as_str()))
            .filter(room::Column::ExternalId.eq(external_id))
            .into_tuple()
            .all(&self.db)
            .await?;
        if rooms.is_empty() {
            return Ok(false);
        }
        // (room_id, …, client_id) is indexed: one probe per room.
        let found = super::entity::message::Entity::find()
            .filter(super::entity::message::Column::RoomId.is_in(rooms))
            .filter(super::entity::message::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    async fn open_rooms_from(&self, visitor_address: &str) -> CoreResult<u64> {
        use sea_orm::PaginatorTrait;
        let n = room::Entity::find()
            .filter(room::Column::VisitorAddress.eq(visitor_address))
            .filter(room::Column::Status.is_in([RoomStatus::Queued.as_str(), RoomStatus::Engaged.as_str()]))
            .count(&self.db)
            .await?;
        Ok(n)
    }

    async fn open_channel_room(&self, channel: Channel, external_id: &str) -> CoreResult<Option<Room>> {
        room::Entity::find()
            .filter(room::Column::Channel.eq(channel.as_str()))
            .filter(room::Column::ExternalId.eq(external_id))
            .filter(room::Column::Status.is_in([RoomStatus::Queued.as_str(), RoomStatus::Engaged.as_str()]))
            .one(&self.db)
            .await?
            .map(convert::room)
            .transpose()
    }

    async fn room(&self, id: &str) -> CoreResult<Option<Room>> {
        room::Entity::find_by_id(id).one(&self.db).await?.map(convert::room).transpose()
    }

    async fn rooms(&self, f: &RoomFilter) -> CoreResult<Vec<Room>> {
        let mut q = room::Entity::find();
        if let Some(s) = f.status {
            q = q.filter(room::Column::Status.eq(s.as_str()));
        }
        if let Some(a) = &f.agent_id {
            q = q.filter(room::Column::AgentId.eq(a.as_str()));
        }
        if let Some(a) = &f.visible_to {
            q = q.filter(
                Condition::any()
                    .add(room::Column::Status.eq(RoomStatus::Queued.as_str()))
                    .add(room::Column::AgentId.eq(a.as_str())),
            );
        }
        // The queue is served oldest first; other lists keep the newest.
        let oldest_first = f.status == Some(RoomStatus::Queued);
        let q = if oldest_first {
            q.order_by_asc(room::Column::CreatedAt).order_by_asc(room::Column::Id)
        } else {
            q.order_by_desc(room::Column::CreatedAt).order_by_desc(room::Column::Id)
        };
        let mut rows = q.limit(f.limit).all(&self.db).await?;
        if !oldest_first {
            rows.reverse();
        }
        rows.into_iter().map(convert::room).collect()
    }

    async fn transition(
        &self,
        room_id: &str,
        t: &Transition,
        messages: Vec<NewMessage>,
        now: Millis,
        events: MakeEvents<'_>,
    ) -> CoreResult<Option<(Room, Vec<Message>, Vec<Event>)>> {
        let pre = t.precondition();
        let effect = t.effect();
        let mut update = room::Entity::update_many()
            .col_expr(room::Column::Status, Expr::value(effect.status.as_str()))
            .filter(room::Column::Id.eq(room_id))
            .filter(room::Column::Status.is_in(pre.statuses.iter().map(|s| s.as_str())));
        if let Some(a) = &pre.agent_id {
            update = update.filter(room::Column::AgentId.eq(a.as_str()));
        }
        if let Some(before) = pre.idle_before {
            update = update.filter(room::Column::LastMessageAt.lt(before));
        }
        update = match &effect.agent {
            AgentChange::Keep => update,
            AgentChange::Set(p) => update
                .col_expr(room::Column::AgentId, Expr::value(p.id.as_str()))
                .col_expr(room::Column::AgentName, Expr::value(p.name.as_str()))
                .col_expr(room::Column::EngagedAt, Expr::value(now)),
            AgentChange::Clear => update
                .col_expr(room::Column::AgentId, Expr::value(Option::<String>::None))
                .col_expr(room::Column::AgentName, Expr::value(Option::<String>::None))
                .col_expr(room::Column::EngagedAt, Expr::value(Option::<i64>::None)),
        };
        if let Some(text) = &effect.end_message {
            update = update
                .col_expr(room::Column::EndMessage, Expr::value(text.as_str()))
                .col_expr(room::Column::EndedAt, Expr::value(now));
        }

        let (_turn, txn) = self.begin_write().await?;
        if let Some((agent_id, capacity)) = &pre.capacity {
            // Stamping the agent locks their row (PostgreSQL; SQLite has
            // one writer) until this commits: assignments to the same
            // agent from any replica count their rooms one after another.
            // The stamp takes only an agent who is still enabled and not
            // away: the caller chose them from a read that may be older
            // than their `presence away`.
            let stamped = agent::Entity::update_many()
                .col_expr(agent::Column::LastAssignedAt, Expr::value(now))
                .filter(agent::Column::Id.eq(agent_id.as_str()))
                .filter(agent::Column::Away.eq(false))
                .filter(agent::Column::Disabled.eq(false))
                .exec(&txn)
                .await?;
            if stamped.rows_affected == 0 {
                txn.rollback().await?;
                return Ok(None);
            }
            let held = room::Entity::find()
                .filter(room::Column::AgentId.eq(agent_id.as_str()))
                .filter(room::Column::Status.eq(RoomStatus::Engaged.as_str()))
                .count(&txn)
                .await?;
            if held >= u64::from(*capacity) {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        if update.exec(&txn).await?.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let mut stored = Vec::with_capacity(messages.len());
        for m in messages {
            if let Some((m, _)) = append_in(&txn, room_id, None, m).await? {
                stored.push(m);
            }
        }
        let row = room::Entity::find_by_id(room_id)
            .one(&txn)
            .await?
            .ok_or_else(|| CoreError::Unexpected(anyhow::anyhow!("room vanished mid-transition")))?;
        let room = convert::room(row)?;
        let events = events(&room, &stored);
        self.record_events(&txn, &events, now).await?;
        txn.commit().await?;
        Ok(Some((room, stored, events)))
    }

    async fn decline(&self, room_id: &str, agent_id: &str, now: Millis) -> CoreResult<()> {
        let row = decline::ActiveModel {
            room_id: Set(room_id.into()),
            agent_id: Set(agent_id.into()),
            created_at: Set(now),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn decliners(&self, room_id: &str) -> CoreResult<Vec<String>> {
        let rows = decline::Entity::find().filter(decline::Column::RoomId.eq(room_id)).all(&self.db).await?;
        Ok(rows.into_iter().map(|d| d.agent_id).collect())
    }

    async fn declined_by(&self, agent_id: &str) -> CoreResult<Vec<String>> {
        let rows =
            decline::Entity::find().filter(decline::Column::AgentId.eq(agent_id)).all(&self.db).await?;
        Ok(rows.into_iter().map(|d| d.room_id).collect())
    }

    async fn idle_rooms(
        &self,
        before: Millis,
        offline_before: Millis,
        limit: u64,
    ) -> CoreResult<Vec<String>> {
        let still_waiting = Condition::all()
            .add(room::Column::Status.eq(RoomStatus::Queued.as_str()))
            .add(room::Column::LeftOffline.eq(true))
            .add(room::Column::LastMessageAt.gte(offline_before));
        let rows: Vec<String> = room::Entity::find()
            .select_only()
            .column(room::Column::Id)
            .filter(room::Column::Status.is_in([RoomStatus::Queued.as_str(), RoomStatus::Engaged.as_str()]))
            .filter(room::Column::LastMessageAt.lt(before))
            .filter(still_waiting.not())
            .order_by_asc(room::Column::LastMessageAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    async fn rate(&self, room_id: &str, r: &Rating) -> CoreResult<bool> {
        let (_turn, txn) = self.begin_write().await?;
        let done = room::Entity::update_many()
            .col_expr(room::Column::RatingScore, Expr::value(i16::from(r.score)))
            .col_expr(room::Column::RatingComment, Expr::value(r.comment.clone()))
            .col_expr(room::Column::RatedAt, Expr::value(r.created_at))
            .filter(room::Column::Id.eq(room_id))
            .filter(room::Column::Status.is_in([RoomStatus::Closed.as_str(), RoomStatus::Expired.as_str()]))
            .filter(room::Column::RatingScore.is_null())
            .exec(&txn)
            .await?;
        let rated = done.rows_affected > 0;
        if rated {
            let subject =
                crate::domain::webhook::Subject::Rating { room_id: room_id.to_string(), rating: r.clone() };
            let o = crate::domain::webhook::Occurrence {
                topic: crate::domain::webhook::Topic::RoomRated,
                subject,
            };
            self.record_occurrences(&txn, &[o], r.created_at).await?;
        }
        txn.commit().await?;
        Ok(rated)
    }

    async fn rating(&self, room_id: &str) -> CoreResult<Option<Rating>> {
        let Some(row) = room::Entity::find_by_id(room_id).one(&self.db).await? else { return Ok(None) };
        Ok(match (row.rating_score, row.rated_at) {
            (Some(score), Some(at)) => {
                Some(Rating { score: score.clamp(1, 5) as u8, comment: row.rating_comment, created_at: at })
            }
            _ => None,
        })
    }

    async fn rated_since(&self, since: Millis, limit: u64) -> CoreResult<Vec<RatedChat>> {
        let rows: Vec<(Option<String>, Option<String>, Option<i16>, Option<i64>)> = room::Entity::find()
            .select_only()
            .columns([
                room::Column::AgentId,
                room::Column::AgentName,
                room::Column::RatingScore,
                room::Column::RatedAt,
            ])
            .filter(room::Column::RatedAt.gte(since))
            .order_by_asc(room::Column::RatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(agent_id, agent_name, score, at)| {
                Some(RatedChat {
                    agent: agent_id.zip(agent_name).map(|(id, name)| crate::domain::Person { id, name }),
                    score: score?.clamp(1, 5) as u8,
                    rated_at: at?,
                })
            })
            .collect())
    }

    async fn search_rooms(&self, s: &RoomSearch) -> CoreResult<Vec<Room>> {
        use sea_orm::sea_query::{ExprTrait, Func, LikeExpr, Query};
        let mut q = room::Entity::find()
            .filter(room::Column::Status.is_in([RoomStatus::Closed.as_str(), RoomStatus::Expired.as_str()]));
        if let Some(agent) = &s.agent_id {
            q = q.filter(room::Column::AgentId.eq(agent.as_str()));
        }
        if let Some(before) = &s.before_id {
            q = q.filter(room::Column::Id.lt(before.as_str()));
        }
        if let Some(text) = s.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
            let lower = |c: room::Column| Expr::expr(Func::lower(Expr::col(c)));
            let in_messages = Query::select()
                .column(message::Column::RoomId)
                .from(message::Entity)
                .and_where(Expr::expr(Func::lower(Expr::col(message::Column::Content))).like(pattern()))
                .to_owned();
            q = q.filter(
                Condition::any()
                    .add(lower(room::Column::VisitorName).like(pattern()))
                    .add(lower(room::Column::VisitorEmail).like(pattern()))
                    .add(room::Column::Id.in_subquery(in_messages)),
            );
        }
        let rows = q.order_by_desc(room::Column::Id).limit(s.limit).all(&self.db).await?;
        rows.into_iter().map(convert::room).collect()
    }

    async fn visitor_of(&self, room_id: &str) -> CoreResult<Option<VisitorRecord>> {
        let Some(row) = room::Entity::find_by_id(room_id).one(&self.db).await? else { return Ok(None) };
        let channel =
            Channel::parse(&row.channel).ok_or_else(|| convert::corrupt("channel", &row.channel))?;
        Ok(Some(VisitorRecord {
            channel,
            email: row.visitor_email,
            external_id: row.external_id,
            left_offline: row.left_offline,
        }))
    }

    async fn rooms_of_visitor(&self, v: &VisitorRecord, except: &str, limit: u64) -> CoreResult<Vec<Room>> {
        let same = match (&v.external_id, &v.email) {
            (Some(external), _) => Condition::all()
                .add(room::Column::Channel.eq(v.channel.as_str()))
                .add(room::Column::ExternalId.eq(external.as_str())),
            (None, Some(email)) => {
                use sea_orm::sea_query::{ExprTrait, Func};
                let lower = Expr::expr(Func::lower(Expr::col(room::Column::VisitorEmail)));
                Condition::all().add(ExprTrait::eq(lower, email.to_lowercase()))
            }
            (None, None) => return Ok(vec![]),
        };
        let rows = room::Entity::find()
            .filter(same)
            .filter(room::Column::Id.ne(except))
            .order_by_desc(room::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::room).collect()
    }

    async fn count_by_status(&self) -> CoreResult<Vec<(RoomStatus, u64)>> {
        let rows: Vec<(String, i64)> = room::Entity::find()
            .select_only()
            .column(room::Column::Status)
            .column_as(room::Column::Id.count(), "n")
            .group_by(room::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(s, n)| Some((RoomStatus::parse(&s)?, n.max(0) as u64))).collect())
    }

    async fn engaged_rooms(&self) -> CoreResult<Vec<(String, String, Millis)>> {
        let rows: Vec<(String, Option<String>, Option<i64>)> = room::Entity::find()
            .select_only()
            .columns([room::Column::Id, room::Column::AgentId, room::Column::EngagedAt])
            .filter(room::Column::Status.eq(RoomStatus::Engaged.as_str()))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(id, agent, at)| Some((id, agent?, at.unwrap_or(0)))).collect())
    }

    async fn engaged_counts(&self) -> CoreResult<Vec<(String, u64)>> {
        let rows: Vec<(Option<String>, i64)> = room::Entity::find()
            .select_only()
            .column(room::Column::AgentId)
            .column_as(room::Column::Id.count(), "rooms")
            .filter(room::Column::Status.eq(RoomStatus::Engaged.as_str()))
            .group_by(room::Column::AgentId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(agent, n)| Some((agent?, n.max(0) as u64))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ports::{AgentRecord, Directory};
    use crate::domain::Person;
    use crate::store::OutboxMode;

    async fn store_with_a_queued_room_and_bea() -> (SqlStore, Person) {
        let store = SqlStore::connect("sqlite::memory:", 1, OutboxMode::Off).await.unwrap();
        let bea = Person { id: "bea".into(), name: "Bea".into() };
        let record = AgentRecord {
            id: bea.id.clone(),
            username: "bea".into(),
            name: bea.name.clone(),
            group: "agent".into(),
            disabled: false,
            password_hash: String::new(),
            token_version: 0,
            permissions: Default::default(),
            away: false,
            capacity: None,
            last_assigned_at: 0,
        };
        store.create_agent(record, 1).await.unwrap();
        let room = NewRoom {
            id: "room-1".into(),
            channel: Channel::Web,
            visitor: Person { id: "v-1".into(), name: "Ana".into() },
            email: None,
            external_id: None,
            visitor_address: None,
            subject: None,
            created_at: 1,
            left_offline: false,
        };
        store.create_room(room, None, Box::new(|_, _| Vec::new())).await.unwrap();
        (store, bea)
    }

    async fn assign(store: &SqlStore, agent: &Person) -> Option<Room> {
        let t = Transition::Assign { agent: agent.clone(), capacity: 2 };
        let done = store.transition("room-1", &t, Vec::new(), 2, Box::new(|_, _| Vec::new())).await.unwrap();
        done.map(|(room, _, _)| room)
    }

    // Automatic assignment picks from a read of the agents that may be
    // older than an agent's `presence away`: the hand-over itself refuses.
    #[tokio::test]
    async fn an_assignment_chosen_before_the_agent_went_away_is_refused() {
        let (store, bea) = store_with_a_queued_room_and_bea().await;
        assert!(store.set_away(&bea.id, true).await.unwrap());
        assert!(assign(&store, &bea).await.is_none(), "away: not handed the room");
        assert_eq!(store.room("room-1").await.unwrap().unwrap().status, RoomStatus::Queued);

        assert!(store.set_away(&bea.id, false).await.unwrap());
        let room = assign(&store, &bea).await.expect("back online: handed the room");
        assert_eq!((room.status, room.agent.map(|a| a.name)), (RoomStatus::Engaged, Some("Bea".to_string())));
    }
}
