//! Domain values to and from their protobuf shapes, for every transport
//! at the core's edge: the gRPC services (`grpc`) and the bus (`envelope`,
//! which the outbox also stores). Nothing else in the core knows the
//! generated types; `store`, `bus` and `grpc` depend on this, never on
//! each other.

pub mod envelope;
pub mod webhook;

use livechat_proto::v1 as pb;

use crate::app::ports::{AgentRecord, CannedRecord};
use crate::app::{CannedScope, Snapshot};
use crate::domain::{
    AgentStatus, Channel, Event, EventKind, Message, Note, PermissionSet, Person, Room, RoomStatus, Sender,
    SenderKind, Settings, SettingsUpdate, TeamMember,
};

pub fn person(p: Person) -> pb::Person {
    pb::Person { id: p.id, name: p.name }
}

pub fn status(s: RoomStatus) -> pb::RoomStatus {
    match s {
        RoomStatus::Queued => pb::RoomStatus::Queued,
        RoomStatus::Engaged => pb::RoomStatus::Engaged,
        RoomStatus::Closed => pb::RoomStatus::Closed,
        RoomStatus::Expired => pb::RoomStatus::Expired,
    }
}

/// None for UNSPECIFIED (or an unknown number from a newer client).
pub fn status_from(raw: i32) -> Option<RoomStatus> {
    match pb::RoomStatus::try_from(raw).ok()? {
        pb::RoomStatus::Unspecified => None,
        pb::RoomStatus::Queued => Some(RoomStatus::Queued),
        pb::RoomStatus::Engaged => Some(RoomStatus::Engaged),
        pb::RoomStatus::Closed => Some(RoomStatus::Closed),
        pb::RoomStatus::Expired => Some(RoomStatus::Expired),
    }
}

pub fn channel(c: Channel) -> pb::Channel {
    match c {
        Channel::Web => pb::Channel::Web,
        Channel::Telegram => pb::Channel::Telegram,
        Channel::Messenger => pb::Channel::Messenger,
        Channel::Wechat => pb::Channel::Wechat,
    }
}

pub fn channel_from(raw: i32) -> Option<Channel> {
    match pb::Channel::try_from(raw).ok()? {
        pb::Channel::Unspecified => None,
        pb::Channel::Web => Some(Channel::Web),
        pb::Channel::Telegram => Some(Channel::Telegram),
        pb::Channel::Messenger => Some(Channel::Messenger),
        pb::Channel::Wechat => Some(Channel::Wechat),
    }
}

pub fn room(r: Room) -> pb::Room {
    pb::Room {
        id: r.id,
        status: status(r.status).into(),
        channel: channel(r.channel).into(),
        visitor: Some(person(r.visitor)),
        agent: r.agent.map(person),
        subject: r.subject,
        created_at_ms: r.created_at,
        last_message_at_ms: r.last_message_at,
        last_seq: r.last_seq,
        end_message: r.end_message,
    }
}

pub fn sender(s: Sender) -> pb::Sender {
    let kind = match s.kind {
        SenderKind::Visitor => pb::SenderKind::Visitor,
        SenderKind::Agent => pb::SenderKind::Agent,
        SenderKind::System => pb::SenderKind::System,
    };
    pb::Sender { kind: kind.into(), id: s.id, name: s.name }
}

pub fn message(m: Message) -> pb::Message {
    pb::Message {
        id: m.id,
        room_id: m.room_id,
        seq: m.seq,
        sender: Some(sender(m.sender)),
        content: m.content,
        created_at_ms: m.created_at,
        client_id: m.client_id,
    }
}

pub fn note(n: Note) -> pb::Note {
    pb::Note {
        id: n.id,
        room_id: n.room_id,
        author: Some(person(n.author)),
        content: n.content,
        created_at_ms: n.created_at,
        after_seq: n.after_seq,
    }
}

pub fn agent(a: AgentRecord) -> pb::Agent {
    pb::Agent { id: a.id, username: a.username, name: a.name, group: a.group, disabled: a.disabled }
}

pub fn group(name: String, perms: PermissionSet) -> pb::Group {
    pb::Group { name, permissions: perms.names() }
}

pub fn canned_scope_from(raw: i32) -> Option<CannedScope> {
    match pb::CannedScope::try_from(raw).ok()? {
        pb::CannedScope::Unspecified => None,
        pb::CannedScope::Personal => Some(CannedScope::Personal),
        pb::CannedScope::Shared => Some(CannedScope::Shared),
    }
}

