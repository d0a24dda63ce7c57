//! What the use cases need from the outside world, as small traits:
//! storage (implemented in `store`) and the event bus (in `bus`). The use
//! cases hold them as `Arc<dyn …>` and never know SQL or AMQP.

use async_trait::async_trait;

use crate::domain::{
    Event, Message, Millis, PermissionSet, Person, Room, RoomStatus, Sender, Settings, Transition,
};
use crate::error::CoreResult;

/// A new room as the visitor asked for it.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub id: String,
    pub channel: crate::domain::Channel,
    pub visitor: Person,
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Who opened it, as `TokenKeys::tag` of their address (web rooms).
    pub visitor_address: Option<String>,
    pub subject: Option<String>,
    pub created_at: Millis,
    /// Opened while no agent was online: the visitor left a message, and
    /// the room waits in the queue longer than an idle one.
    pub left_offline: bool,
}

/// A room's visitor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorRecord {
    pub channel: crate::domain::Channel,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub left_offline: bool,
}

/// A search through ended rooms, newest first.
#[derive(Debug, Clone, Default)]
pub struct RoomSearch {
    /// Case-insensitive text in the visitor's name, email or any message.
    pub text: Option<String>,
    /// Only rooms this agent last held.
    pub agent_id: Option<String>,
    /// Rooms older than this room id (ids sort by creation): the next page.
    pub before_id: Option<String>,
    pub limit: u64,
}

/// Which rooms to list.
#[derive(Debug, Clone, Default)]
pub struct RoomFilter {
    pub status: Option<RoomStatus>,
    /// Only rooms this agent holds or last held.
    pub agent_id: Option<String>,
    /// Restrict to queued rooms plus rooms of this agent (no rooms.view_all).
    pub visible_to: Option<String>,
    pub limit: u64,
}

/// A message about to be stored; the store assigns its seq.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub sender: Sender,
    pub content: String,
    pub client_id: Option<String>,
    pub created_at: Millis,
}

/// Who may append to a room, checked atomically with the seq assignment.
#[derive(Debug, Clone)]
pub enum SendGuard {
    /// The room's visitor (or the system noting something for the agent):
    /// any room status that accepts messages.
    Visitor,
    /// The agent holding the engaged room.
    EngagedAgent(String),
}

/// Result of appending a message.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored with the next seq, and its events.
    Stored(Message, Vec<Event>),
    /// The same sender already stored this client_id.
    Duplicate(Message),
    /// The guard did not hold (room gone, ended, or not the sender's).
    Refused,
}

/// Which page of history.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// The newest `limit` messages with seq < before (or the newest of all).
    Before { before: Option<u64>, limit: u64 },
    /// The first `limit` messages with seq > after.
    After { after: u64, limit: u64 },
}

/// Builds the events of a change from what was stored. The store calls it
/// inside the change's transaction, so that with an outbox the events are
/// committed together with the change (or not at all).
pub type MakeEvents<'a> = Box<dyn FnOnce(&Room, &[Message]) -> Vec<Event> + Send + 'a>;

