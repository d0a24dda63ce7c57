//! docs/protocol.md's JSON shapes, as REST and WebSocket answers carry them:
//! Room and Message objects, protocol times, and the seqs and ids tests
//! compare.

use serde_json::Value;

/// `2026-11-23T10:00:00.123Z`: UTC, exactly three fractional digits and a Z.
pub fn is_protocol_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> =
        v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect();
    k.sort();
    k
}

/// Asserts that `v` is an object with exactly these keys.
#[track_caller]
pub fn assert_keys(v: &Value, expected: &[&str]) {
    let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    e.sort();
    assert_eq!(keys(v), e, "fields of {v}");
}

/// A docs/protocol.md Room object.
#[track_caller]
pub fn assert_room_shape(room: &Value) {
    assert_keys(
        room,
        &[
            "id",
            "status",
            "channel",
            "visitor",
            "agent",
            "subject",
            "created_at",
            "last_message_at",
            "last_seq",
        ],
    );
    assert!(room["id"].as_str().is_some_and(|s| !s.is_empty()), "room id: {room}");
    assert!(
        ["queued", "engaged", "closed", "expired"].contains(&room["status"].as_str().unwrap_or("")),
        "room status: {room}"
    );
    assert!(
        ["web", "telegram", "messenger", "wechat"].contains(&room["channel"].as_str().unwrap_or("")),
        "room channel: {room}"
    );
    assert_keys(&room["visitor"], &["id", "name"]);
    if !room["agent"].is_null() {
        assert_keys(&room["agent"], &["id", "name"]);
    }
    assert!(room["subject"].is_null() || room["subject"].is_string(), "subject: {room}");
    for t in ["created_at", "last_message_at"] {
        assert!(
            room[t].as_str().is_some_and(is_protocol_time),
            "{t} is not an RFC 3339 UTC time with milliseconds: {room}"
        );
    }
    assert!(room["last_seq"].is_u64(), "last_seq: {room}");
}

/// A docs/protocol.md Message object.
#[track_caller]
pub fn assert_message_shape(m: &Value) {
    assert_keys(m, &["id", "room_id", "seq", "sender", "content", "created_at", "client_id"]);
    assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()), "message id: {m}");
    assert!(m["seq"].as_u64().is_some_and(|s| s >= 1), "seq: {m}");
    assert_keys(&m["sender"], &["kind", "id", "name"]);
    assert!(
        ["visitor", "agent", "system"].contains(&m["sender"]["kind"].as_str().unwrap_or("")),
        "sender kind: {m}"
    );
    assert!(m["content"].is_string(), "content: {m}");
    assert!(m["created_at"].as_str().is_some_and(is_protocol_time), "created_at: {m}");
    assert!(m["client_id"].is_null() || m["client_id"].is_string(), "client_id: {m}");
}

/// The seqs of a list of messages.
pub fn seqs_of(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {m}"))).collect()
}

/// The seqs of a REST page's or a frame's `messages` array.
pub fn seqs(page: &Value) -> Vec<u64> {
    seqs_of(page["messages"].as_array().unwrap_or_else(|| panic!("no messages array: {page}")))
}

/// The ids of an array of rooms.
pub fn ids(rooms: &Value) -> Vec<String> {
    rooms
        .as_array()
        .unwrap_or_else(|| panic!("not an array of rooms: {rooms}"))
        .iter()
        .map(|r| r["id"].as_str().expect("room id").to_string())
        .collect()
}

/// The ids of a `{"rooms":[…]}` list.
pub fn room_ids(list: &Value) -> Vec<String> {
    assert!(list["rooms"].is_array(), "no rooms array: {list}");
    ids(&list["rooms"])
}

#[test]
fn protocol_times_are_recognised() {
    assert!(is_protocol_time("2026-11-23T10:00:00.123Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00.123456Z"));
    assert!(!is_protocol_time("2026-11-23T10:00:00.123+00:00"));
}