pub fn canned(c: CannedRecord) -> pb::CannedResponse {
    let scope = if c.shared { pb::CannedScope::Shared } else { pb::CannedScope::Personal };
    pb::CannedResponse {
        id: c.id,
        shortcut: c.shortcut,
        title: c.title,
        body: c.body,
        scope: scope.into(),
        owner_id: c.owner_id,
    }
}

pub fn settings(s: Settings) -> pb::Settings {
    pb::Settings {
        history_load_count: s.history_load_count,
        room_idle_timeout_secs: s.room_idle_timeout_secs,
        agent_grace_secs: s.agent_grace_secs,
        agent_join_message: s.agent_join_message,
        agent_leave_message: s.agent_leave_message,
        close_message: s.close_message,
        max_message_chars: s.max_message_chars,
    }
}

pub fn settings_update(u: pb::UpdateSettingsRequest) -> SettingsUpdate {
    SettingsUpdate {
        history_load_count: u.history_load_count,
        room_idle_timeout_secs: u.room_idle_timeout_secs,
        agent_grace_secs: u.agent_grace_secs,
        agent_join_message: u.agent_join_message,
        agent_leave_message: u.agent_leave_message,
        close_message: u.close_message,
        max_message_chars: u.max_message_chars,
        offline_room_wait_secs: None,
        widget_allowed_origins: None,
        webhook_allowed_networks: None,
        audit_retention_days: None,
        closed_room_retention_days: None,
        assignment_mode: None,
        agent_capacity: None,
    }
}

pub fn workspace_settings(s: &Settings) -> pb::WorkspaceSettings {
    pb::WorkspaceSettings {
        offline_room_wait_secs: s.offline_room_wait_secs,
        widget_allowed_origins: s.widget_allowed_origins.clone(),
        webhook_allowed_networks: s.webhook_allowed_networks.clone(),
        audit_retention_days: s.audit_retention_days,
        closed_room_retention_days: s.closed_room_retention_days,
        assignment_mode: s.assignment_mode.clone(),
        agent_capacity: s.agent_capacity,
    }
}

pub fn workspace_update(u: pb::UpdateWorkspaceSettingsRequest) -> SettingsUpdate {
    SettingsUpdate {
        offline_room_wait_secs: u.offline_room_wait_secs,
        widget_allowed_origins: u.widget_allowed_origins.map(|l| l.origins),
        webhook_allowed_networks: u.webhook_allowed_networks.map(|l| l.networks),
        audit_retention_days: u.audit_retention_days,
        closed_room_retention_days: u.closed_room_retention_days,
        assignment_mode: u.assignment_mode,
        agent_capacity: u.agent_capacity,
        ..SettingsUpdate::default()
    }
}

pub fn snapshot(s: Snapshot) -> pb::Event {
    pb::Event { kind: Some(pb::event::Kind::Snapshot(snapshot_of(s))) }
}

pub fn snapshot_of(s: Snapshot) -> pb::Snapshot {
    pb::Snapshot {
        role: s.role.into(),
        user: Some(person(s.user)),
        away: s.away,
        rooms: s.rooms.into_iter().map(room).collect(),
        queue: s.queue.into_iter().map(room).collect(),
    }
}

/// None for events that are not for clients.
pub fn event(e: &Event) -> Option<pb::Event> {
    use pb::event::Kind;
    let kind = match e.kind.clone() {
        EventKind::RoomQueued { room: r } => Kind::RoomQueued(pb::RoomQueued { room: Some(room(r)) }),
        EventKind::RoomTaken { room_id, agent } => {
            Kind::RoomTaken(pb::RoomTaken { room_id, agent: Some(person(agent)) })
        }
        EventKind::Message { message: m } => Kind::Message(pb::MessageStored { message: Some(message(m)) }),
        EventKind::NoteAdded { note: n } => Kind::Note(pb::NoteAdded { note: Some(note(n)) }),
        EventKind::Typing { room_id, from, typing } => {
            Kind::Typing(pb::Typing { room_id, from: Some(sender(from)), typing })
        }
        EventKind::RoomUpdated { room: r } => Kind::RoomUpdated(pb::RoomUpdated { room: Some(room(r)) }),
        EventKind::RoomClosed { room_id, reason, message } => {
            Kind::RoomClosed(pb::RoomClosed { room_id, reason: reason.as_str().into(), message })
        }
        EventKind::AgentRevoked { .. }
        | EventKind::AgentRightsChanged { .. }
        | EventKind::AgentAway { .. }
        | EventKind::Outbound { .. } => {
            return None;
        }
    };
    Some(pb::Event { kind: Some(kind) })
}