/// Rooms and their transitions.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Stores the room and, if given, its first message as seq 1, atomically.
    /// Conflict when the customer of a channel already has an open room.
    async fn create_room(
        &self,
        room: NewRoom,
        first: Option<NewMessage>,
        events: MakeEvents<'_>,
    ) -> CoreResult<(Room, Option<Message>, Vec<Event>)>;
    async fn room(&self, id: &str) -> CoreResult<Option<Room>>;
    async fn rooms(&self, filter: &RoomFilter) -> CoreResult<Vec<Room>>;
    /// Applies the transition if its precondition holds right now, appending
    /// `messages` (system texts) in the same transaction. None: it did not hold.
    async fn transition(
        &self,
        room_id: &str,
        t: &Transition,
        messages: Vec<NewMessage>,
        now: Millis,
        events: MakeEvents<'_>,
    ) -> CoreResult<Option<(Room, Vec<Message>, Vec<Event>)>>;
    async fn decline(&self, room_id: &str, agent_id: &str, now: Millis) -> CoreResult<()>;
    /// Agents who declined this room.
    async fn decliners(&self, room_id: &str) -> CoreResult<Vec<String>>;
    /// Rooms this agent declined (to hide them from their queue).
    async fn declined_by(&self, agent_id: &str) -> CoreResult<Vec<String>>;
    /// Ids of queued or engaged rooms with no message since `before`.
    /// Open rooms with no message since `before`; a queued room left
    /// while nobody was online only once it is also older than `offline_before`.
    async fn idle_rooms(&self, before: Millis, offline_before: Millis, limit: u64)
    -> CoreResult<Vec<String>>;
    /// Stores the visitor's rating of an ended room; false when the room is
    /// not closed or expired, or is rated already.
    async fn rate(&self, room_id: &str, rating: &crate::domain::Rating) -> CoreResult<bool>;
    async fn rating(&self, room_id: &str) -> CoreResult<Option<crate::domain::Rating>>;
    /// Rated rooms whose rating came at or after `since`, at most `limit`.
    async fn rated_since(
        &self,
        since: Millis,
        limit: u64,
    ) -> CoreResult<Vec<crate::domain::rating::RatedChat>>;
    /// Closed and expired rooms matching the search, newest first.
    async fn search_rooms(&self, s: &RoomSearch) -> CoreResult<Vec<Room>>;
    /// What agents may know of a room's visitor beyond the Room object.
    async fn visitor_of(&self, room_id: &str) -> CoreResult<Option<VisitorRecord>>;
    /// The visitor's other rooms, newest first: a web visitor's by email
    /// (case-insensitive), a messenger customer's by their platform id.
    async fn rooms_of_visitor(
        &self,
        visitor: &VisitorRecord,
        except: &str,
        limit: u64,
    ) -> CoreResult<Vec<Room>>;
    /// Engaged rooms, for the grace timer: (room id, agent id, engaged at).
    async fn engaged_rooms(&self) -> CoreResult<Vec<(String, String, Millis)>>;
    /// Per agent, how many rooms they hold (engaged) now.
    async fn engaged_counts(&self) -> CoreResult<Vec<(String, u64)>>;
    /// How many rooms are in each status (for metrics).
    async fn count_by_status(&self) -> CoreResult<Vec<(RoomStatus, u64)>>;
    /// Whether the customer already wrote a message with this client id,
    /// in any of their rooms (a redelivery after their room ended).
    async fn customer_wrote(
        &self,
        channel: crate::domain::Channel,
        external_id: &str,
        client_id: &str,
    ) -> CoreResult<bool>;
    /// How many queued or engaged rooms this client address opened.
    async fn open_rooms_from(&self, visitor_address: &str) -> CoreResult<u64>;
    /// The customer's queued or engaged room on their messenger, if any.
    async fn open_channel_room(
        &self,
        channel: crate::domain::Channel,
        external_id: &str,
    ) -> CoreResult<Option<Room>>;
}

/// Messages and their seq counter.
#[async_trait]
pub trait MessageStore: Send + Sync {
    async fn append(
        &self,
        room_id: &str,
        guard: SendGuard,
        msg: NewMessage,
        events: MakeEvents<'static>,
    ) -> CoreResult<Appended>;
    async fn by_client_id(
        &self,
        room_id: &str,
        sender: &Sender,
        client_id: &str,
    ) -> CoreResult<Option<Message>>;
    /// Oldest first, and whether more exist in the paging direction.
    async fn page(&self, room_id: &str, page: Page) -> CoreResult<(Vec<Message>, bool)>;
}

/// An agent account as stored, with what authentication needs.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    pub id: String,
    pub username: String,
    pub name: String,
    pub group: String,
    pub disabled: bool,
    pub password_hash: String,
    pub token_version: i64,
    pub permissions: PermissionSet,
    /// Set themselves away: connected, but offered no new rooms.
    pub away: bool,
    /// Rooms automatic assignment may hand them at once (None: the
    /// workspace's `agent_capacity`).
    pub capacity: Option<u32>,
    /// When automatic assignment last handed them a room (0: never).
    pub last_assigned_at: Millis,
}

/// Changes to an agent; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub name: Option<String>,
    pub group: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    /// Bump the token version (revokes every token of the agent).
    pub revoke_tokens: bool,
}

