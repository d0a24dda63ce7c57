//! Clients that speak the protocol: REST calls and a WebSocket that keeps
//! every message it sees, so that scenarios can check "each once, in order".

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub struct Rest {
    pub base: String,
    pub http: reqwest::Client,
}

impl Rest {
    pub fn new(base: String) -> Self {
        Rest { base, http: reqwest::Client::new() }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("http-gateway answers");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(s, 200, "login {username}: {v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    pub async fn agent(&self, admin: &str, username: &str) -> String {
        let body =
            json!({"username": username, "password": "agent-password", "name": username, "group": "agent"});
        let (s, v) = self.call(reqwest::Method::POST, "/agents", Some(admin), Some(body)).await;
        assert_eq!(s, 201, "create agent: {v}");
        self.login(username, "agent-password").await
    }

    /// A visitor's room: (room id, visitor token).
    pub async fn room(&self, name: &str) -> (String, String) {
        let (s, v) = self
            .call(reqwest::Method::POST, "/rooms", None, Some(json!({"name": name, "message": "hello"})))
            .await;
        assert_eq!(s, 201, "create room: {v}");
        (v["room"]["id"].as_str().unwrap().into(), v["visitor_token"].as_str().unwrap().into())
    }

    pub async fn history(&self, token: &str, room: &str) -> Vec<Value> {
        let (s, v) = self
            .call(reqwest::Method::GET, &format!("/rooms/{room}/messages?limit=500"), Some(token), None)
            .await;
        assert_eq!(s, 200, "history: {v}");
        v["messages"].as_array().unwrap().clone()
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client that records messages by seq.
pub struct Live {
    url: String,
    socket: Option<Socket>,
    next_req: u64,
    /// seq -> content, for one room, from `message` events and history.
    pub seen: BTreeMap<u64, String>,
    /// How many `message` events arrived per seq (must stay 1 per connection).
    pub deliveries: BTreeMap<u64, u32>,
    pub room: String,
    /// WebSocket connections opened (1 unless the client had to reconnect).
    pub connections: u32,
}

impl Live {
    pub async fn connect(url: String, room: &str) -> Live {
        let mut l = Live {
            url,
            socket: None,
            next_req: 0,
            seen: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            room: room.into(),
            connections: 0,
        };
        l.reconnect().await;
        l
    }

    /// (Re)connects; after a reconnect fills the gap with history after_seq.
    pub async fn reconnect(&mut self) {
        let mut last_err = None;
        for _ in 0..100 {
            match tokio_tungstenite::connect_async(&self.url).await {
                Ok((s, _)) => {
                    self.socket = Some(s);
                    self.connections += 1;
                    self.deliveries.clear();
                    // Resume after the last seq held without a hole before it: an
                    // acked send of our own may be newer than what we missed.
                    let after = self.contiguous();
                    let ack = self.request(json!({"type": "history", "room_id": self.room, "after_seq": after, "limit": 500})).await;
                    self.record_all(&ack["messages"]);
                    return;
                }
                Err(e) => last_err = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot connect to {}: {last_err:?}", self.url);
    }

    /// Reconnects (filling the gap) if the last connection ended.
    pub async fn ensure_connected(&mut self) {
        if self.socket.is_none() {
            self.reconnect().await;
        }
    }

    /// The highest n such that every seq 1..=n is held.
    pub fn contiguous(&self) -> u64 {
        let mut n = 0;
        while self.seen.contains_key(&(n + 1)) {
            n += 1;
        }
        n
    }

    fn record_all(&mut self, messages: &Value) {
        for m in messages.as_array().into_iter().flatten() {
            if m["room_id"] == self.room.as_str() {
                self.seen.insert(m["seq"].as_u64().unwrap(), m["content"].as_str().unwrap().into());
            }
        }
    }

    /// Handles one frame; Err when the socket ended.
    async fn pump_one(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        let socket = self.socket.as_mut().ok_or(())?;
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => Ok(None),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                self.socket = None;
                Err(())
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "message" && v["message"]["room_id"] == self.room.as_str() {
                    let seq = v["message"]["seq"].as_u64().unwrap();
                    *self.deliveries.entry(seq).or_default() += 1;
                    self.seen.insert(seq, v["message"]["content"].as_str().unwrap().into());
                }
                if v["type"] == "history" && v["room_id"] == self.room.as_str() {
                    self.record_all(&v["messages"]);
                }
                Ok(Some(v))
            }
            Ok(Some(Ok(_))) => Ok(None),
        }
    }

    /// Sends a frame and waits for its ack or error, recording events
    /// meanwhile; `disconnected` when the connection is gone.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let disconnected = json!({"type": "error", "code": "disconnected"});
        self.next_req += 1;
        let id = format!("q{}", self.next_req);
        frame["req_id"] = json!(id);
        let Some(socket) = self.socket.as_mut() else { return disconnected };
        if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
            self.socket = None;
            return disconnected;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no answer to {frame}");
            match self.pump_one(Duration::from_millis(500)).await {
                Ok(Some(v)) if v["req_id"] == id.as_str() => return v,
                Ok(_) => {}
                Err(()) => return disconnected,
            }
        }
    }

    /// Sends `content`; on a dropped connection reconnects and retries with
    /// the same client_id (so a retry never stores twice).
    pub async fn send(&mut self, content: &str, client_id: &str) {
        for _ in 0..50 {
            if self.socket.is_none() {
                self.reconnect().await;
            }
            let frame =
                json!({"type": "send", "room_id": self.room, "content": content, "client_id": client_id});
            let ack = self.request(frame).await;
            if ack["type"] == "ack" {
                let m = &ack["message"];
                self.seen.insert(m["seq"].as_u64().unwrap(), m["content"].as_str().unwrap().into());
                return;
            }
            // unavailable while a core or the broker is down: retry shortly,
            // on the same connection unless it was the connection that went.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not send {content}");
    }

    /// Records a message an ack carried.
    pub fn record(&mut self, m: &Value) {
        self.seen.insert(m["seq"].as_u64().unwrap(), m["content"].as_str().unwrap().into());
    }

    /// Reads frames until one matches `what` (recording events meanwhile).
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no {what} within 20 s");
            if let Ok(Some(v)) = self.pump_one(Duration::from_millis(200)).await
                && matches(&v)
            {
                return v;
            }
        }
    }

    /// Every frame that comes within `d` (without reconnecting).
    pub async fn frames_for(&mut self, d: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + d;
        let mut frames = Vec::new();
        while tokio::time::Instant::now() < until {
            match self.pump_one(Duration::from_millis(100)).await {
                Ok(Some(v)) => frames.push(v),
                Ok(None) => {}
                Err(()) => break,
            }
        }
        frames
    }

    /// Reads frames for `d`, reconnecting (and filling gaps) if dropped.
    pub async fn drain(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until {
            if self.socket.is_none() {
                self.reconnect().await;
            }
            let _ = self.pump_one(Duration::from_millis(200)).await;
        }
    }
}
