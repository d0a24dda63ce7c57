//! A webhook delivery's JSON body: the event's type, its id (also the
//! idempotency id) and time, and its subject in the JSON shapes of
//! docs/protocol.md (a Room, a Message, a Rating), so that an integration
//! parses what the REST API returns.

use livechat_proto::json;
use serde_json::{Value, json};

use crate::domain::Millis;
use crate::domain::webhook::{Occurrence, Subject};

/// The `data` of an occurrence: the same for every endpoint it goes to.
pub fn data(o: &Occurrence) -> Value {
    match &o.subject {
        Subject::Room(r) => json!({ "room": json::Room::from(super::room(r.clone())) }),
        Subject::Message(m) => {
            json!({ "room_id": m.room_id, "message": json::Message::from(super::message(m.clone())) })
        }
        Subject::Rating { room_id, rating } => {
            json!({ "room_id": room_id, "rating": json::Rating::from(super::rating(rating.clone())) })
        }
        Subject::Ping { webhook_id } => json!({ "webhook_id": webhook_id }),
    }
}

/// One delivery's body.
pub fn body(delivery_id: &str, topic: &str, at: Millis, data: &Value) -> String {
    json!({ "id": delivery_id, "type": topic, "created_at": json::time(at), "data": data }).to_string()
}
