//! The JSON shapes of docs/protocol.md, shared by the REST and WebSocket
//! gateways so that a room or a message looks the same on both, built from
//! the protobuf objects the core returns.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::v1 as pb;

/// RFC 3339, UTC, exactly three fractional digits and a `Z`.
pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An id and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub name: String,
}

impl From<pb::Person> for Person {
    fn from(p: pb::Person) -> Self {
        Self { id: p.id, name: p.name }
    }
}

/// One support conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Room {
    pub id: String,
    /// queued, engaged, closed or expired.
    #[schema(example = "queued")]
    pub status: String,
    /// web, telegram, messenger or wechat.
    #[schema(example = "web")]
    pub channel: String,
    pub visitor: Person,
    /// The engaged agent (for closed and expired rooms: the last one).
    pub agent: Option<Person>,
    /// The visitor's first question.
    pub subject: Option<String>,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub created_at: String,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub last_message_at: String,
    /// Seq of the newest message; 0 when there is none.
    pub last_seq: u64,
}

pub fn status_name(raw: i32) -> &'static str {
    match pb::RoomStatus::try_from(raw).unwrap_or(pb::RoomStatus::Unspecified) {
        pb::RoomStatus::Queued => "queued",
        pb::RoomStatus::Engaged => "engaged",
        pb::RoomStatus::Closed => "closed",
        pb::RoomStatus::Expired => "expired",
        pb::RoomStatus::Unspecified => "unknown",
    }
}

/// The RoomStatus for a wire name.
pub fn status_from_name(name: &str) -> Option<pb::RoomStatus> {
    Some(match name {
        "queued" => pb::RoomStatus::Queued,
        "engaged" => pb::RoomStatus::Engaged,
        "closed" => pb::RoomStatus::Closed,
        "expired" => pb::RoomStatus::Expired,
        _ => return None,
    })
}

fn channel_name(raw: i32) -> &'static str {
    match pb::Channel::try_from(raw).unwrap_or(pb::Channel::Unspecified) {
        pb::Channel::Web | pb::Channel::Unspecified => "web",
        pb::Channel::Telegram => "telegram",
        pb::Channel::Messenger => "messenger",
        pb::Channel::Wechat => "wechat",
    }
}

impl From<pb::Room> for Room {
    fn from(r: pb::Room) -> Self {
        Self {
            status: status_name(r.status).into(),
            channel: channel_name(r.channel).into(),
            visitor: r.visitor.map(Person::from).unwrap_or(Person { id: String::new(), name: String::new() }),
            agent: r.agent.map(Person::from),
            subject: r.subject,
            created_at: time(r.created_at_ms),
            last_message_at: time(r.last_message_at_ms),
            last_seq: r.last_seq,
            id: r.id,
        }
    }
}

/// The author of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Sender {
    /// visitor, agent or system.
    #[schema(example = "visitor")]
    pub kind: String,
    pub id: String,
    pub name: String,
}

pub fn sender_kind_name(raw: i32) -> &'static str {
    match pb::SenderKind::try_from(raw).unwrap_or(pb::SenderKind::Unspecified) {
        pb::SenderKind::Visitor => "visitor",
        pb::SenderKind::Agent => "agent",
        pb::SenderKind::System | pb::SenderKind::Unspecified => "system",
    }
}

impl From<pb::Sender> for Sender {
    fn from(s: pb::Sender) -> Self {
        Self { kind: sender_kind_name(s.kind).into(), id: s.id, name: s.name }
    }
}

/// One stored message; `seq` is its position in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub room_id: String,
    pub seq: u64,
    pub sender: Sender,
    pub content: String,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub created_at: String,
    /// The sender's idempotency key, if they gave one.
    pub client_id: Option<String>,
}

impl From<pb::Message> for Message {
    fn from(m: pb::Message) -> Self {
        Self {
            id: m.id,
            room_id: m.room_id,
            seq: m.seq,
            sender: m.sender.map(Sender::from).unwrap_or(Sender {
                kind: "system".into(),
                id: "system".into(),
                name: "System".into(),
            }),
            content: m.content,
            created_at: time(m.created_at_ms),
            client_id: m.client_id,
        }
    }
}

