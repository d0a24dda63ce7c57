//! The JSON frames of docs/protocol.md "WebSocket": what clients send (parsed
//! strictly, with a clear `invalid` error naming what is wrong) and what
//! the server sends, built from the core's protobuf events.

use livechat_proto::{ErrorCode, Failure, json, v1 as pb};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A client frame, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Accept {
        room_id: String,
    },
    Decline {
        room_id: String,
    },
    Send {
        room_id: String,
        content: String,
        client_id: Option<String>,
    },
    Typing {
        room_id: String,
        typing: bool,
    },
    History {
        room_id: String,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    },
    Close {
        room_id: String,
        message: Option<String>,
    },
    Transfer {
        room_id: String,
        agent_id: Option<String>,
    },
    /// An agent sets themselves online or away.
    Presence {
        status: json::ChosenStatus,
    },
    /// An agent reads the team's presence and load.
    Team {},
    /// An agent reads a room's visitor details.
    Visitor {
        room_id: String,
    },
    /// An agent writes a private note (agents only).
    Note {
        room_id: String,
        content: String,
    },
    /// An agent reads a room's notes.
    Notes {
        room_id: String,
    },
    /// The visitor rates their ended chat.
    Rate {
        room_id: String,
        score: u32,
        comment: Option<String>,
    },
    Ping {},
}

/// Why a client frame could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    pub req_id: Option<String>,
    pub message: String,
}

/// Parses one text frame; the req_id is kept even when the rest is bad, so
/// that the error can answer it.
pub fn parse(text: &str) -> Result<(Option<String>, ClientFrame), BadFrame> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| BadFrame { req_id: None, message: format!("not valid JSON: {e}") })?;
    let req_id = match value.get("req_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 128 => Some(s.clone()),
        Some(_) => {
            return Err(BadFrame {
                req_id: None,
                message: "req_id must be a string of at most 128 characters".into(),
            });
        }
    };
    if !value.is_object() {
        return Err(BadFrame { req_id, message: "a frame must be a JSON object".into() });
    }
    match value.get("type") {
        Some(Value::String(_)) => {}
        _ => {
            return Err(BadFrame { req_id, message: "missing field `type`".into() });
        }
    }
    match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => Ok((req_id, frame)),
        Err(e) => Err(BadFrame { req_id, message: e.to_string() }),
    }
}

/// What an ack carries next to its req_id, per the frame it answers.
/// Typed rather than a JSON map so that an ack is written straight from
/// the core's answer, without building a tree of values first.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AckResult {
    /// decline, typing.
    Nothing {},
    /// accept, close, transfer.
    Room { room: json::Room },
    /// send.
    Message { message: json::Message },
    /// history.
    History { messages: Vec<json::Message>, has_more: bool },
    /// presence: the caller's own team entry.
    Agent { agent: json::TeamMember },
    /// team.
    Team { agents: Vec<json::TeamMember> },
    /// visitor.
    Visitor { visitor: json::VisitorDetails },
    /// note.
    Note { note: json::Note },
    /// notes.
    Notes { notes: Vec<json::Note> },
    /// rate.
    Rating { rating: json::Rating },
}

/// Who a typing indicator comes from (no id: the other side needs none).
#[derive(Debug, Clone, Serialize)]
pub struct TypingFrom {
    pub kind: String,
    pub name: String,
}

/// A frame the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        role: String,
        user: json::Person,
        rooms: Vec<json::Room>,
        queue: Vec<json::Room>,
    },
    History {
        room_id: String,
        messages: Vec<json::Message>,
        has_more: bool,
    },
    Ack {
        req_id: Option<String>,
        #[serde(flatten)]
        result: AckResult,
    },
    Error {
        req_id: Option<String>,
        code: ErrorCode,
        message: String,
        /// With `rate_limited`: how long to wait before trying again.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong {
        req_id: Option<String>,
    },
    RoomQueued {
        room: json::Room,
    },
    RoomTaken {
        room_id: String,
        agent: json::Person,
    },
    Message {
        message: json::Message,
    },
    Typing {
        room_id: String,
        from: TypingFrom,
        typing: bool,
    },
    RoomUpdated {
        room: json::Room,
    },
    Note {
        note: json::Note,
    },
    RoomClosed {
        room_id: String,
        reason: String,
        message: String,
    },
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }

    pub fn ack(req_id: Option<String>, result: AckResult) -> Self {
        Self::Ack { req_id, result }
    }

    pub fn error(req_id: Option<String>, status: &tonic::Status) -> Self {
        let d = Failure::from_status(status);
        let mut message = d.message;
        if !d.errors.is_empty() {
            let fields: Vec<String> =
                d.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            message = format!("{message} ({})", fields.join("; "));
        }
        Self::Error {
            req_id,
            code: d.code,
            message,
            retry_after_ms: d.retry_after_secs.map(|s| u64::from(s) * 1000),
        }
    }

    pub fn invalid(req_id: Option<String>, message: impl Into<String>) -> Self {
        Self::Error { req_id, code: ErrorCode::Invalid, message: message.into(), retry_after_ms: None }
    }

    /// Over a per-connection limit: try again after `wait`.
    pub fn rate_limited(req_id: Option<String>, wait: std::time::Duration) -> Self {
        let ms = (wait.as_millis() as u64).max(1);
        Self::Error {
            req_id,
            code: ErrorCode::RateLimited,
            message: format!("too many frames; try again in {ms} ms"),
            retry_after_ms: Some(ms),
        }
    }
}

