//! Subscriptions to live events, and the snapshot that opens each one.

use std::sync::Arc;

use super::hub::{FeedRegistration, FeedSink, Hub, Subscriber, Subscription};
use super::ports::RoomFilter;
use super::{Core, Principal};
use crate::domain::{Permission, Person, Room, RoomStatus};
use crate::error::CoreResult;

/// The caller's world at the moment their subscription started.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub role: &'static str,
    pub user: Person,
    /// For an agent: whether they set themselves away (their queue is
    /// empty then).
    pub away: bool,
    pub rooms: Vec<Room>,
    pub queue: Vec<Room>,
}

impl Core {
    /// Registers first and reads the snapshot second, so that an event in
    /// between is at worst seen twice (clients drop seqs they have), never
    /// missed.
    pub async fn subscribe(&self, p: &Principal) -> CoreResult<(Snapshot, Subscription)> {
        self.subscribe_with(p, |hub, who| hub.subscribe(who)).await
    }

    /// `subscribe` for connection `conn` of a gateway's feed.
    pub async fn subscribe_on_feed(
        &self,
        p: &Principal,
        feed: &Arc<FeedSink>,
        conn: u64,
    ) -> CoreResult<(Snapshot, FeedRegistration)> {
        self.subscribe_with(p, |hub, who| hub.subscribe_on_feed(who, feed, conn)).await
    }

    async fn subscribe_with<S>(
        &self,
        p: &Principal,
        register: impl FnOnce(&Arc<Hub>, Subscriber) -> S,
    ) -> CoreResult<(Snapshot, S)> {
        match p {
            Principal::Visitor(v, _) => {
                let sub = register(&self.hub, Subscriber::Visitor { room_id: v.room_id.clone() });
                let room = self.room(p, &v.room_id).await?;
                let snapshot = Snapshot {
                    role: "visitor",
                    user: p.person(),
                    away: false,
                    rooms: vec![room],
                    queue: vec![],
                };
                Ok((snapshot, sub))
            }
            Principal::Agent(a, _) => {
                let may_accept = a.permissions.contains(Permission::RoomsAccept);
                let sub = register(&self.hub, Subscriber::Agent { agent_id: a.id.clone(), may_accept });
                // Stored before the agent is welcomed: their next request may
                // reach another replica, which must already see them live (a
                // failure here leaves it to the presence timer).
                if let Err(e) = self.record_presence().await {
                    tracing::warn!(error = %e, "recording presence at subscribe");
                }
                // Read after registering: an AgentAway event in between
                // finds the subscription, and this read sees its change.
                let away = self.store.agent(&a.id).await?.is_some_and(|r| r.away);
                if away {
                    self.hub.set_agent_away(&a.id, true);
                }
                let may_accept = may_accept && !away;
                let engaged = RoomFilter {
                    status: Some(RoomStatus::Engaged),
                    agent_id: Some(a.id.clone()),
                    visible_to: None,
                    limit: 1000,
                };
                let rooms = self.store.rooms(&engaged).await?;
                let queue = if may_accept {
                    let queued =
                        RoomFilter { status: Some(RoomStatus::Queued), limit: 1000, ..Default::default() };
                    let declined = self.store.declined_by(&a.id).await?;
                    let mut q = self.store.rooms(&queued).await?;
                    q.retain(|r| !declined.contains(&r.id));
                    q
                } else {
                    vec![]
                };
                Ok((Snapshot { role: "agent", user: p.person(), away, rooms, queue }, sub))
            }
        }
    }
}
