//! [`WebhookReceiver`]: an integration's endpoint on a local port, as strict
//! as a careful one: it checks every delivery's `X-Livechat-Signature`
//! against the secret it was given (HMAC-SHA256 over `"<t>.<body>"`),
//! records what came, and can be told to fail (503) or to hold its
//! answers until released, to play a receiver that is down or slow.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use serde_json::Value;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    /// `X-Livechat-Delivery`, which must equal `body.id`.
    pub delivery_id: String,
    pub event_type: String,
    /// Whether the signature matched the secret the receiver held then.
    pub signed: bool,
    /// The signature's `t`.
    pub t: i64,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct Endpoint {
    secret: String,
    /// Answer 503 to everything.
    failing: bool,
    received: Vec<Received>,
}

/// The endpoint; stops serving when dropped.
pub struct WebhookReceiver {
    /// Where to register it.
    pub url: String,
    state: Arc<Mutex<Endpoint>>,
    /// Closed while the receiver holds its answers (a slow endpoint).
    gate: Arc<tokio::sync::RwLock<()>>,
    held: Mutex<Option<tokio::sync::OwnedRwLockWriteGuard<()>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = (Arc<Mutex<Endpoint>>, Arc<tokio::sync::RwLock<()>>);

fn signature_ok(secret: &str, header: &str, body: &[u8]) -> (bool, i64) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return (false, 0) };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    (mac.verify_slice(&v1).is_ok(), t)
}

async fn receive(State((state, gate)): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let _slow = gate.read().await;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut s = state.lock().unwrap();
    let (signed, t) = signature_ok(&s.secret, &header("x-livechat-signature"), &body);
    let answered = if s.failing { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::NO_CONTENT };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok_type = header("content-type") == "application/json";
    s.received.push(Received {
        body: parsed,
        delivery_id: header("x-livechat-delivery"),
        event_type: header("x-livechat-event"),
        signed: signed && ok_type && header("idempotency-key") == header("x-livechat-delivery"),
        t,
        answered: answered.as_u16(),
    });
    answered
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Endpoint::default()));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let app = Router::new().route("/hooks", post(receive)).with_state((state.clone(), gate.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the webhook receiver serves");
        });
        Self { url, state, gate, held: Mutex::new(None), task }
    }

    /// The secret shown when the endpoint was registered.
    pub fn set_secret(&self, secret: &str) {
        self.state.lock().unwrap().secret = secret.to_string();
    }

    /// From now on answer 503 (true) or 204 (false).
    pub fn set_failing(&self, failing: bool) {
        self.state.lock().unwrap().failing = failing;
    }

    /// Holds every answer until `release` (a slow endpoint).
    pub async fn hold(&self) {
        let guard = self.gate.clone().write_owned().await;
        *self.held.lock().unwrap() = Some(guard);
    }

    pub fn release(&self) {
        self.held.lock().unwrap().take();
    }

    /// Every POST so far, in the order they came.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The deliveries it accepted (answered 2xx), in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.answered < 300).collect()
    }

    /// Waits (up to 15 s) until `enough` holds for what was received.
    pub async fn wait_for(&self, what: &str, enough: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received();
            if enough(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the webhook receiver waited 15 s for {what}; it got: {:#?}",
                got.iter().map(|r| (&r.event_type, r.answered)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `n` deliveries were accepted; returns them.
    pub async fn wait_accepted(&self, n: usize) -> Vec<Received> {
        self.wait_for(&format!("{n} accepted deliveries"), |got| {
            got.iter().filter(|r| r.answered < 300).count() >= n
        })
        .await
        .into_iter()
        .filter(|r| r.answered < 300)
        .collect()
    }
}
