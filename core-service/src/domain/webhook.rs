//! Outbound webhooks as rules: which event types an endpoint may take,
//! which of a change's events an integration is told about, where a
//! delivery may be sent (no loopback, link-local or private address
//! unless an admin allowed that network), when a failed delivery is tried
//! again, and how a body is signed.

use std::net::IpAddr;

use hmac::{KeyInit, Mac};
use ipnet::IpNet;

use super::event::{Event, EventKind};
use super::room::{EndReason, Message, Room, RoomStatus};
use super::{FieldError, Millis, Rating};

/// What an endpoint can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    RoomQueued,
    RoomAccepted,
    RoomTransferred,
    RoomClosed,
    RoomExpired,
    MessageCreated,
    RoomRated,
    /// The "send test event" action; every endpoint takes it.
    Ping,
}

impl Topic {
    /// The event types an endpoint may ask for.
    pub const SUBSCRIBABLE: [Topic; 7] = [
        Self::RoomQueued,
        Self::RoomAccepted,
        Self::RoomTransferred,
        Self::RoomClosed,
        Self::RoomExpired,
        Self::MessageCreated,
        Self::RoomRated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoomQueued => "room.queued",
            Self::RoomAccepted => "room.accepted",
            Self::RoomTransferred => "room.transferred",
            Self::RoomClosed => "room.closed",
            Self::RoomExpired => "room.expired",
            Self::MessageCreated => "message.created",
            Self::RoomRated => "room.rated",
            Self::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().chain([Self::Ping]).find(|t| t.as_str() == s)
    }
}

/// The event types an endpoint asked for: at least one, each known, no
/// repeats (the order is kept as given).
pub fn parse_topics<S: AsRef<str>>(names: &[S]) -> Result<Vec<Topic>, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new("events", "name at least one event type"));
    }
    let mut topics = Vec::with_capacity(names.len());
    for name in names {
        let name = name.as_ref();
        match Topic::parse(name).filter(|t| *t != Topic::Ping) {
            Some(t) if !topics.contains(&t) => topics.push(t),
            Some(_) => {}
            None => {
                let known: Vec<&str> = Topic::SUBSCRIBABLE.iter().map(|t| t.as_str()).collect();
                return Err(FieldError::new(
                    "events",
                    format!("unknown event type {name:?}; known: {}", known.join(", ")),
                ));
            }
        }
    }
    Ok(topics)
}

/// What a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Room(Room),
    Message(Message),
    Rating { room_id: String, rating: Rating },
    Ping { webhook_id: String },
}

/// One thing an integration is told, before it is addressed to endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub topic: Topic,
    pub subject: Subject,
}

impl Occurrence {
    /// The room whose deliveries it is ordered with ("" for a ping).
    pub fn room_id(&self) -> &str {
        match &self.subject {
            Subject::Room(r) => &r.id,
            Subject::Message(m) => &m.room_id,
            Subject::Rating { room_id, .. } => room_id,
            Subject::Ping { .. } => "",
        }
    }
}

/// What integrations are told about one stored change, in the order its
/// events were made. The use cases make each change's events for clients
/// (see `app::rooms`); they say enough:
/// - `RoomQueued`: the room entered the queue (new, or given back);
/// - `RoomTaken`: it was accepted (the room is the change's `RoomUpdated`);
/// - `RoomClosed`: it ended, closed or expired, by its reason;
/// - a `RoomUpdated` to an engaged room with none of those: a transfer;
/// - `Message`: every stored message, the system's texts included.
pub fn occurrences(events: &[Event]) -> Vec<Occurrence> {
    let updated = |room_id: &str| {
        events.iter().find_map(|e| match &e.kind {
            EventKind::RoomUpdated { room } if room.id == room_id => Some(room),
            _ => None,
        })
    };
    let marks_change = |room_id: &str| {
        events.iter().any(|e| match &e.kind {
            EventKind::RoomTaken { room_id: id, .. } | EventKind::RoomClosed { room_id: id, .. } => {
                id == room_id
            }
            EventKind::RoomQueued { room } => room.id == room_id,
            _ => false,
        })
    };
    let room = |topic, room: &Room| Occurrence { topic, subject: Subject::Room(room.clone()) };
    let mut out = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::RoomQueued { room: r } => out.push(room(Topic::RoomQueued, r)),
            EventKind::RoomTaken { room_id, .. } => {
                if let Some(r) = updated(room_id) {
                    out.push(room(Topic::RoomAccepted, r));
                }
            }
            EventKind::RoomClosed { room_id, reason, .. } => {
                let topic = match reason {
                    EndReason::Closed => Topic::RoomClosed,
                    EndReason::Expired => Topic::RoomExpired,
                };
                if let Some(r) = updated(room_id) {
                    out.push(room(topic, r));
                }
            }
            EventKind::RoomUpdated { room: r } if r.status == RoomStatus::Engaged && !marks_change(&r.id) => {
                out.push(room(Topic::RoomTransferred, r));
            }
            EventKind::Message { message } => out.push(Occurrence {
                topic: Topic::MessageCreated,
                subject: Subject::Message(message.clone()),
            }),
            _ => {}
        }
    }
    out
}