/// An agent account; the password is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Agent {
    pub id: String,
    pub username: String,
    pub name: String,
    pub group: String,
    pub disabled: bool,
}

impl From<pb::Agent> for Agent {
    fn from(a: pb::Agent) -> Self {
        Self { id: a.id, username: a.username, name: a.name, group: a.group, disabled: a.disabled }
    }
}

/// A canned response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CannedResponse {
    pub id: String,
    pub shortcut: String,
    pub title: String,
    pub body: String,
    /// personal or shared.
    #[schema(example = "personal")]
    pub scope: String,
}

impl From<pb::CannedResponse> for CannedResponse {
    fn from(c: pb::CannedResponse) -> Self {
        let shared = c.scope == pb::CannedScope::Shared as i32;
        Self {
            id: c.id,
            shortcut: c.shortcut,
            title: c.title,
            body: c.body,
            scope: if shared { "shared" } else { "personal" }.into(),
        }
    }
}

/// The run-time settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Settings {
    pub history_load_count: u32,
    pub room_idle_timeout_secs: u64,
    pub agent_grace_secs: u64,
    pub agent_join_message: String,
    pub agent_leave_message: String,
    pub close_message: String,
    pub max_message_chars: u32,
}

impl From<pb::Settings> for Settings {
    fn from(s: pb::Settings) -> Self {
        Self {
            history_load_count: s.history_load_count,
            room_idle_timeout_secs: s.room_idle_timeout_secs,
            agent_grace_secs: s.agent_grace_secs,
            agent_join_message: s.agent_join_message,
            agent_leave_message: s.agent_leave_message,
            close_message: s.close_message,
            max_message_chars: s.max_message_chars,
        }
    }
}

/// A permission group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Group {
    pub name: String,
    pub permissions: Vec<String>,
}

impl From<pb::Group> for Group {
    fn from(g: pb::Group) -> Self {
        Self { name: g.name, permissions: g.permissions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_exactly_three_fractional_digits_and_a_z() {
        assert_eq!(time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(time(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
    }

    #[test]
    fn a_room_without_agent_serializes_agent_as_null() {
        let r = Room::from(pb::Room {
            id: "r".into(),
            status: pb::RoomStatus::Queued as i32,
            visitor: Some(pb::Person { id: "v".into(), name: "Ana".into() }),
            ..Default::default()
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["agent"], serde_json::Value::Null);
        assert_eq!(v["status"], "queued");
        assert_eq!(v["channel"], "web");
    }
}

/// A colleague as every agent may see them (`GET /team`, the `team` frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TeamMember {
    pub id: String,
    pub name: String,
    /// online, away or offline.
    #[schema(example = "online")]
    pub status: String,
    /// Rooms they hold now.
    pub open_rooms: u32,
    /// Whether a room can be transferred to them.
    pub accepts_rooms: bool,
}

pub fn agent_status_name(raw: i32) -> &'static str {
    match pb::AgentStatus::try_from(raw).unwrap_or(pb::AgentStatus::Unspecified) {
        pb::AgentStatus::Online => "online",
        pb::AgentStatus::Away => "away",
        pb::AgentStatus::Offline | pb::AgentStatus::Unspecified => "offline",
    }
}

/// What an agent may set their own presence to (`PUT /presence`, the
/// `presence` frame): offline is not a choice, it is having no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChosenStatus {
    Online,
    Away,
}

impl From<ChosenStatus> for pb::AgentStatus {
    fn from(s: ChosenStatus) -> Self {
        match s {
            ChosenStatus::Online => pb::AgentStatus::Online,
            ChosenStatus::Away => pb::AgentStatus::Away,
        }
    }
}

impl From<pb::TeamMember> for TeamMember {
    fn from(m: pb::TeamMember) -> Self {
        Self {
            status: agent_status_name(m.status).into(),
            id: m.id,
            name: m.name,
            open_rooms: m.open_rooms,
            accepts_rooms: m.accepts_rooms,
        }
    }
}

/// A room's visitor as agents see them beside the chat (`GET
/// /rooms/{id}/visitor`, the `visitor` frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VisitorDetails {
    pub name: String,
    pub email: Option<String>,
    /// web, telegram, messenger or wechat.
    pub channel: String,
    /// Their first question.
    pub subject: Option<String>,
    /// They left a message while no agent was online: they may be gone;
    /// answer by email.
    pub offline_message: bool,
    /// Their other rooms, newest first (at most 20).
    pub earlier_rooms: Vec<Room>,
}

impl From<pb::VisitorDetails> for VisitorDetails {
    fn from(v: pb::VisitorDetails) -> Self {
        Self {
            name: v.name,
            email: v.email,
            channel: channel_name(v.channel).into(),
            subject: v.subject,
            offline_message: v.offline_message,
            earlier_rooms: v.earlier_rooms.into_iter().map(Room::from).collect(),
        }
    }
}

/// An agent's private note in a room (never shown to the visitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Note {
    pub id: String,
    pub room_id: String,
    pub author: Person,
    pub content: String,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub created_at: String,
    /// The room's last message seq when it was written: it sits after
    /// that message.
    pub after_seq: u64,
}

impl From<pb::Note> for Note {
    fn from(n: pb::Note) -> Self {
        Self {
            id: n.id,
            room_id: n.room_id,
            author: n.author.map(Person::from).unwrap_or(Person { id: String::new(), name: String::new() }),
            content: n.content,
            created_at: time(n.created_at_ms),
            after_seq: n.after_seq,
        }
    }
}

/// A visitor's rating of an ended chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rating {
    /// 1 (bad) to 5 (great).
    pub score: u32,
    pub comment: Option<String>,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub created_at: String,
}

