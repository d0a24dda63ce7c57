//! This replica's event subscribers, and the routing of each event to the
//! ones in its audience.
//!
//! Events are routed by index (visitor by room, agent by id, acceptors as a
//! set), never by scanning every subscriber. A subscriber has a bounded
//! queue of its own (`Subscribe`), or shares its gateway's (`Feed`: the
//! event goes into it once, with the list of that gateway's connections it
//! is for). An own queue that is full drops its subscriber with
//! `Ended::TooSlow`, and a full feed is stalled as a whole (`FeedSink`), so
//! that a stalled client can never grow memory. The registry sits behind a std `RwLock`
//! that is only held for map updates and non-blocking `try_send`s, never
//! across an await.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::domain::{Event, EventKind};

/// Events a subscriber may have waiting before it counts as stalled.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// Why a subscription was ended by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its queue was full: the client is not keeping up.
    TooSlow,
    /// The agent's tokens were revoked.
    Revoked,
    /// Events may have been missed (the bus reconnected): resubscribe.
    Resync,
}

/// Who a subscriber is, as far as routing cares.
#[derive(Debug, Clone)]
pub enum Subscriber {
    Visitor { room_id: String },
    Agent { agent_id: String, may_accept: bool },
}

/// The receiving half of a subscription. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub events: mpsc::Receiver<Arc<Event>>,
    pub ended: oneshot::Receiver<Ended>,
    _guard: SubscriptionGuard,
}

#[derive(Debug)]
struct SubscriptionGuard {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.hub.remove(self.id, None);
    }
}

#[derive(Debug)]
struct Entry {
    who: Subscriber,
    sink: Sink,
}

/// Where a subscriber's events go.
#[derive(Debug)]
enum Sink {
    /// A queue of its own, and how it ended.
    Own { tx: mpsc::Sender<Arc<Event>>, end: Option<oneshot::Sender<Ended>> },
    /// Its gateway's feed, as connection `conn` there.
    Feed { feed: Arc<FeedSink>, conn: u64 },
}

/// Events a gateway's feed may have waiting before it counts as stalled:
/// a gateway holds thousands of connections.
pub const FEED_QUEUE: usize = 16 * 1024;

/// What the hub puts on a gateway's feed.
#[derive(Debug)]
pub enum FeedItem {
    /// An event for these connections of the gateway.
    Deliver(Arc<Event>, Vec<u64>),
    /// A connection's subscription was ended by the core.
    Ended(u64, Ended),
}

/// One gateway's feed as the hub sees it: a queue shared by all its
/// connections. When it is full the feed is stalled (the gateway is not
/// reading): the feed ends and every connection on it resubscribes and
/// catches up from history.
#[derive(Debug)]
pub struct FeedSink {
    tx: mpsc::Sender<FeedItem>,
    stalled: CancellationToken,
}

impl FeedSink {
    pub fn new() -> (Arc<Self>, mpsc::Receiver<FeedItem>) {
        let (tx, rx) = mpsc::channel(FEED_QUEUE);
        (Arc::new(Self { tx, stalled: CancellationToken::new() }), rx)
    }

    /// Resolves once the feed has fallen behind.
    pub async fn stalled(&self) {
        self.stalled.cancelled().await
    }

    fn put(&self, item: FeedItem) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(item) {
            if !self.stalled.is_cancelled() {
                metrics::counter!("livechat_hub_stalled_feeds_total").increment(1);
                tracing::warn!("a gateway's event feed is not keeping up; ending it");
            }
            self.stalled.cancel();
        }
    }
}

/// A subscription on a gateway's feed. Dropping it unsubscribes.
#[derive(Debug)]
pub struct FeedRegistration {
    _guard: SubscriptionGuard,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    by_room: HashMap<String, Vec<u64>>,
    by_agent: HashMap<String, Vec<u64>>,
    acceptors: HashSet<u64>,
}

/// Connected agents per id on this replica, and which changed since the
/// presence writer last looked.
#[derive(Debug, Default)]
struct Presence {
    counts: HashMap<String, u32>,
    dirty: HashSet<String>,
}

/// The local fan-out point of one core replica.
#[derive(Debug, Default)]
pub struct Hub {
    registry: RwLock<Registry>,
    presence: Mutex<Presence>,
    presence_changed: Notify,
    /// Bumped whenever an agent connects or disconnects here, so that an
    /// answer derived from presence knows it is out of date.
    presence_generation: std::sync::atomic::AtomicU64,
}

