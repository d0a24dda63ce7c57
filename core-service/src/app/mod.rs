//! Use cases: every operation of the product, with its permission checks,
//! written against the traits in `ports`. The gRPC layer calls these with an
//! authenticated `Principal`; nothing here knows the wire or SQL.

pub mod access;
mod admin;
mod assignment;
mod audit;
mod auth;
mod canned;
pub mod channels;
pub mod clock;
mod events;
pub mod hub;
mod messages;
mod notes;
pub mod ports;
mod principal_cache;
mod ratings;
pub mod relay;
mod room_order;
mod rooms;
mod settings_cache;
mod team;
pub mod timers;
pub mod typists;
mod visitor_data;
mod webhooks;

use std::sync::Arc;

pub use access::{AgentPrincipal, Principal, VisitorPrincipal};
pub use admin::AgentUpdate;
pub use auth::LoginOutcome;
pub use canned::{CannedScope, CannedUpdate, NewCanned};
pub use clock::Clock;
pub use events::Snapshot;
pub use hub::{Ended, Hub, Subscription};
pub use rooms::{CreateRoom, CreatedRoom, VisitorDetails};
pub use visitor_data::ExportedRoom;
pub use webhooks::WebhookChanges;

use crate::auth::TokenKeys;
use crate::domain::{Event, Millis};
use ports::{Bus, Store, WebhookSender};
use settings_cache::SettingsCache;

/// Token lifetimes and abuse limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policies {
    pub agent_secs: u64,
    pub visitor_secs: u64,
    pub login: crate::domain::login::LoginPolicy,
    /// Rooms one client address may open per minute.
    pub rooms_per_ip_per_min: u32,
    /// Rooms one client address may have open at once.
    pub open_rooms_per_ip: u32,
}

/// One core replica's use cases and the dependencies they share.
pub struct Core {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    hub: Arc<Hub>,
    keys: TokenKeys,
    policies: Policies,
    settings: SettingsCache,
    replica_id: String,
    relay_wakeup: tokio::sync::Notify,
    /// A change of this replica recorded messages for customers on their
    /// messengers since the relay last looked at their shared queue.
    outbound_recorded: std::sync::atomic::AtomicBool,
    outbound_wakeup: tokio::sync::Notify,
    room_order: room_order::RoomOrder,
    principals: principal_cache::PrincipalCache,
    clock: Clock,
    /// Rooms opened per client address (this replica's count).
    rooms_per_address: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Set when this replica begins to stop: it reports itself not serving
    /// (the gateways move their calls elsewhere) and still serves.
    draining: std::sync::atomic::AtomicBool,
    /// Typing indicators shown now, until they lapse.
    typists: typists::Typists,
    /// The anonymous "is anyone online" answer, reused for a second.
    availability: team::AvailabilityCache,
    /// Sends webhook deliveries.
    webhook_sender: Arc<dyn WebhookSender>,
    /// Whether any enabled webhook endpoint exists (changes then wake the
    /// dispatcher).
    webhooks_on: std::sync::atomic::AtomicBool,
    webhook_wakeup: tokio::sync::Notify,
    /// When retention rules last ran (`timers::keep_house_if_due`).
    housekept_at: std::sync::atomic::AtomicI64,
    /// One presence write at a time: two writers each holding a snapshot of
    /// the counts could store the older one last.
    presence_writer: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("replica_id", &self.replica_id).finish_non_exhaustive()
    }
}

/// What a core talks to beyond itself: its storage, its bus and the
/// HTTP client of webhook deliveries.
pub struct Outside {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub webhook_sender: Arc<dyn WebhookSender>,
}

impl Core {
    pub fn new(
        outside: Outside,
        hub: Arc<Hub>,
        keys: TokenKeys,
        policies: Policies,
        replica_id: String,
        clock: Clock,
    ) -> Arc<Self> {
        let Outside { store, bus, webhook_sender } = outside;
        Arc::new(Self {
            settings: SettingsCache::new(store.clone()),
            store,
            bus,
            hub,
            keys,
            policies,
            replica_id,
            relay_wakeup: tokio::sync::Notify::new(),
            outbound_recorded: std::sync::atomic::AtomicBool::new(false),
            outbound_wakeup: tokio::sync::Notify::new(),
            room_order: room_order::RoomOrder::default(),
            principals: principal_cache::PrincipalCache::default(),
            clock,
            rooms_per_address: governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(policies.rooms_per_ip_per_min.max(1)).expect("at least 1"),
            )),
            draining: std::sync::atomic::AtomicBool::new(false),
            typists: typists::Typists::default(),
            availability: team::AvailabilityCache::default(),
            webhook_sender,
            webhooks_on: std::sync::atomic::AtomicBool::new(false),
            webhook_wakeup: tokio::sync::Notify::new(),
            housekept_at: std::sync::atomic::AtomicI64::new(0),
            presence_writer: tokio::sync::Mutex::new(()),
        })
    }

    /// Now, on this core's clock (which a test may have moved).
    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }

    /// This core's clock, for tests that move it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// This replica's subscribers.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Whether the database answers, the bus is connected and this replica
    /// is not stopping (readiness).
    pub fn ready(&self) -> bool {
        !self.is_draining() && self.store.reachable() && self.bus.healthy()
    }

    /// From now on this replica reports itself not ready; it still serves.
    pub fn begin_draining(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// False while the database is known to be down (see `grpc::gate`).
    pub fn database_reachable(&self) -> bool {
        self.store.reachable()
    }

    /// This replica's id (presence rows and outbox rows carry it).
    pub fn replica_id(&self) -> &str {
        &self.replica_id
    }

    /// Sends the events of a stored change on their way: with an outbox
    /// they are already committed and the relay is woken to publish them;
    /// with the in-process bus they are published now.
    async fn deliver(&self, events: Vec<Event>) {
        self.wake_webhooks();
        if events.iter().any(|e| matches!(e.kind, crate::domain::EventKind::Outbound { .. })) {
            self.outbound_recorded.store(true, std::sync::atomic::Ordering::Relaxed);
            self.outbound_wakeup.notify_waiters();
        }
        if self.store.uses_outbox() {
            self.relay_wakeup.notify_one();
        } else {
            self.publish(events).await;
        }
    }

    /// A stored change may have written webhook deliveries: the
    /// dispatcher looks (only when some endpoint exists).
    fn wake_webhooks(&self) {
        if self.webhooks_on.load(std::sync::atomic::Ordering::Relaxed) {
            self.webhook_wakeup.notify_one();
        }
    }

    /// Publishes events that are not part of a stored change (typing,
    /// revocations). A failure is logged, not returned.
    async fn publish(&self, events: Vec<Event>) {
        if let Err(e) = self.bus.publish(events).await {
            tracing::warn!(error = %e, "publishing events failed");
        }
    }
}