/// An endpoint as an admin registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub topics: Vec<Topic>,
    pub enabled: bool,
    pub created_at: Millis,
    /// The signing key; shown to the admin once, when it is made.
    pub secret: String,
}

impl Webhook {
    pub fn takes(&self, topic: Topic) -> bool {
        topic == Topic::Ping || self.topics.contains(&topic)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

/// One event for one endpoint, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Also the idempotency id the endpoint receives.
    pub id: String,
    pub webhook_id: String,
    pub topic: String,
    /// "" for a ping.
    pub room_id: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: Millis,
    /// 0 until the first try.
    pub last_attempt_at: Millis,
    pub next_attempt_at: Millis,
    /// 0: no HTTP answer (see `last_error`).
    pub last_status: u16,
    pub last_error: Option<String>,
    pub last_response_ms: u32,
}

/// How long a webhook keeps being retried: a delivery that fails after
/// this much time since it was made is given up.
pub const RETRY_FOR_MS: Millis = 24 * 3600 * 1000;
/// The first retry's wait; each next one doubles, up to `MAX_RETRY_WAIT_MS`.
pub const FIRST_RETRY_WAIT_MS: Millis = 10_000;
pub const MAX_RETRY_WAIT_MS: Millis = 3600 * 1000;

/// What follows a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Millis),
    GiveUp,
}

/// After the `attempts`-th failed try at `now` of a delivery made at
/// `created_at`: the next try, 10 s, 20 s, 40 s … capped at an hour, or
/// giving up once 24 hours have passed (so at least 24 hours of tries).
pub fn after_failure(created_at: Millis, attempts: u32, now: Millis) -> AfterFailure {
    if now - created_at >= RETRY_FOR_MS {
        return AfterFailure::GiveUp;
    }
    let doublings = attempts.saturating_sub(1).min(20);
    let wait = (FIRST_RETRY_WAIT_MS << doublings).min(MAX_RETRY_WAIT_MS);
    AfterFailure::RetryAt(now + wait)
}

/// Longest webhook URL.
pub const MAX_URL_CHARS: usize = 2000;

/// An endpoint's URL: http or https with a host, no longer than
/// `MAX_URL_CHARS`. Where it points is checked apart (`may_send_to`),
/// at registration for an address literal and at every delivery for what
/// the name resolves to then.
pub fn parse_url(raw: &str) -> Result<url::Url, FieldError> {
    let invalid = |why: &str| FieldError::new("url", why);
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(invalid("must be at most 2000 characters"));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    Ok(url)
}

/// The address literal of a URL's host, if it is one.
pub fn literal_address(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// Whether a delivery may go to `addr`: a public address, or one inside
/// a network an admin allowed (`webhook_allowed_networks`). Refused
/// otherwise: loopback, private (RFC 1918, unique local), link-local
/// (cloud metadata lives at 169.254.169.254), shared, unspecified,
/// multicast and broadcast addresses, and IPv4 hidden in IPv6.
pub fn may_send_to(addr: IpAddr, allowed: &[IpNet]) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    is_public(addr) || allowed.iter().any(|n| n.contains(&addr))
}

fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let [first, second, ..] = a.octets();
            !(a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || first == 0
                // 100.64.0.0/10, carrier-grade NAT and cluster networks.
                || (first == 100 && (64..128).contains(&second))
                // 198.18.0.0/15, benchmarking.
                || (first == 198 && (second == 18 || second == 19))
                || first >= 240)
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // 64:ff9b::/96 and friends translate to IPv4: refused
                // rather than followed.
                || first == 0x0064
                || a.to_ipv4().is_some())
        }
    }
}

/// Networks an admin lets webhooks reach although they are not public,
/// as CIDRs ("10.0.0.0/8", "127.0.0.1/32").
pub fn parse_networks<S: AsRef<str>>(raw: &[S]) -> Result<Vec<IpNet>, String> {
    raw.iter()
        .map(|s| {
            let s = s.as_ref().trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| format!("{s:?} is not a network like 10.0.0.0/8 or an address"))
        })
        .collect()
}