impl From<pb::Rating> for Rating {
    fn from(r: pb::Rating) -> Self {
        Self { score: r.score, comment: r.comment, created_at: time(r.created_at_ms) }
    }
}

/// How many ratings and their average (two decimals).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RatingTally {
    pub count: u64,
    pub average: f64,
}

impl From<pb::RatingTally> for RatingTally {
    fn from(t: pb::RatingTally) -> Self {
        Self { count: t.count, average: t.average }
    }
}

/// One agent's ratings in a report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentRatings {
    pub agent: Person,
    pub count: u64,
    pub average: f64,
}

/// One day's ratings in a report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayRatings {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub count: u64,
    pub average: f64,
}

/// Ratings of the last `days` days, by agent and by day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RatingsReport {
    pub days: u32,
    /// Null when nothing was rated.
    pub overall: Option<RatingTally>,
    pub by_agent: Vec<AgentRatings>,
    pub by_day: Vec<DayRatings>,
}

impl From<pb::RatingsReportResponse> for RatingsReport {
    fn from(r: pb::RatingsReportResponse) -> Self {
        let zero = || RatingTally { count: 0, average: 0.0 };
        Self {
            days: r.days,
            overall: r.overall.map(RatingTally::from),
            by_agent: r
                .by_agent
                .into_iter()
                .map(|a| {
                    let t = a.tally.map_or_else(zero, RatingTally::from);
                    AgentRatings {
                        agent: a
                            .agent
                            .map(Person::from)
                            .unwrap_or(Person { id: String::new(), name: String::new() }),
                        count: t.count,
                        average: t.average,
                    }
                })
                .collect(),
            by_day: r
                .by_day
                .into_iter()
                .map(|d| {
                    let t = d.tally.map_or_else(zero, RatingTally::from);
                    DayRatings { day: d.day, count: t.count, average: t.average }
                })
                .collect(),
        }
    }
}

/// Workspace settings: beyond the v1 settings object (`GET/PUT
/// /workspace-settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WorkspaceSettings {
    /// How long a message left through the widget's offline form waits in
    /// the queue (seconds).
    pub offline_room_wait_secs: u64,
    /// Sites that may show the widget in a frame.
    pub widget_allowed_origins: Vec<String>,
    /// Private networks (CIDRs) that webhooks may reach.
    pub webhook_allowed_networks: Vec<String>,
    /// How long the audit trail keeps an entry (days).
    pub audit_retention_days: u32,
    /// Closed and expired rooms older than this many days have their
    /// visitor's data erased; 0 keeps them.
    pub closed_room_retention_days: u32,
    /// manual or automatic.
    pub assignment_mode: String,
    /// Rooms automatic assignment hands one agent at once, by default.
    pub agent_capacity: u32,
}