pub fn team_member(m: TeamMember) -> pb::TeamMember {
    let status = match m.status {
        AgentStatus::Online => pb::AgentStatus::Online,
        AgentStatus::Away => pb::AgentStatus::Away,
        AgentStatus::Offline => pb::AgentStatus::Offline,
    };
    pb::TeamMember {
        id: m.id,
        name: m.name,
        status: status as i32,
        open_rooms: m.open_rooms,
        accepts_rooms: m.accepts_rooms,
    }
}

pub fn rating(r: crate::domain::Rating) -> pb::Rating {
    pb::Rating { score: u32::from(r.score), comment: r.comment, created_at_ms: r.created_at }
}

pub fn ratings_report(days: u32, r: crate::domain::RatingsReport) -> pb::RatingsReportResponse {
    use crate::domain::rating::Tally;
    let tally = |t: Tally| pb::RatingTally { count: t.count, average: t.average };
    pb::RatingsReportResponse {
        days,
        overall: r.overall.map(tally),
        by_agent: r
            .by_agent
            .into_iter()
            .map(|(a, t)| pb::AgentRatings { agent: Some(person(a)), tally: Some(tally(t)) })
            .collect(),
        by_day: r.by_day.into_iter().map(|(day, t)| pb::DayRatings { day, tally: Some(tally(t)) }).collect(),
    }
}

pub fn webhook(w: crate::domain::webhook::Webhook) -> pb::Webhook {
    pb::Webhook {
        id: w.id,
        url: w.url,
        events: w.topics.iter().map(|t| t.as_str().to_string()).collect(),
        enabled: w.enabled,
        created_at_ms: w.created_at,
        secret: w.secret,
    }
}

pub fn delivery(d: crate::domain::webhook::Delivery) -> pb::WebhookDelivery {
    use crate::domain::webhook::DeliveryState;
    let state = match d.state {
        DeliveryState::Pending => pb::DeliveryState::Pending,
        DeliveryState::Delivered => pb::DeliveryState::Delivered,
        DeliveryState::Failed => pb::DeliveryState::Failed,
    };
    pb::WebhookDelivery {
        id: d.id,
        webhook_id: d.webhook_id,
        event_type: d.topic,
        room_id: d.room_id,
        state: state as i32,
        attempts: d.attempts,
        created_at_ms: d.created_at,
        last_attempt_at_ms: d.last_attempt_at,
        next_attempt_at_ms: d.next_attempt_at,
        last_status: u32::from(d.last_status),
        last_error: d.last_error.unwrap_or_default(),
        last_response_ms: d.last_response_ms,
    }
}

pub fn audit_entry(e: crate::domain::audit::AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        id: e.id.to_string(),
        at_ms: e.at,
        actor: e.actor.map(person),
        address: e.address.unwrap_or_default(),
        action: e.action.as_str().to_string(),
        target: e.target.unwrap_or_default(),
        details_json: e.details.to_string(),
    }
}

/// A visitor's export: their rooms in the REST shapes, with what only
/// admins see (email, platform, notes), as one JSON document.
pub fn visitor_export(rooms: Vec<crate::app::ExportedRoom>, now: crate::domain::Millis) -> serde_json::Value {
    use livechat_proto::json;
    let rooms: Vec<serde_json::Value> = rooms
        .into_iter()
        .map(|r| {
            let visitor = r.visitor.map(|v| {
                serde_json::json!({
                    "channel": v.channel.as_str(),
                    "email": v.email,
                    "external_id": v.external_id,
                    "left_offline": v.left_offline,
                })
            });
            serde_json::json!({
                "room": json::Room::from(room(r.room)),
                "visitor": visitor,
                "rating": r.rating.map(|x| json::Rating::from(rating(x))),
                "messages": r.messages.into_iter().map(|m| json::Message::from(message(m))).collect::<Vec<_>>(),
                "notes": r.notes.into_iter().map(|n| json::Note::from(note(n))).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "exported_at": livechat_proto::json::time(now), "rooms": rooms })
}
