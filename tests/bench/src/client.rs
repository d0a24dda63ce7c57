//! The protocol as a load generator speaks it: REST for setup, and
//! WebSocket connections whose reader records every delivery.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Clone)]
pub struct Rest {
    base: String,
    http: reqwest::Client,
}

impl Rest {
    pub fn new(base: &str) -> Self {
        Rest { base: format!("{}/api/v1", base.trim_end_matches('/')), http: reqwest::Client::new() }
    }

    async fn call(
        &self,
        m: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"username": username, "password": password});
        let (s, v) = self.call(reqwest::Method::POST, "/auth/login", None, Some(body)).await?;
        anyhow::ensure!(s == 200, "login {username}: {s} {v}");
        Ok(v["access_token"].as_str().unwrap_or_default().to_string())
    }

    /// Logs in as bench agent `i`, creating it the first time.
    pub async fn agent(&self, admin: &str, i: usize) -> anyhow::Result<String> {
        let username = format!("bench-agent-{i}");
        let body = json!({"username": username, "password": "bench-password", "name": format!("Agent {i}"), "group": "agent"});
        let (s, v) = self.call(reqwest::Method::POST, "/agents", Some(admin), Some(body)).await?;
        anyhow::ensure!(s == 201 || s == 409, "create {username}: {s} {v}");
        self.login(&username, "bench-password").await
    }

    /// (room id, visitor token)
    pub async fn room(&self, i: usize) -> anyhow::Result<(String, String)> {
        let body = json!({"name": format!("Visitor {i}")});
        let (s, v) = self.call(reqwest::Method::POST, "/rooms", None, Some(body)).await?;
        anyhow::ensure!(s == 201, "create room: {s} {v}");
        Ok((
            v["room"]["id"].as_str().unwrap_or_default().into(),
            v["visitor_token"].as_str().unwrap_or_default().into(),
        ))
    }

    /// Messages of a room sent by the bench (content starting "b|").
    pub async fn stored_bench_messages(&self, token: &str, room: &str) -> anyhow::Result<u64> {
        let mut after = 0;
        let mut n = 0;
        loop {
            let path = format!("/rooms/{room}/messages?after_seq={after}&limit=500");
            let (s, v) = self.call(reqwest::Method::GET, &path, Some(token), None).await?;
            anyhow::ensure!(s == 200, "history: {s} {v}");
            let page = v["messages"].as_array().cloned().unwrap_or_default();
            n += page.iter().filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("b|"))).count()
                as u64;
            match page.last() {
                Some(m) if v["has_more"] == true => after = m["seq"].as_u64().unwrap_or(after),
                _ => return Ok(n),
            }
        }
    }
}

/// Counters every connection adds to.
#[derive(Default)]
pub struct Totals {
    pub acked: AtomicU64,
    /// Accept frames acknowledged (the room is engaged).
    pub accepted: AtomicU64,
    pub delivered: AtomicU64,
    pub duplicated: AtomicU64,
    pub errors: Mutex<HashMap<String, u64>>,
    pub latency: Mutex<Option<Histogram<u64>>>,
    pub accept_latency: Mutex<Option<Histogram<u64>>>,
    /// Room id → when the bench created it (for accept latency).
    pub created: Mutex<HashMap<String, Instant>>,
    /// Flash crowd: every agent's sighting of every new room counts (and
    /// is timed), not only the first.
    pub every_sighting: std::sync::atomic::AtomicBool,
    /// `room_queued` frames agents received.
    pub queued_seen: AtomicU64,
    /// Connections the server ended before the bench stopped, by close code.
    pub ended_early: Mutex<HashMap<u16, u64>>,
}

impl Totals {
    pub fn new() -> Arc<Self> {
        let t = Totals::default();
        *t.latency.lock().expect("no holder of the totals panics") =
            Some(Histogram::new(3).expect("3 significant digits is a valid precision"));
        *t.accept_latency.lock().expect("no holder of the totals panics") =
            Some(Histogram::new(3).expect("3 significant digits is a valid precision"));
        Arc::new(t)
    }
}

/// One live WebSocket.
pub struct Conn {
    pub out: mpsc::Sender<String>,
    /// One permit per send the connection may still have unanswered; an
    /// ack or error gives it back. Senders that go as fast as possible wait
    /// on it (no polling); paced senders never take from it.
    pub window: Arc<Semaphore>,
    pub welcome: tokio::sync::oneshot::Receiver<Value>,
}

/// Sends a connection keeps unanswered when going as fast as possible.
pub const WINDOW: usize = 4;

/// A connection's read buffer: a few frames, like the ws-gateway's own.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The fields of a server frame the bench looks at, read without building
/// a JSON tree (the bench shares the machine with the server: its own CPU
/// per frame is CPU the server does not get).
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    req_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<FrameMessage<'a>>,
    #[serde(default, borrow)]
    room: Option<FrameRoom<'a>>,
}

#[derive(Deserialize)]
struct FrameMessage<'a> {
    #[serde(borrow)]
    room_id: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(borrow)]
    sender: FrameSender<'a>,
}