impl From<pb::WorkspaceSettings> for WorkspaceSettings {
    fn from(s: pb::WorkspaceSettings) -> Self {
        Self {
            offline_room_wait_secs: s.offline_room_wait_secs,
            widget_allowed_origins: s.widget_allowed_origins,
            webhook_allowed_networks: s.webhook_allowed_networks,
            audit_retention_days: s.audit_retention_days,
            closed_room_retention_days: s.closed_room_retention_days,
            assignment_mode: s.assignment_mode,
            agent_capacity: s.agent_capacity,
        }
    }
}

/// A webhook endpoint. `secret` appears once: in the answer that creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// room.queued, room.accepted, room.transferred, room.closed,
    /// room.expired, message.created, room.rated.
    pub events: Vec<String>,
    pub enabled: bool,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub created_at: String,
    /// The HMAC-SHA256 key of `X-Livechat-Signature`; store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<pb::Webhook> for Webhook {
    fn from(w: pb::Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            enabled: w.enabled,
            created_at: time(w.created_at_ms),
            secret: (!w.secret.is_empty()).then_some(w.secret),
        }
    }
}

/// One event for one endpoint, and how its tries went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// Also the `X-Livechat-Delivery` and `Idempotency-Key` the endpoint got.
    pub id: String,
    pub webhook_id: String,
    /// The event type, or `ping` for a test event.
    pub event_type: String,
    /// Null for a test event.
    pub room_id: Option<String>,
    /// pending, delivered or failed (given up after 24 hours of retries).
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    /// When the next try is due (pending deliveries only).
    pub next_attempt_at: Option<String>,
    /// The last answer's HTTP status; null when there was none.
    pub last_status: Option<u32>,
    pub last_error: Option<String>,
    /// How long the last try took; null before the first.
    pub last_response_ms: Option<u32>,
}

impl From<pb::WebhookDelivery> for WebhookDelivery {
    fn from(d: pb::WebhookDelivery) -> Self {
        let state = match pb::DeliveryState::try_from(d.state) {
            Ok(pb::DeliveryState::Delivered) => "delivered",
            Ok(pb::DeliveryState::Failed) => "failed",
            _ => "pending",
        };
        let tried = d.attempts > 0;
        Self {
            id: d.id,
            webhook_id: d.webhook_id,
            event_type: d.event_type,
            room_id: (!d.room_id.is_empty()).then_some(d.room_id),
            state: state.to_string(),
            attempts: d.attempts,
            created_at: time(d.created_at_ms),
            last_attempt_at: tried.then(|| time(d.last_attempt_at_ms)),
            next_attempt_at: (state == "pending").then(|| time(d.next_attempt_at_ms)),
            last_status: (d.last_status != 0).then_some(d.last_status),
            last_error: (!d.last_error.is_empty()).then_some(d.last_error),
            last_response_ms: tried.then_some(d.last_response_ms),
        }
    }
}

/// One administrative action of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(example = "2026-11-23T10:00:00.123Z")]
    pub at: String,
    /// Who did it; null for a failed login.
    pub actor: Option<Person>,
    /// The client's address, as the gateway saw it.
    pub address: Option<String>,
    /// agent.created, agent.updated, agent.deleted, group.created,
    /// group.updated, settings.updated, webhook.created, webhook.updated,
    /// webhook.deleted, login.failed, login.locked_out, visitor.exported,
    /// visitor.erased.
    pub action: String,
    /// An agent's or webhook's id, a group's name, the username tried, a room.
    pub target: Option<String>,
    /// What changed (`{"field":{"from","to"}}`) or what was made; never a
    /// password or secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<pb::AuditEntry> for AuditEntry {
    fn from(e: pb::AuditEntry) -> Self {
        Self {
            id: e.id,
            at: time(e.at_ms),
            actor: e.actor.map(Person::from),
            address: (!e.address.is_empty()).then_some(e.address),
            action: e.action,
            target: (!e.target.is_empty()).then_some(e.target),
            details: serde_json::from_str(&e.details_json).unwrap_or(serde_json::Value::Null),
        }
    }
}