fn remove_from(index: &mut HashMap<String, Vec<u64>>, key: &str, id: u64) {
    if let Some(ids) = index.get_mut(key) {
        ids.retain(|x| *x != id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers a subscriber with a queue of its own. Register before
    /// reading the snapshot, so that nothing that happens in between is
    /// missed.
    pub fn subscribe(self: &Arc<Self>, who: Subscriber) -> Subscription {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let (end_tx, end_rx) = oneshot::channel();
        let guard = self.register(who, Sink::Own { tx, end: Some(end_tx) });
        Subscription { events: rx, ended: end_rx, _guard: guard }
    }

    /// Registers a gateway's connection `conn` on its feed (as `subscribe`).
    pub fn subscribe_on_feed(
        self: &Arc<Self>,
        who: Subscriber,
        feed: &Arc<FeedSink>,
        conn: u64,
    ) -> FeedRegistration {
        FeedRegistration { _guard: self.register(who, Sink::Feed { feed: feed.clone(), conn }) }
    }

    fn register(self: &Arc<Self>, who: Subscriber, sink: Sink) -> SubscriptionGuard {
        let id = {
            let mut r = self.registry.write().expect("hub lock poisoned");
            r.next_id += 1;
            let id = r.next_id;
            match &who {
                Subscriber::Visitor { room_id } => r.by_room.entry(room_id.clone()).or_default().push(id),
                Subscriber::Agent { agent_id, may_accept } => {
                    r.by_agent.entry(agent_id.clone()).or_default().push(id);
                    if *may_accept {
                        r.acceptors.insert(id);
                    }
                }
            }
            r.entries.insert(id, Entry { who: who.clone(), sink });
            id
        };
        if let Subscriber::Agent { agent_id, .. } = &who {
            self.count_agent(agent_id, 1);
        }
        SubscriptionGuard { hub: self.clone(), id }
    }

    /// Stops (or starts again) offering new rooms to the agent's
    /// subscriptions here, without ending them: `acceptors` holds those who
    /// may accept and are not away.
    pub fn set_agent_away(&self, agent_id: &str, away: bool) {
        let mut r = self.registry.write().expect("hub lock poisoned");
        let ids = r.by_agent.get(agent_id).cloned().unwrap_or_default();
        for id in ids {
            let may_accept = matches!(
                r.entries.get(&id),
                Some(Entry { who: Subscriber::Agent { may_accept: true, .. }, .. })
            );
            if away || !may_accept {
                r.acceptors.remove(&id);
            } else {
                r.acceptors.insert(id);
            }
        }
    }

    /// Delivers an event to every local subscriber in its audience.
    pub fn dispatch(&self, event: Event) {
        if let EventKind::AgentAway { agent_id, away } = &event.kind {
            self.set_agent_away(agent_id, *away);
            return;
        }
        let ending = match &event.kind {
            EventKind::AgentRevoked { agent_id } => Some((agent_id, Ended::Revoked)),
            // Resync: the gateway subscribes again and gets a snapshot
            // taken with the agent's new permissions.
            EventKind::AgentRightsChanged { agent_id } => Some((agent_id, Ended::Resync)),
            _ => None,
        };
        if let Some((agent_id, why)) = ending {
            let ids = {
                let r = self.registry.read().expect("hub lock poisoned");
                r.by_agent.get(agent_id).cloned().unwrap_or_default()
            };
            for id in ids {
                self.remove(id, Some(why));
            }
            return;
        }
        let event = Arc::new(event);
        let mut stalled = Vec::new();
        // Each feed's connections in this audience, to be sent as one item.
        let mut feeds: Vec<(Arc<FeedSink>, Vec<u64>)> = Vec::new();
        {
            let r = self.registry.read().expect("hub lock poisoned");
            let a = &event.audience;
            let mut targets: Vec<u64> = Vec::new();
            if let Some(room) = &a.room_visitor {
                targets.extend(r.by_room.get(room).into_iter().flatten());
            }
            for agent in &a.agents {
                targets.extend(r.by_agent.get(agent).into_iter().flatten());
            }
            if let Some(except) = &a.acceptors_except {
                targets.extend(r.acceptors.iter().filter(|id| {
                    matches!(&r.entries[id].who, Subscriber::Agent { agent_id, .. } if !except.contains(agent_id))
                }));
            }
            targets.sort_unstable();
            targets.dedup();
            for id in targets {
                let Some(entry) = r.entries.get(&id) else { continue };
                match &entry.sink {
                    Sink::Own { tx, .. } => {
                        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(event.clone()) {
                            stalled.push(id);
                        }
                    }
                    Sink::Feed { feed, conn } => match feeds.iter_mut().find(|(f, _)| Arc::ptr_eq(f, feed)) {
                        Some((_, conns)) => conns.push(*conn),
                        None => feeds.push((feed.clone(), vec![*conn])),
                    },
                }
            }
        }
        for (feed, conns) in feeds {
            feed.put(FeedItem::Deliver(event.clone(), conns));
        }
        if !stalled.is_empty() {
            metrics::counter!("livechat_hub_stalled_subscribers_total").increment(stalled.len() as u64);
        }
        for id in stalled {
            tracing::warn!(subscriber = id, "event subscriber is not keeping up; dropping it");
            self.remove(id, Some(Ended::TooSlow));
        }
    }

    /// Ends every subscription on this replica.
    pub fn end_all(&self, why: Ended) {
        let ids: Vec<u64> =
            self.registry.read().expect("hub lock poisoned").entries.keys().copied().collect();
        for id in ids {
            self.remove(id, Some(why));
        }
    }

    /// Number of live subscriptions on this replica.
    pub fn subscribers(&self) -> usize {
        self.registry.read().expect("hub lock poisoned").entries.len()
    }

    fn remove(&self, id: u64, why: Option<Ended>) {
        let entry = {
            let mut r = self.registry.write().expect("hub lock poisoned");
            let Some(mut entry) = r.entries.remove(&id) else {
                return;
            };
            match &entry.who {
                Subscriber::Visitor { room_id } => remove_from(&mut r.by_room, room_id, id),
                Subscriber::Agent { agent_id, .. } => {
                    remove_from(&mut r.by_agent, agent_id, id);
                    r.acceptors.remove(&id);
                }
            }
            if let Some(why) = why {
                match &mut entry.sink {
                    Sink::Own { end, .. } => {
                        if let Some(end) = end.take() {
                            let _ = end.send(why);
                        }
                    }
                    Sink::Feed { feed, conn } => feed.put(FeedItem::Ended(*conn, why)),
                }
            }
            entry
        };
        if let Subscriber::Agent { agent_id, .. } = &entry.who {
            self.count_agent(agent_id, -1);
        }
    }

    fn count_agent(&self, agent_id: &str, delta: i32) {
        {
            let mut p = self.presence.lock().expect("presence lock poisoned");
            let n = p.counts.entry(agent_id.to_string()).or_default();
            *n = n.saturating_add_signed(delta);
            p.dirty.insert(agent_id.to_string());
        }
        self.presence_generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.presence_changed.notify_one();
    }

    /// What the presence writer should record: every agent connected here,
    /// plus those whose last subscription just ended (with 0). Forgets the
    /// latter once reported.
    pub fn take_presence(&self) -> Vec<(String, u32)> {
        let mut p = self.presence.lock().expect("presence lock poisoned");
        let dirty = std::mem::take(&mut p.dirty);
        let mut out: Vec<(String, u32)> = p.counts.iter().map(|(a, n)| (a.clone(), *n)).collect();
        p.counts.retain(|a, n| *n > 0 || !dirty.contains(a));
        out.sort();
        out
    }

    /// Agents with a live subscription on this replica.
    pub fn connected_agents(&self) -> HashSet<String> {
        let p = self.presence.lock().expect("presence lock poisoned");
        p.counts.iter().filter(|(_, n)| **n > 0).map(|(a, _)| a.clone()).collect()
    }

    /// Changes whenever an agent connects to or disconnects from this replica.
    pub fn presence_generation(&self) -> u64 {
        self.presence_generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// On shutdown: report every connected agent as gone.
    pub fn forget_all_presence(&self) {
        let mut p = self.presence.lock().expect("presence lock poisoned");
        let agents: Vec<String> = p.counts.keys().cloned().collect();
        for a in agents {
            p.counts.insert(a.clone(), 0);
            p.dirty.insert(a);
        }
    }

    /// Resolves when a subscription of some agent started or ended.
    pub async fn presence_changed(&self) {
        self.presence_changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audience, Person};

    fn taken(audience: Audience) -> Event {
        Event::new(
            audience,
            EventKind::RoomTaken { room_id: "r1".into(), agent: Person { id: "a".into(), name: "A".into() } },
        )
    }

    fn agent(id: &str, may_accept: bool) -> Subscriber {
        Subscriber::Agent { agent_id: id.into(), may_accept }
    }

    #[tokio::test]
    async fn events_reach_only_their_audience() {
        let hub = Hub::new();
        let mut visitor = hub.subscribe(Subscriber::Visitor { room_id: "r1".into() });
        let mut other_visitor = hub.subscribe(Subscriber::Visitor { room_id: "r2".into() });
        let mut bea = hub.subscribe(agent("bea", true));
        let mut cy = hub.subscribe(agent("cy", true));
        let mut viewer = hub.subscribe(agent("dee", false));

        hub.dispatch(taken(Audience { room_visitor: Some("r1".into()), ..Default::default() }));
        assert!(visitor.events.try_recv().is_ok());
        assert!(other_visitor.events.try_recv().is_err());

        hub.dispatch(taken(Audience::acceptors(vec!["cy".into()])));
        assert!(bea.events.try_recv().is_ok());
        assert!(cy.events.try_recv().is_err(), "cy declined");
        assert!(viewer.events.try_recv().is_err(), "dee may not accept");

        hub.dispatch(taken(Audience::default().with_agent("dee")));
        assert!(viewer.events.try_recv().is_ok());
    }

    #[tokio::test]
    async fn an_agent_named_twice_in_an_audience_gets_the_event_once() {
        let hub = Hub::new();
        let mut bea = hub.subscribe(agent("bea", true));
        let mut a = Audience::acceptors(vec![]).with_agent("bea");
        a.agents.push("bea".into());
        hub.dispatch(taken(a));
        assert!(bea.events.try_recv().is_ok());
        assert!(bea.events.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_stalled_subscriber_is_dropped_and_others_keep_receiving() {
        let hub = Hub::new();
        let mut slow = hub.subscribe(agent("slow", true));
        let mut fast = hub.subscribe(agent("fast", true));
        for _ in 0..=SUBSCRIBER_QUEUE {
            hub.dispatch(taken(Audience::acceptors(vec![])));
            fast.events.try_recv().unwrap();
        }
        assert_eq!(slow.ended.try_recv(), Ok(Ended::TooSlow));
        assert_eq!(hub.subscribers(), 1);
        hub.dispatch(taken(Audience::acceptors(vec![])));
        assert!(fast.events.try_recv().is_ok());
    }

    fn deliveries(items: &mut mpsc::Receiver<FeedItem>) -> Vec<Vec<u64>> {
        std::iter::from_fn(|| items.try_recv().ok())
            .map(|item| match item {
                FeedItem::Deliver(_, conns) => conns,
                FeedItem::Ended(conn, why) => panic!("connection {conn} ended: {why:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn an_event_goes_on_a_gateways_feed_once_with_every_connection_it_is_for() {
        let hub = Hub::new();
        let (gateway, mut items) = FeedSink::new();
        let (other_gateway, mut other_items) = FeedSink::new();
        let _visitor = hub.subscribe_on_feed(Subscriber::Visitor { room_id: "r1".into() }, &gateway, 7);
        let _bea = hub.subscribe_on_feed(agent("bea", true), &gateway, 8);
        let _bea_elsewhere = hub.subscribe_on_feed(agent("bea", true), &other_gateway, 1);
        let _cy = hub.subscribe_on_feed(agent("cy", true), &gateway, 9);
        let mut own = hub.subscribe(agent("bea", true));

        let audience =
            Audience { room_visitor: Some("r1".into()), agents: vec!["bea".into()], ..Default::default() };
        hub.dispatch(taken(audience));
        assert_eq!(deliveries(&mut items), vec![vec![7, 8]], "cy is not in the audience");
        assert_eq!(deliveries(&mut other_items), vec![vec![1]]);
        assert!(own.events.try_recv().is_ok(), "a subscriber with its own queue still gets it");
    }

    #[tokio::test]
    async fn a_feed_that_falls_behind_is_stalled_and_own_queues_are_not() {
        let hub = Hub::new();
        let (gateway, _items) = FeedSink::new();
        let _bea = hub.subscribe_on_feed(agent("bea", true), &gateway, 1);
        let mut fast = hub.subscribe(agent("fast", true));
        for _ in 0..FEED_QUEUE {
            hub.dispatch(taken(Audience::acceptors(vec![])));
            fast.events.try_recv().unwrap();
        }
        assert!(!gateway.stalled.is_cancelled(), "a full queue is not yet an overflow");
        hub.dispatch(taken(Audience::acceptors(vec![])));
        assert!(gateway.stalled.is_cancelled());
        assert!(fast.ended.try_recv().is_err());
        assert_eq!(hub.subscribers(), 2, "the feed's task ends its registrations");
    }

    #[tokio::test]
    async fn revoking_an_agent_ends_their_connections_on_a_feed_and_nothing_else() {
        let hub = Hub::new();
        let (gateway, mut items) = FeedSink::new();
        let bea = hub.subscribe_on_feed(agent("bea", true), &gateway, 1);
        let _cy = hub.subscribe_on_feed(agent("cy", true), &gateway, 2);
        hub.dispatch(Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: "bea".into() }));
        assert!(matches!(items.try_recv(), Ok(FeedItem::Ended(1, Ended::Revoked))));
        assert_eq!(hub.subscribers(), 1);
        drop(bea);
        assert!(items.try_recv().is_err(), "a registration dropped after its end says nothing more");
        hub.dispatch(taken(Audience::acceptors(vec![])));
        assert_eq!(deliveries(&mut items), vec![vec![2]]);
    }

    #[tokio::test]
    async fn revoking_an_agent_ends_their_subscriptions_only() {
        let hub = Hub::new();
        let mut bea = hub.subscribe(agent("bea", true));
        let mut cy = hub.subscribe(agent("cy", true));
        hub.dispatch(Event::new(Audience::default(), EventKind::AgentRevoked { agent_id: "bea".into() }));
        assert_eq!(bea.ended.try_recv(), Ok(Ended::Revoked));
        assert!(cy.ended.try_recv().is_err());
    }

    #[test]
    fn an_agent_whose_rights_changed_is_made_to_resubscribe() {
        let hub = Hub::new();
        let mut bea = hub.subscribe(agent("bea", true));
        let mut cy = hub.subscribe(agent("cy", true));
        let changed = EventKind::AgentRightsChanged { agent_id: "bea".into() };
        hub.dispatch(Event::new(Audience::default(), changed));
        assert_eq!(bea.ended.try_recv(), Ok(Ended::Resync));
        assert!(cy.ended.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_agent_away_keeps_their_subscription_and_is_offered_no_new_rooms() {
        let hub = Hub::new();
        let mut bea = hub.subscribe(agent("bea", true));
        let mut viewer = hub.subscribe(agent("dee", false));
        let away = |id: &str, away| {
            Event::new(Audience::default(), EventKind::AgentAway { agent_id: id.into(), away })
        };
        hub.dispatch(away("bea", true));
        hub.dispatch(taken(Audience::acceptors(vec![])));
        assert!(bea.events.try_recv().is_err(), "away: not offered");
        hub.dispatch(taken(Audience::default().with_agent("bea")));
        assert!(bea.events.try_recv().is_ok(), "her own rooms' events still reach her");
        assert!(bea.ended.try_recv().is_err(), "the subscription goes on");

        hub.dispatch(away("bea", false));
        hub.dispatch(away("dee", false));
        hub.dispatch(taken(Audience::acceptors(vec![])));
        assert!(bea.events.try_recv().is_ok(), "back online: offered again");
        assert!(viewer.events.try_recv().is_err(), "coming back does not give rooms.accept");
    }

    #[tokio::test]
    async fn presence_reports_connections_and_the_last_disconnect_once() {
        let hub = Hub::new();
        let one = hub.subscribe(agent("bea", true));
        let two = hub.subscribe(agent("bea", true));
        assert_eq!(hub.take_presence(), vec![("bea".to_string(), 2)]);
        drop(one);
        drop(two);
        assert_eq!(hub.take_presence(), vec![("bea".to_string(), 0)]);
        assert_eq!(hub.take_presence(), vec![]);
    }
}