#[derive(Deserialize)]
struct FrameSender<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct FrameRoom<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The time base that message contents carry, so the receiver can tell the
/// end-to-end latency (same process, same clock).
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Connects and starts the reader and writer tasks. `kind` is "visitor" or
/// "agent": deliveries from the other kind count towards latency.
pub async fn connect(
    ws_base: &str,
    token: &str,
    kind: &'static str,
    totals: Arc<Totals>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Conn> {
    let url = format!("{}/ws?access_token={token}", ws_base.trim_end_matches('/'));
    // tungstenite zeroes its whole read buffer before every read: with the
    // default 128 KiB that memset was 40 % of the generator's CPU, taken
    // from the server it shares the machine with.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), false).await?;
    let (mut sink, mut stream) = socket.split();
    let (out, mut rx) = mpsc::channel::<String>(64);
    let window = Arc::new(Semaphore::new(WINDOW));
    let (welcome_tx, welcome) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if sink.send(Message::Text(f.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let answered = window.clone();
    tokio::spawn(async move {
        let mut welcome_tx = Some(welcome_tx);
        // Seqs seen per room: a second delivery of one is a duplicate.
        let mut seen: HashMap<String, HashSet<u64>> = HashMap::new();
        let mut stop = stop;
        loop {
            let frame = tokio::select! {
                f = stream.next() => f,
                _ = stop.changed() => break,
            };
            let Some(Ok(Message::Text(text))) = frame else {
                match frame {
                    Some(Ok(Message::Close(close))) => {
                        let code = close.map_or(1005, |c| u16::from(c.code));
                        *totals
                            .ended_early
                            .lock()
                            .expect("no holder of the totals panics")
                            .entry(code)
                            .or_default() += 1;
                        break;
                    }
                    Some(Ok(_)) => continue,
                    _ => {
                        *totals
                            .ended_early
                            .lock()
                            .expect("no holder of the totals panics")
                            .entry(1006)
                            .or_default() += 1;
                        break;
                    }
                }
            };
            let f = match serde_json::from_str::<Frame>(&text) {
                Ok(f) => f,
                // Frames whose `message` is a text (error, room_closed).
                Err(_) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if v["type"] == "error" {
                        let code = v["code"].as_str().unwrap_or("unknown").to_string();
                        *totals
                            .errors
                            .lock()
                            .expect("no holder of the totals panics")
                            .entry(code)
                            .or_default() += 1;
                        if v["req_id"].as_str().is_some_and(|r| r.starts_with('s')) {
                            answered.add_permits(1);
                        }
                    }
                    continue;
                }
            };
            match (f.kind.as_ref(), f.message) {
                ("welcome", _) => {
                    if let Some(tx) = welcome_tx.take() {
                        let _ = tx.send(serde_json::from_str(&text).unwrap_or(Value::Null));
                    }
                }
                ("message", Some(m)) => {
                    let fresh = match seen.get_mut(m.room_id.as_ref()) {
                        Some(seqs) => seqs.insert(m.seq),
                        None => {
                            seen.insert(m.room_id.to_string(), HashSet::from([m.seq]));
                            true
                        }
                    };
                    if !fresh {
                        totals.duplicated.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if m.sender.kind != kind && m.content.starts_with("b|") {
                        totals.delivered.fetch_add(1, Ordering::Relaxed);
                        if let Some(sent_ns) =
                            m.content.rsplit('|').next().and_then(|t| t.parse::<u64>().ok())
                        {
                            let now = epoch().elapsed().as_nanos() as u64;
                            let us = now.saturating_sub(sent_ns) / 1000;
                            if let Some(h) =
                                totals.latency.lock().expect("no holder of the totals panics").as_mut()
                            {
                                let _ = h.record(us.max(1));
                            }
                        }
                    }
                }
                ("ack", Some(_)) => {
                    totals.acked.fetch_add(1, Ordering::Relaxed);
                    answered.add_permits(1);
                }
                ("ack", None) if f.req_id.as_deref() == Some("a") => {
                    totals.accepted.fetch_add(1, Ordering::Relaxed);
                }
                ("room_queued", _) if totals.every_sighting.load(Ordering::Relaxed) => {
                    totals.queued_seen.fetch_add(1, Ordering::Relaxed);
                    if let Some(room) = f.room
                        && let Some(at) = totals
                            .created
                            .lock()
                            .expect("no holder of the totals panics")
                            .get(room.id.as_ref())
                            .copied()
                        && let Some(h) =
                            totals.accept_latency.lock().expect("no holder of the totals panics").as_mut()
                    {
                        let _ = h.record((at.elapsed().as_micros() as u64).max(1));
                    }
                }
                ("room_queued", _) => {
                    if let Some(room) = f.room
                        && let Some(at) = totals
                            .created
                            .lock()
                            .expect("no holder of the totals panics")
                            .remove(room.id.as_ref())
                        && let Some(h) =
                            totals.accept_latency.lock().expect("no holder of the totals panics").as_mut()
                    {
                        let _ = h.record((at.elapsed().as_micros() as u64).max(1));
                    }
                }
                _ => {}
            }
        }
    });
    Ok(Conn { out, window, welcome })
}

/// A send frame whose content carries the send time (last, after any
/// padding that makes the content `bytes` long).
pub fn send_frame(room: &str, conn: usize, n: u64, bytes: usize) -> String {
    let t = epoch().elapsed().as_nanos() as u64;
    let room = Value::from(room);
    let head = format!("b|{conn}|{n}|");
    let tail = format!("|{t}");
    let pad = "x".repeat(bytes.saturating_sub(head.len() + tail.len()));
    format!(
        r#"{{"type":"send","req_id":"s{n}","room_id":{room},"client_id":"c{conn}-{n}","content":"{head}{pad}{tail}"}}"#
    )
}

pub fn accept_frame(room: &str) -> String {
    json!({"type": "accept", "req_id": "a", "room_id": room}).to_string()
}

/// Waits for the welcome frame.
pub async fn welcomed(c: &mut Conn) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), &mut c.welcome).await??;
    Ok(())
}
