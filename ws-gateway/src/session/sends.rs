//! Sends in flight on one connection. A client may send in several rooms
//! without waiting for each ack (an agent answering many visitors at once),
//! and the session goes on reading frames and delivering events while the
//! core stores them. A room's sends are started in the order the client
//! sent them, each once the one before was answered, so their seqs keep
//! that order; different rooms' run at once. Any other request waits until
//! every send before it was answered (`Session::finish_sends`), so that,
//! say, a close after a send closes the room after the message is in (a
//! ping, or a frame refused before any call, is answered at once).
//!
//! The calls are futures, which do nothing until polled: a send whose room
//! is busy waits here as its unstarted call. An idle connection that never
//! sent pays for one empty pointer.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tonic::Status;

use super::socket::Closing;
use crate::frames::AckResult;

/// Sends a connection may have unanswered. Past it the session reads no
/// more of the client's frames until one is answered, so a client that
/// pipelines without limit is slowed down by TCP, not buffered here.
pub(super) const MAX_UNANSWERED: usize = 32;

/// A send's call to the core, boxed (it is as large as a whole call), with
/// a panic in it already turned into the connection's 1011 close.
pub(super) type Call = Pin<Box<dyn Future<Output = Answered> + Send>>;

/// What the core answered to one send.
pub(super) struct Answered {
    pub req_id: Option<String>,
    pub room_id: String,
    pub result: Result<Result<AckResult, Status>, Closing>,
}

/// A connection's unanswered sends (none, without allocating, until the
/// first).
#[derive(Default)]
pub(super) struct Sends(Option<Box<InFlight>>);

#[derive(Default)]
struct InFlight {
    running: FuturesUnordered<Call>,
    /// The rooms of `running`: one send each.
    busy: Vec<String>,
    /// Sends whose room had one running, in the order they came.
    waiting: VecDeque<(String, Call)>,
}

impl Sends {
    pub fn unanswered(&self) -> usize {
        self.0.as_ref().map_or(0, |f| f.running.len() + f.waiting.len())
    }

    pub fn is_empty(&self) -> bool {
        self.unanswered() == 0
    }

    /// Whether the session may read another frame.
    pub fn has_room(&self) -> bool {
        self.unanswered() < MAX_UNANSWERED
    }

    /// Starts the send now, or after its room's earlier sends.
    pub fn start(&mut self, room_id: String, call: Call) {
        let f = self.0.get_or_insert_with(Default::default);
        if f.busy.contains(&room_id) {
            f.waiting.push_back((room_id, call));
        } else {
            f.busy.push(room_id);
            f.running.push(call);
        }
    }

    /// The next send answered (None: there is none), and its room's next
    /// send started. Cancel-safe: an unfinished call stays where it was.
    pub async fn next(&mut self) -> Option<Answered> {
        let f = self.0.as_mut()?;
        // Nothing waits while nothing runs: a waiting send's room is busy.
        let answered = f.running.next().await?;
        if let Some(i) = f.busy.iter().position(|r| *r == answered.room_id) {
            f.busy.swap_remove(i);
        }
        if let Some(i) = f.waiting.iter().position(|(r, _)| *r == answered.room_id)
            && let Some((room_id, call)) = f.waiting.remove(i)
        {
            f.busy.push(room_id);
            f.running.push(call);
        }
        Some(answered)
    }

    /// Forgets the sends that have not started (the client is gone: no
    /// one would read their acks, and nothing of them reached the core).
    pub fn drop_waiting(&mut self) {
        if let Some(f) = self.0.as_mut() {
            f.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;

    /// A send whose call finishes when the test says so, and notes when it
    /// started.
    fn call(room: &str, n: u32, started: &Arc<Mutex<Vec<u32>>>) -> (Call, oneshot::Sender<()>) {
        let (done, wait) = oneshot::channel();
        let (room, started) = (room.to_string(), started.clone());
        let call = Box::pin(async move {
            started.lock().unwrap().push(n);
            let _ = wait.await;
            Answered { req_id: Some(n.to_string()), room_id: room, result: Ok(Ok(AckResult::Nothing {})) }
        });
        (call, done)
    }

    #[tokio::test]
    async fn a_rooms_sends_run_one_after_another_and_other_rooms_beside_them() {
        let started = Arc::new(Mutex::new(Vec::new()));
        let mut sends = Sends::default();
        assert!(sends.is_empty() && sends.0.is_none(), "nothing allocated before the first send");
        let (a1, done_a1) = call("a", 1, &started);
        let (a2, done_a2) = call("a", 2, &started);
        let (b3, done_b3) = call("b", 3, &started);
        sends.start("a".into(), a1);
        sends.start("a".into(), a2);
        sends.start("b".into(), b3);
        assert_eq!(sends.unanswered(), 3);

        // b's send is answered while a's first is still out; a's second
        // has not started.
        done_b3.send(()).unwrap();
        let first = sends.next().await.unwrap();
        assert_eq!(first.req_id.as_deref(), Some("3"));
        let mut so_far = started.lock().unwrap().clone();
        so_far.sort_unstable();
        assert_eq!(so_far, [1, 3], "a's second waits for its first");

        done_a1.send(()).unwrap();
        assert_eq!(sends.next().await.unwrap().req_id.as_deref(), Some("1"));
        done_a2.send(()).unwrap();
        assert_eq!(sends.next().await.unwrap().req_id.as_deref(), Some("2"));
        assert_eq!(started.lock().unwrap()[2], 2, "a's second started after its first");
        assert!(sends.is_empty());
        assert!(sends.next().await.is_none());
    }

    #[tokio::test]
    async fn past_the_limit_no_more_frames_are_read_and_a_gone_client_drops_what_never_started() {
        let started = Arc::new(Mutex::new(Vec::new()));
        let mut sends = Sends::default();
        let mut dones = Vec::new();
        for n in 0..MAX_UNANSWERED as u32 {
            assert!(sends.has_room());
            let (c, done) = call("a", n, &started);
            sends.start("a".into(), c);
            dones.push(done);
        }
        assert!(!sends.has_room());
        sends.drop_waiting();
        assert_eq!(sends.unanswered(), 1, "the running send stays until answered");
        dones.remove(0).send(()).unwrap();
        assert_eq!(sends.next().await.unwrap().req_id.as_deref(), Some("0"));
        assert!(sends.is_empty() && sends.has_room());
    }
}