/// The `X-Livechat-Signature` header of a body sent at `t` (unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The receiver
/// recomputes it with the secret it was shown once, and refuses an old
/// `t` to stop replays.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audience, Channel, Person, Sender, SenderKind};

    fn room(status: RoomStatus, agent: Option<&str>) -> Room {
        Room {
            id: "r-1".into(),
            status,
            channel: Channel::Web,
            visitor: Person { id: "v".into(), name: "Vi".into() },
            external_id: None,
            agent: agent.map(|a| Person { id: a.into(), name: a.into() }),
            subject: None,
            created_at: 1,
            last_message_at: 2,
            last_seq: 3,
            end_message: None,
        }
    }

    fn event(kind: EventKind) -> Event {
        Event::new(Audience::default(), kind)
    }

    fn message(seq: u64) -> Message {
        Message {
            id: format!("m-{seq}"),
            room_id: "r-1".into(),
            seq,
            sender: Sender { kind: SenderKind::System, id: String::new(), name: String::new() },
            content: "hi".into(),
            client_id: None,
            created_at: 5,
        }
    }

    fn topics(events: &[Event]) -> Vec<&'static str> {
        occurrences(events).iter().map(|o| o.topic.as_str()).collect()
    }

    #[test]
    fn an_accept_is_told_as_accepted_then_its_join_text() {
        let engaged = room(RoomStatus::Engaged, Some("a"));
        let events = [
            event(EventKind::RoomTaken {
                room_id: "r-1".into(),
                agent: Person { id: "a".into(), name: "A".into() },
            }),
            event(EventKind::RoomUpdated { room: engaged.clone() }),
            event(EventKind::Message { message: message(2) }),
        ];
        assert_eq!(topics(&events), ["room.accepted", "message.created"]);
        assert_eq!(occurrences(&events)[0].subject, Subject::Room(engaged));
    }

    #[test]
    fn an_engaged_room_updated_alone_is_a_transfer() {
        let events = [
            event(EventKind::RoomUpdated { room: room(RoomStatus::Engaged, Some("b")) }),
            event(EventKind::Message { message: message(4) }),
        ];
        assert_eq!(topics(&events), ["room.transferred", "message.created"]);
    }

    #[test]
    fn a_room_given_back_is_queued_again_not_transferred() {
        let queued = room(RoomStatus::Queued, None);
        let events = [
            event(EventKind::Message { message: message(4) }),
            event(EventKind::RoomUpdated { room: queued.clone() }),
            event(EventKind::RoomQueued { room: queued }),
        ];
        assert_eq!(topics(&events), ["message.created", "room.queued"]);
    }

    #[test]
    fn an_end_is_told_by_its_reason() {
        for (status, reason, topic) in [
            (RoomStatus::Closed, EndReason::Closed, "room.closed"),
            (RoomStatus::Expired, EndReason::Expired, "room.expired"),
        ] {
            let events = [
                event(EventKind::RoomUpdated { room: room(status, Some("a")) }),
                event(EventKind::RoomClosed { room_id: "r-1".into(), reason, message: "bye".into() }),
            ];
            assert_eq!(topics(&events), [topic]);
        }
    }

    #[test]
    fn typing_notes_and_internal_events_are_not_told() {
        let events = [
            event(EventKind::Typing {
                room_id: "r-1".into(),
                from: Sender { kind: SenderKind::Visitor, id: "v".into(), name: "Vi".into() },
                typing: true,
            }),
            event(EventKind::AgentRevoked { agent_id: "a".into() }),
        ];
        assert!(occurrences(&events).is_empty());
    }

    #[test]
    fn event_types_are_checked() {
        assert_eq!(parse_topics(&["room.closed", "room.closed"]).unwrap(), [Topic::RoomClosed]);
        assert!(parse_topics::<&str>(&[]).is_err());
        assert!(parse_topics(&["ping"]).is_err());
        assert!(parse_topics(&["room.deleted"]).is_err());
    }

    #[test]
    fn retries_back_off_to_an_hour_and_stop_after_a_day() {
        assert_eq!(after_failure(0, 1, 1_000), AfterFailure::RetryAt(11_000));
        assert_eq!(after_failure(0, 2, 1_000), AfterFailure::RetryAt(21_000));
        assert_eq!(after_failure(0, 30, 1_000), AfterFailure::RetryAt(1_000 + MAX_RETRY_WAIT_MS));
        assert_eq!(
            after_failure(0, 40, RETRY_FOR_MS - 1),
            AfterFailure::RetryAt(RETRY_FOR_MS - 1 + MAX_RETRY_WAIT_MS)
        );
        assert_eq!(after_failure(0, 40, RETRY_FOR_MS), AfterFailure::GiveUp);
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        let none: [IpNet; 0] = [];
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!may_send_to(refused.parse().unwrap(), &none), "{refused}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"] {
            assert!(may_send_to(public.parse().unwrap(), &none), "{public}");
        }
        let allowed = parse_networks(&["127.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(may_send_to("127.0.0.1".parse().unwrap(), &allowed));
        assert!(may_send_to("::ffff:127.0.0.1".parse().unwrap(), &allowed));
        assert!(!may_send_to("10.0.0.1".parse().unwrap(), &allowed));
        assert!(parse_networks(&["10.0.0.0/33"]).is_err());
        assert_eq!(parse_networks(&["10.1.2.3/8"]).unwrap()[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("https://crm.example.com/hooks/livechat").is_ok());
        assert!(parse_url("ftp://crm.example.com/").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("not a url").is_err());
        assert_eq!(
            literal_address(&parse_url("http://127.0.0.1:8080/x").unwrap()),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(literal_address(&parse_url("http://[::1]/x").unwrap()), Some("::1".parse().unwrap()));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let s = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(s, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
    }
}