/// The welcome frame for the core's snapshot.
pub fn welcome(s: pb::Snapshot) -> ServerFrame {
    ServerFrame::Welcome {
        role: s.role,
        user: s
            .user
            .map(json::Person::from)
            .unwrap_or(json::Person { id: String::new(), name: String::new() }),
        rooms: s.rooms.into_iter().map(json::Room::from).collect(),
        queue: s.queue.into_iter().map(json::Room::from).collect(),
    }
}

/// The frame for a live event; None for the snapshot (handled apart) and
/// for empty events.
pub fn event(kind: pb::event::Kind) -> Option<ServerFrame> {
    use pb::event::Kind;
    Some(match kind {
        Kind::Snapshot(_) => return None,
        Kind::RoomQueued(e) => ServerFrame::RoomQueued { room: e.room?.into() },
        Kind::RoomTaken(e) => ServerFrame::RoomTaken { room_id: e.room_id, agent: e.agent?.into() },
        Kind::Message(e) => ServerFrame::Message { message: e.message?.into() },
        Kind::Note(e) => ServerFrame::Note { note: e.note?.into() },
        Kind::Typing(e) => {
            let from = e.from?;
            ServerFrame::Typing {
                room_id: e.room_id,
                from: TypingFrom { kind: json::sender_kind_name(from.kind).into(), name: from.name },
                typing: e.typing,
            }
        }
        Kind::RoomUpdated(e) => ServerFrame::RoomUpdated { room: e.room?.into() },
        Kind::RoomClosed(e) => {
            ServerFrame::RoomClosed { room_id: e.room_id, reason: e.reason, message: e.message }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_frame_parses_with_its_req_id() {
        let (req, f) = parse(r#"{"type":"send","req_id":"r1","room_id":"x","content":"hi"}"#).unwrap();
        assert_eq!(req.as_deref(), Some("r1"));
        assert_eq!(f, ClientFrame::Send { room_id: "x".into(), content: "hi".into(), client_id: None });
    }

    #[test]
    fn a_missing_field_is_named_and_the_req_id_kept() {
        let e = parse(r#"{"type":"send","req_id":"r2","room_id":"x"}"#).unwrap_err();
        assert_eq!(e.req_id.as_deref(), Some("r2"));
        assert!(e.message.contains("content"), "{}", e.message);
    }

    #[test]
    fn unknown_types_and_garbage_are_refused() {
        assert!(parse(r#"{"type":"dance"}"#).unwrap_err().message.contains("dance"));
        assert!(parse("not json").is_err());
        assert!(parse(r#"[1,2]"#).is_err());
        assert!(parse(r#"{"room_id":"x"}"#).unwrap_err().message.contains("type"));
    }

    #[test]
    fn a_ping_needs_nothing_else() {
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap().1, ClientFrame::Ping {});
    }

    #[test]
    fn acks_flatten_their_result_next_to_the_req_id() {
        let f = ServerFrame::ack(Some("r".into()), AckResult::History { messages: vec![], has_more: false });
        let v: Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"type": "ack", "req_id": "r", "messages": [], "has_more": false}));
        let f = ServerFrame::ack(None, AckResult::Nothing {});
        let v: Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"type": "ack", "req_id": null}));
    }
}

/// Property tests: whatever a client sends, parsing answers (never panics),
/// and a string `req_id` within bounds is echoed back either way.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const TYPES: [&str; 10] =
        ["accept", "decline", "send", "typing", "history", "close", "transfer", "ping", "nope", ""];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,40}".prop_map(Value::from),
            prop::collection::vec(".{0,8}", 0..3).prop_map(|v| json!(v)),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "room_id",
                "content",
                "client_id",
                "typing",
                "before_seq",
                "after_seq",
                "limit",
                "message",
                "agent_id"
            ])
            .prop_map(str::to_string),
            "[a-z_]{1,12}",
        ]
    }

    fn frame() -> impl Strategy<Value = Value> {
        (prop::sample::select(TYPES.to_vec()), prop::collection::btree_map(field(), leaf(), 0..6), leaf())
            .prop_map(|(t, fields, req_id)| {
                let mut f = serde_json::Map::from_iter(fields);
                f.insert("type".into(), json!(t));
                f.insert("req_id".into(), req_id);
                Value::Object(f)
            })
    }

    proptest! {
        #[test]
        fn any_text_gets_an_answer(text in ".{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn any_frame_shaped_json_gets_an_answer_that_keeps_its_req_id(f in frame()) {
            let text = f.to_string();
            let echoed = match parse(&text) {
                Ok((req_id, _)) => req_id,
                Err(bad) => bad.req_id,
            };
            match &f["req_id"] {
                Value::String(s) if s.chars().count() <= 128 => prop_assert_eq!(echoed.as_deref(), Some(s.as_str())),
                _ => prop_assert_eq!(echoed, None),
            }
        }
    }
}

/// The seed corpus in `fuzz-corpus/frames`: frames an adversarial run sent
/// (NUL, lone surrogates, deep nesting, huge numbers, duplicate keys…),
/// kept so that every run replays them.
#[cfg(test)]
mod corpus {
    use super::*;

    #[test]
    fn every_frame_of_the_corpus_gets_an_answer() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz-corpus/frames");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            match parse(&text) {
                Ok(_) => {}
                Err(bad) => assert!(!bad.message.is_empty(), "a refusal says why"),
            }
            seen += 1;
        }
        assert!(seen >= 10, "the corpus is there: {seen} files");
    }
}