/// Agents, permission groups and the core's own secrets.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn agent(&self, id: &str) -> CoreResult<Option<AgentRecord>>;
    async fn agent_by_username(&self, username: &str) -> CoreResult<Option<AgentRecord>>;
    async fn agents(&self) -> CoreResult<Vec<AgentRecord>>;
    async fn agent_count(&self) -> CoreResult<u64>;
    /// Conflict if the username is taken.
    async fn create_agent(&self, agent: AgentRecord, created_at: Millis) -> CoreResult<AgentRecord>;
    async fn update_agent(&self, id: &str, changes: AgentChanges) -> CoreResult<Option<AgentRecord>>;
    /// Records that the agent set themselves away (or back online); false
    /// when there is no such agent.
    async fn set_away(&self, id: &str, away: bool) -> CoreResult<bool>;
    /// Sets (or, None, clears) the agent's own capacity; false when there
    /// is no such agent.
    async fn set_capacity(&self, id: &str, capacity: Option<u32>) -> CoreResult<bool>;
    /// Deletes the agent and their personal canned responses.
    async fn delete_agent(&self, id: &str) -> CoreResult<bool>;
    async fn groups(&self) -> CoreResult<Vec<(String, PermissionSet)>>;
    async fn group(&self, name: &str) -> CoreResult<Option<PermissionSet>>;
    /// Conflict if it exists.
    async fn create_group(&self, name: &str, perms: PermissionSet) -> CoreResult<()>;
    async fn update_group(&self, name: &str, perms: PermissionSet) -> CoreResult<bool>;
    /// A value of the core's own key-value table (the generated JWT secret).
    async fn meta(&self, key: &str) -> CoreResult<Option<String>>;
    /// Sets the value unless one exists; returns the value that is stored.
    async fn meta_init(&self, key: &str, value: &str) -> CoreResult<String>;
}

/// Agents' private notes in rooms.
#[async_trait]
pub trait NoteStore: Send + Sync {
    /// Stores the note, with its events in the outbox when there is one.
    async fn add_note(&self, note: &crate::domain::Note, events: &[Event]) -> CoreResult<()>;
    /// Oldest first.
    async fn notes(&self, room_id: &str, limit: u64) -> CoreResult<Vec<crate::domain::Note>>;
}

/// A canned response as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedRecord {
    pub id: String,
    pub owner_id: String,
    pub shared: bool,
    pub shortcut: String,
    pub title: String,
    pub body: String,
}

/// Canned responses.
#[async_trait]
pub trait CannedStore: Send + Sync {
    /// The owner's personal ones plus every shared one.
    async fn visible_to(&self, agent_id: &str) -> CoreResult<Vec<CannedRecord>>;
    async fn canned(&self, id: &str) -> CoreResult<Option<CannedRecord>>;
    /// Conflict if the owner already uses the shortcut.
    async fn create_canned(&self, c: CannedRecord, now: Millis) -> CoreResult<CannedRecord>;
    async fn update_canned(&self, c: CannedRecord, now: Millis) -> CoreResult<CannedRecord>;
    async fn delete_canned(&self, id: &str) -> CoreResult<bool>;
}

/// The settings table.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn load_settings(&self) -> CoreResult<Settings>;
    async fn save_settings(&self, s: &Settings) -> CoreResult<()>;
}

/// Which agents have live event subscriptions, per core replica.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records this replica's count of live subscriptions for each agent.
    async fn record_presence(&self, replica: &str, counts: &[(String, u32)], now: Millis) -> CoreResult<()>;
    /// Per agent: (any live subscription seen since `fresh_after`, last seen).
    async fn presence(
        &self,
        agent_ids: &[String],
        fresh_after: Millis,
    ) -> CoreResult<Vec<(String, bool, Millis)>>;
    /// Forgets rows of no connections older than `before`.
    async fn prune_presence(&self, before: Millis) -> CoreResult<()>;
}

/// Events committed with their change, waiting to be published (only used
/// with a broker bus: the in-process bus cannot be down).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Whether changes write their events here.
    fn uses_outbox(&self) -> bool;
    /// Runs `publish`, in id order, on up to `limit` waiting events (if
    /// `orphaned_before` is given, first those another replica left behind
    /// since before then, then this replica's oldest) and forgets them once
    /// it succeeded; if it failed they stay. Replicas relaying at once never
    /// publish the same row twice. Returns how many were published.
    async fn relay_events(
        &self,
        replica: &str,
        orphaned_before: Option<Millis>,
        limit: u64,
        publish: PublishRecorded<'_>,
    ) -> CoreResult<usize>;
    async fn forget_events(&self, ids: &[i64]) -> CoreResult<()>;
    /// How many rows wait, and when the oldest was written (for alerts).
    async fn outbox_backlog(&self) -> CoreResult<(u64, Option<Millis>)>;
    /// Channel rooms' outbound messages, which every replica writes to one
    /// shared queue of rows: while holding the cluster-wide outbound turn
    /// (one replica at a time, so that a room's messages leave in seq order
    /// whichever replica stored them), runs `publish` on the oldest `limit`
    /// and forgets them once it succeeded. None: another replica has the
    /// turn right now.
    async fn relay_outbound(&self, limit: u64, publish: PublishRecorded<'_>) -> CoreResult<Option<usize>>;
    /// The all-in-one's channel adapters: outbound envelopes kept for them
    /// under `routing_key`, oldest first. Forgotten
    /// (`forget_events`) once the platform took them.
    async fn pending_outbound(&self, routing_key: &str, limit: u64) -> CoreResult<Vec<(i64, Vec<u8>)>>;
    /// Moves a row out of `pending_outbound`'s reach, keeping it with
    /// `reason` under `dead-letter.<routing key>`.
    async fn keep_dead_letter(&self, id: i64, reason: &str) -> CoreResult<()>;
}

