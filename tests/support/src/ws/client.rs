//! [`WsClient`]: a WebSocket client that speaks docs/protocol.md "WebSocket" and
//! keeps the frames it read but was not asked for yet in a buffer, so a
//! test can wait for one kind of frame (an ack, a `room_queued`) without
//! losing the events that arrived around it.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Ended, FRAME_TIMEOUT, frame_type};
use crate::shapes::seqs;

/// One WebSocket connection under test, with the frames not yet taken.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read but not yet taken, oldest first.
    buffered: VecDeque<Value>,
    next_req: u64,
    /// Every frame read from the socket, in order (for failure messages).
    pub log: Vec<Value>,
    /// WebSocket pings received from the server.
    pub pings: usize,
}

/// One line per frame: its type and what it is about.
pub fn brief(frames: &[Value]) -> String {
    frames
        .iter()
        .map(|f| {
            let room = f["room_id"]
                .as_str()
                .or(f["room"]["id"].as_str())
                .or(f["message"]["room_id"].as_str())
                .unwrap_or("");
            let short = &room[room.len().saturating_sub(6)..];
            let extra = match frame_type(f) {
                "message" => format!(" seq {}", f["message"]["seq"]),
                "history" => format!(" seqs {:?}", seqs(f)),
                "ack" | "error" | "pong" => format!(" req {} {}", f["req_id"], f["code"]),
                "room_updated" => format!(" {}", f["room"]["status"]),
                _ => String::new(),
            };
            format!("  {} {short}{extra}", frame_type(f))
        })
        .fold(Vec::<(String, usize)>::new(), |mut runs, line| {
            match runs.last_mut() {
                Some((l, n)) if *l == line => *n += 1,
                _ => runs.push((line, 1)),
            }
            runs
        })
        .into_iter()
        .map(|(line, n)| if n > 1 { format!("{line} (x{n})\n") } else { format!("{line}\n") })
        .collect()
}

