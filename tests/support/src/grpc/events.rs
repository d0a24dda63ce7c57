//! Event streams: `Subscribe` with its Snapshot read, and [`Events`], which
//! keeps the events a wait skipped for later waits; and small readers of
//! stored messages.

use std::collections::VecDeque;
use std::time::Duration;

use livechat_proto::v1 as pb;
use livechat_proto::v1::event::Kind;
use tokio::time::Instant;
use tonic::{Status, Streaming};

use super::{CoreApp, EVENT_TIMEOUT};

impl CoreApp {
    /// Subscribes and reads the first event, which must be the Snapshot.
    /// Everything that happens after this returns reaches the stream.
    pub async fn subscribe(&self, token: &str) -> Events {
        let mut stream =
            tokio::time::timeout(EVENT_TIMEOUT, self.events(token).subscribe(pb::SubscribeRequest {}))
                .await
                .expect("Subscribe did not answer within 10 s")
                .unwrap_or_else(|s| panic!("Subscribe failed: {s:?}"))
                .into_inner();
        let first = next_raw(&mut stream, EVENT_TIMEOUT).await;
        match first {
            Kind::Snapshot(snapshot) => Events { snapshot, stream, pending: VecDeque::new() },
            other => panic!("the first event of a subscription must be a Snapshot, got {other:?}"),
        }
    }

    /// Subscribes without reading anything: for calls expected to fail.
    pub async fn try_subscribe(&self, token: &str) -> Result<Streaming<pb::Event>, Status> {
        let mut stream = self.events(token).subscribe(pb::SubscribeRequest {}).await?.into_inner();
        // Some servers refuse on the first message rather than in the headers.
        match tokio::time::timeout(EVENT_TIMEOUT, stream.message()).await {
            Ok(Err(s)) => Err(s),
            _ => Ok(stream),
        }
    }
}

async fn next_raw(stream: &mut Streaming<pb::Event>, timeout: Duration) -> Kind {
    match tokio::time::timeout(timeout, stream.message()).await {
        Err(_) => panic!("no event within {timeout:?}"),
        Ok(Err(s)) => panic!("the event stream failed: {s:?}"),
        Ok(Ok(None)) => panic!("the event stream ended"),
        Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
        Ok(Ok(Some(pb::Event { kind: Some(k) }))) => k,
    }
}

/// The next event of a stream; fails the test after `timeout`.
pub async fn next_event(events: &mut Events, timeout: Duration) -> Kind {
    events.next(timeout).await
}

/// One subscription. Events a `wait_for` skipped stay pending for later ones,
/// so a test can wait for several events in whatever order they arrive.
pub struct Events {
    pub snapshot: pb::Snapshot,
    stream: Streaming<pb::Event>,
    pending: VecDeque<Kind>,
}

impl Events {
    /// The next event (pending ones first); fails after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Kind {
        if let Some(k) = self.pending.pop_front() {
            return k;
        }
        next_raw(&mut self.stream, timeout).await
    }

    /// The first event (pending or new) `f` picks, within EVENT_TIMEOUT.
    /// Events it does not pick stay pending.
    pub async fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&Kind) -> Option<T>) -> T {
        if let Some(i) = self.pending.iter().position(|k| f(k).is_some()) {
            let k = self.pending.remove(i).unwrap();
            return f(&k).unwrap();
        }
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = match tokio::time::timeout(left, self.stream.message()).await {
                Err(_) => {
                    panic!("waited {EVENT_TIMEOUT:?} for {what}; other events seen: {:#?}", self.pending)
                }
                Ok(Err(s)) => panic!("the event stream failed while waiting for {what}: {s:?}"),
                Ok(Ok(None)) => panic!("the event stream ended while waiting for {what}"),
                Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
                Ok(Ok(Some(pb::Event { kind: Some(k) }))) => k,
            };
            if let Some(v) = f(&got) {
                return v;
            }
            self.pending.push_back(got);
        }
    }

    /// Every event that arrives within `d` (pending ones included), taken.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<Kind> {
        let mut out: Vec<Kind> = self.pending.drain(..).collect();
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.message()).await {
                Err(_) => return out,
                Ok(Ok(Some(pb::Event { kind: Some(k) }))) => out.push(k),
                Ok(Ok(Some(pb::Event { kind: None }))) => panic!("an Event without a kind"),
                Ok(Ok(None)) => return out,
                Ok(Err(s)) => panic!("the event stream failed: {s:?}"),
            }
        }
    }

    /// The stored message with `seq` in `room_id`.
    pub async fn message(&mut self, room_id: &str, seq: u64) -> pb::Message {
        self.wait_for(&format!("MessageStored seq {seq} of room {room_id}"), |k| match k {
            Kind::Message(m) => m.message.as_ref().filter(|m| m.room_id == room_id && m.seq == seq).cloned(),
            _ => None,
        })
        .await
    }

    /// The MessageStored events of `room_id`, in arrival order, up to and
    /// including `last_seq`. Other events stay pending.
    pub async fn messages_through(&mut self, room_id: &str, last_seq: u64) -> Vec<pb::Message> {
        let mut out = Vec::new();
        loop {
            let m = self
                .wait_for(&format!("messages of {room_id} through seq {last_seq}"), |k| match k {
                    Kind::Message(m) => m.message.as_ref().filter(|m| m.room_id == room_id).cloned(),
                    _ => None,
                })
                .await;
            let seq = m.seq;
            out.push(m);
            if seq >= last_seq {
                return out;
            }
        }
    }

    /// The RoomQueued of `room_id`.
    pub async fn room_queued(&mut self, room_id: &str) -> pb::Room {
        self.wait_for(&format!("RoomQueued {room_id}"), |k| match k {
            Kind::RoomQueued(q) => q.room.as_ref().filter(|r| r.id == room_id).cloned(),
            _ => None,
        })
        .await
    }

    /// The RoomTaken of `room_id`.
    pub async fn room_taken(&mut self, room_id: &str) -> pb::RoomTaken {
        self.wait_for(&format!("RoomTaken {room_id}"), |k| match k {
            Kind::RoomTaken(t) if t.room_id == room_id => Some(t.clone()),
            _ => None,
        })
        .await
    }

    /// The first RoomUpdated of `room_id` with `status`.
    pub async fn room_updated(&mut self, room_id: &str, status: pb::RoomStatus) -> pb::Room {
        self.wait_for(&format!("RoomUpdated {room_id} to {status:?}"), |k| match k {
            Kind::RoomUpdated(u) => {
                u.room.as_ref().filter(|r| r.id == room_id && r.status() == status).cloned()
            }
            _ => None,
        })
        .await
    }

    /// The RoomClosed of `room_id`.
    pub async fn room_closed(&mut self, room_id: &str) -> pb::RoomClosed {
        self.wait_for(&format!("RoomClosed {room_id}"), |k| match k {
            Kind::RoomClosed(c) if c.room_id == room_id => Some(c.clone()),
            _ => None,
        })
        .await
    }
}

/// Seqs of a list of messages.
pub fn seqs(messages: &[pb::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// Who sent a message (Unspecified when it has no sender).
pub fn sender_kind(m: &pb::Message) -> pb::SenderKind {
    m.sender.as_ref().map(|s| s.kind()).unwrap_or(pb::SenderKind::Unspecified)
}

/// The id of whoever sent a message ("" when it has no sender).
pub fn sender_id(m: &pb::Message) -> String {
    m.sender.as_ref().map(|s| s.id.clone()).unwrap_or_default()
}