/// Publishes recorded events (the bus, seen from the store).
pub type PublishRecorded<'a> =
    &'a (dyn Fn(Vec<RecordedEvent>) -> futures::future::BoxFuture<'a, CoreResult<()>> + Send + Sync);

/// An event as the outbox keeps it: already in its bus format (a
/// versioned envelope, see `bus::envelope`), so that the relay passes on
/// rows written by any version of the core without reading them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub routing_key: String,
    pub bytes: Vec<u8>,
}

/// Failed logins, where every replica sees them (`domain::login`).
#[async_trait]
pub trait LoginRecords: Send + Sync {
    /// The failures of each key that has any.
    async fn login_failures(
        &self,
        keys: &[String],
    ) -> CoreResult<Vec<(String, crate::domain::login::Failures)>>;
    /// Counts a failure for each key; a count whose window began before
    /// `window_start` starts over.
    async fn login_failed(&self, keys: &[String], now: Millis, window_start: Millis) -> CoreResult<()>;
    /// Takes the account's attempt slot if its last attempt was at or
    /// before `free_since`; false: someone else's attempt has it.
    async fn take_login_slot(&self, key: &str, now: Millis, free_since: Millis) -> CoreResult<bool>;
    /// Forgets a key (a success from that address).
    async fn forget_login_failures(&self, key: &str) -> CoreResult<()>;
    /// Forgets windows that began before `before`.
    async fn prune_login_failures(&self, before: Millis) -> CoreResult<()>;
}

/// A delivery a dispatcher claimed, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The row, and the claim that lets this dispatcher settle it.
    pub row: i64,
    pub lease: String,
    pub delivery_id: String,
    pub webhook_id: String,
    /// The room whose queue it heads ("" for a ping).
    pub room_key: String,
    pub url: String,
    pub secret: String,
    pub topic: String,
    pub body: String,
    /// Tries before this one.
    pub attempts: u32,
    pub created_at: Millis,
}

/// How a try ended, and what follows.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: Millis,
    /// The HTTP status, 0 without an answer.
    pub status: u16,
    pub error: Option<String>,
    pub response_ms: u32,
    /// Delivered, failed for good, or pending until `retry_at`.
    pub state: crate::domain::webhook::DeliveryState,
    pub retry_at: Millis,
}

/// Webhook endpoints and their deliveries. Changes record their
/// deliveries themselves, in their own transaction, for the endpoints
/// last loaded by `refresh_webhook_routes`.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, w: &crate::domain::webhook::Webhook) -> CoreResult<()>;
    /// Oldest first.
    async fn webhooks(&self) -> CoreResult<Vec<crate::domain::webhook::Webhook>>;
    async fn webhook(&self, id: &str) -> CoreResult<Option<crate::domain::webhook::Webhook>>;
    /// False when there is no such endpoint.
    async fn update_webhook(&self, w: &crate::domain::webhook::Webhook) -> CoreResult<bool>;
    /// Deletes the endpoint and its deliveries; false when there was none.
    async fn delete_webhook(&self, id: &str) -> CoreResult<bool>;
    /// Reads which endpoints take which events, for the changes that
    /// follow; whether any enabled endpoint exists.
    async fn refresh_webhook_routes(&self) -> CoreResult<bool>;
    /// Queues a ping to one endpoint.
    async fn queue_ping(&self, webhook_id: &str, now: Millis)
    -> CoreResult<crate::domain::webhook::Delivery>;
    /// Claims, until `lease_until`, up to `limit` deliveries that are due,
    /// each the oldest pending one of its endpoint and room (the queue of
    /// that endpoint and room is leased), of enabled endpoints, and no more
    /// of an endpoint's than `per_endpoint` minus the tries it has in
    /// flight (`busy`). Costs the number of due queues, not the backlog.
    async fn claim_due_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        busy: &std::collections::HashMap<String, usize>,
        per_endpoint: usize,
        limit: u64,
    ) -> CoreResult<Vec<DueDelivery>>;
    /// Records a try of a claimed delivery and schedules its queue
    /// (ignored if the claim was lost).
    async fn settle_delivery(&self, due: &DueDelivery, attempt: &Attempt) -> CoreResult<()>;
    /// An endpoint's deliveries, newest first, older than `before` if given.
    async fn deliveries(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> CoreResult<Vec<crate::domain::webhook::Delivery>>;
    /// Forgets delivered and failed deliveries made before `before`, and
    /// queues idle since then.
    async fn prune_deliveries(&self, before: Millis) -> CoreResult<u64>;
}