impl WsClient {
    pub(super) fn new(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws, buffered: VecDeque::new(), next_req: 0, log: Vec::new(), pings: 0 }
    }

    /// Sends a text frame as is (malformed ones included).
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::Text(text.into().into())).await.expect("send a WebSocket frame");
    }

    /// Sends `frame` as a text frame, without waiting for an answer.
    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// The next frame from the socket itself (not the buffer), skipping
    /// WebSocket pings and pongs. `Err` when the connection ended; `Ok(None)`
    /// when nothing came within `wait`.
    async fn read_socket(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        let deadline = Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(n) => n,
            };
            match next {
                None => return Err(Ended::Dropped("stream ended".into())),
                Some(Err(e)) => return Err(Ended::Dropped(e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                        panic!("the server sent a text frame that is not JSON ({e}): {t}")
                    });
                    assert!(v["type"].is_string(), "a server frame without a type: {v}");
                    if self.log.len() < 10_000 {
                        self.log.push(v.clone());
                    }
                    return Ok(Some(v));
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(Ended::Closed(f.map(|f: CloseFrame| u16::from(f.code))));
                }
                Some(Ok(Message::Binary(b))) => panic!("the server sent a binary frame: {b:?}"),
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(_)) => continue, // pong
            }
        }
    }

    /// The next frame (buffered ones first); fails the test after 10 s or
    /// when the connection ends.
    pub async fn next_frame(&mut self) -> Value {
        self.next_frame_within(FRAME_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no frame within {FRAME_TIMEOUT:?}"))
    }

    /// The next frame if one comes within `wait`.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(f) = self.buffered.pop_front() {
            return Some(f);
        }
        match self.read_socket(wait).await {
            Ok(f) => f,
            Err(e) => panic!("the connection ended while a frame was expected: {e:?}"),
        }
    }

    /// The next frame within `wait` (None: none came), or how the
    /// connection ended, for tests that expect it to end at some point.
    pub async fn next_or_end(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        if let Some(f) = self.buffered.pop_front() {
            return Ok(Some(f));
        }
        self.read_socket(wait).await
    }

    /// The next frame, asserted to be of type `t`.
    pub async fn expect_type(&mut self, t: &str) -> Value {
        let f = self.next_frame().await;
        assert_eq!(frame_type(&f), t, "expected a `{t}` frame next, got {f}");
        f
    }

    /// The first frame (buffered or new) that `matches`; frames before it
    /// stay buffered for later. Fails the test after 10 s.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.buffered.iter().position(&matches) {
            return self.buffered.remove(i).unwrap();
        }
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_socket(left).await {
                Ok(Some(f)) if matches(&f) => return f,
                Ok(Some(f)) => self.buffered.push_back(f),
                Ok(None) => {
                    let buffered: Vec<Value> = self.buffered.iter().cloned().collect();
                    panic!(
                        "no {what} within {FRAME_TIMEOUT:?}; frames meanwhile:\n{}every frame of this connection:\n{}",
                        brief(&buffered),
                        brief(&self.log)
                    )
                }
                Err(e) => panic!(
                    "the connection ended ({e:?}) while waiting for {what}; every frame of this connection:\n{}",
                    brief(&self.log)
                ),
            }
        }
    }

    /// The first frame of type `t`, others kept buffered.
    pub async fn wait_for_type(&mut self, t: &str) -> Value {
        self.wait_for(&format!("a `{t}` frame"), |f| frame_type(f) == t).await
    }

    /// Sends `frame` with a fresh `req_id` (unless it has one) and returns
    /// the answer to it: an `ack`, an `error` or a `pong`. Events that come
    /// in between stay buffered.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let req_id = match frame.get("req_id").and_then(Value::as_str) {
            Some(r) => r.to_string(),
            None => {
                self.next_req += 1;
                let r = format!("r{}", self.next_req);
                frame["req_id"] = json!(r);
                r
            }
        };
        self.send_json(frame.clone()).await;

        self.wait_for(&format!("an answer to {frame}"), |f| {
            matches!(frame_type(f), "ack" | "error" | "pong") && f["req_id"] == req_id.as_str()
        })
        .await
    }

    /// `request`, asserting an `ack`.
    pub async fn ack(&mut self, frame: Value) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(frame_type(&answer), "ack", "{frame} was answered with {answer}");
        answer
    }

    /// `request`, asserting an `error` with `code`.
    pub async fn refused(&mut self, frame: Value, code: &str) -> Value {
        let answer = self.request(frame.clone()).await;
        assert_eq!(frame_type(&answer), "error", "{frame} should be refused, got {answer}");
        assert_eq!(answer["code"], code, "{frame} was refused with {answer}");
        answer
    }

    /// Reads for `wait` and fails if a frame of type `t` is (or was)
    /// received; everything else stays buffered.
    pub async fn assert_no_frame_of_type(&mut self, t: &str, wait: Duration) {
        if let Some(f) = self.buffered.iter().find(|f| frame_type(f) == t) {
            panic!("unexpected `{t}` frame: {f}");
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.read_socket(left).await {
                Ok(Some(f)) if frame_type(&f) == t => panic!("unexpected `{t}` frame: {f}"),
                Ok(Some(f)) => self.buffered.push_back(f),
                Ok(None) => return,
                Err(e) => panic!("the connection ended ({e:?}) while it should have stayed open"),
            }
        }
    }

    /// Frames buffered so far (not taken by a wait).
    pub fn buffered(&self) -> Vec<Value> {
        self.buffered.iter().cloned().collect()
    }

    /// Takes every buffered frame that `matches`, in order.
    pub fn take_buffered(&mut self, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (take, keep): (Vec<Value>, Vec<Value>) = self.buffered.drain(..).partition(|f| matches(f));
        self.buffered = keep.into();
        take
    }

    /// `n` `message` events of `room_id` (buffered ones first), in the order
    /// they arrived; other frames stay buffered.
    pub async fn messages(&mut self, room_id: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let f = self
                .wait_for(&format!("message {} of {n} in room {room_id}", out.len() + 1), |f| {
                    frame_type(f) == "message" && f["message"]["room_id"] == room_id
                })
                .await;
            out.push(f["message"].clone());
        }
        out
    }

    /// Reads until the connection ends (discarding frames) and says how;
    /// fails the test if it is still open after `wait`.
    pub async fn expect_end(&mut self, wait: Duration) -> Ended {
        self.read_until_end(wait).await.1
    }

    /// Every frame until the connection ends (buffered ones first), and how
    /// it ended; fails the test if it is still open after `wait`.
    pub async fn read_until_end(&mut self, wait: Duration) -> (Vec<Value>, Ended) {
        let mut frames: Vec<Value> = self.buffered.drain(..).collect();
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_socket(left).await {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    panic!("the connection is still open after {wait:?} ({} frames read)", frames.len())
                }
                Err(e) => return (frames, e),
            }
        }
    }

    /// Closes the connection from this side (a normal close).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Read until the server's close answer so that it has seen ours.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// The underlying stream, for tests that need to stop reading.
    pub fn inner(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }
}