/// Which entries of the audit trail to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<crate::domain::audit::AuditAction>,
    pub actor_id: Option<String>,
    /// Entries older than this id (the next page).
    pub before_id: Option<i64>,
    pub limit: u64,
}

/// The audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &crate::domain::audit::AuditEntry) -> CoreResult<()>;
    async fn audit_log(&self, q: &AuditQuery) -> CoreResult<Vec<crate::domain::audit::AuditEntry>>;
    /// Forgets entries made before `before`.
    async fn prune_audit(&self, before: Millis) -> CoreResult<u64>;
}

/// Visitors' data requests: finding what is held about someone, and
/// erasing it.
#[async_trait]
pub trait VisitorDataStore: Send + Sync {
    /// The rooms of the visitor the selector names, oldest first, at most `limit`.
    async fn rooms_of_subject(
        &self,
        who: &crate::domain::data_request::VisitorSelector,
        limit: u64,
    ) -> CoreResult<Vec<Room>>;
    /// In one transaction: the rooms' visitor name, email, platform id,
    /// address tag, subject and rating comment, their messages' and notes'
    /// text, their webhook deliveries' bodies and their rows left in the
    /// outbox are replaced or removed; the rooms stay. (rooms, messages).
    async fn erase_rooms(&self, room_ids: &[String], now: Millis) -> CoreResult<(u64, u64)>;
    /// Ended rooms not erased yet whose last message is older than `before`.
    async fn rooms_past_retention(&self, before: Millis, limit: u64) -> CoreResult<Vec<String>>;
}

/// Readiness of the storage.
pub trait Health: Send + Sync {
    /// False while the database is known to be down: calls are refused at
    /// once instead of each waiting for the pool to give up.
    fn reachable(&self) -> bool;
}

/// Everything the core stores, in one object.
pub trait Store:
    RoomStore
    + MessageStore
    + NoteStore
    + Directory
    + CannedStore
    + SettingsStore
    + PresenceStore
    + OutboxStore
    + LoginRecords
    + WebhookStore
    + AuditStore
    + VisitorDataStore
    + Health
{
}

impl<T> Store for T where
    T: RoomStore
        + MessageStore
        + NoteStore
        + Directory
        + CannedStore
        + SettingsStore
        + PresenceStore
        + OutboxStore
        + LoginRecords
        + WebhookStore
        + AuditStore
        + VisitorDataStore
        + Health
{
}

/// Carries events from the replica that caused them to every replica's
/// subscribers. Publishing happens after the change is stored.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Returns once the broker has confirmed every event.
    async fn publish(&self, events: Vec<Event>) -> CoreResult<()>;
    /// Publishes what the outbox recorded, as it was recorded.
    async fn publish_recorded(&self, events: Vec<RecordedEvent>) -> CoreResult<()>;
    /// False while the broker is unreachable (readiness).
    fn healthy(&self) -> bool {
        true
    }
}

/// A webhook POST as the dispatcher makes it.
#[derive(Debug, Clone)]
pub struct WebhookPost {
    pub url: String,
    /// Header name and value pairs besides Content-Type.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// How a POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer: why, in words for the admin.
    Failed(String),
}

/// Sends webhook POSTs, only to addresses `domain::webhook::may_send_to`
/// allows for the given networks (checked on what each name resolves to,
/// at the moment of sending, so a name cannot be pointed elsewhere later).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(&self, post: WebhookPost, allowed: &[ipnet::IpNet]) -> PostOutcome;
    /// Whether an endpoint may be registered: refused (with why) when its
    /// host is, or resolves now to, an address that is not allowed.
    async fn check_target(&self, url: &url::Url, allowed: &[ipnet::IpNet]) -> Result<(), String>;
}
