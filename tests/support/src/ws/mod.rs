//! The WebSocket side of docs/protocol.md: upgrading against a [`TestApp`]
//! (token in the header or the query), the full client [`WsClient`] that
//! keeps the frames it was not asked for yet, and [`RawWs`], which only
//! reads, to see exactly what the server wrote.

mod client;
mod raw;

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub use client::{WsClient, brief};
pub use raw::{RawFrame, RawWs};

use crate::app::TestApp;

/// How long a test waits for a frame it expects before it fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

impl TestApp {
    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http://", "ws://", 1))
    }

    /// Connects with `Authorization: Bearer <token>` and asserts the upgrade.
    pub async fn ws(&self, token: &str) -> WsClient {
        match self.try_ws(Some(token), Auth::Header).await {
            Ok(c) => c,
            Err((status, body)) => panic!("the WebSocket upgrade was refused with {status}: {body}"),
        }
    }

    /// Connects and reads the `welcome` frame (asserted to be first).
    pub async fn ws_welcomed(&self, token: &str) -> (WsClient, Value) {
        let mut c = self.ws(token).await;
        let welcome = c.expect_type("welcome").await;
        (c, welcome)
    }

    /// Tries an upgrade; the refusal's HTTP status and body if there is one.
    pub async fn try_ws(&self, token: Option<&str>, auth: Auth) -> Result<WsClient, (u16, String)> {
        let stream = TcpStream::connect(self.address.trim_start_matches("http://"))
            .await
            .expect("connect to the HTTP listener");
        // As browsers do for WebSockets.
        stream.set_nodelay(true).expect("TCP_NODELAY");
        self.try_ws_on(stream, token, auth).await
    }

    /// As `try_ws`, over a TCP connection the caller made (to tune it).
    pub async fn try_ws_on(
        &self,
        stream: TcpStream,
        token: Option<&str>,
        auth: Auth,
    ) -> Result<WsClient, (u16, String)> {
        let url = match (token, auth) {
            (Some(t), Auth::Query) => format!("{}?access_token={t}", self.ws_url()),
            _ => self.ws_url(),
        };
        let mut req = url.into_client_request().expect("a WebSocket request");
        if let (Some(t), Auth::Header) = (token, auth) {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).expect("header value"),
            );
        }
        let handshake = tokio::time::timeout(
            FRAME_TIMEOUT,
            tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)),
        )
        .await
        .expect("the WebSocket handshake took more than 10 s");
        match handshake {
            Ok((ws, _)) => Ok(WsClient::new(ws)),
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body =
                    resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                Err((status, body))
            }
            Err(e) => panic!("the WebSocket handshake failed: {e}"),
        }
    }
}

/// Where the token goes on an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`, as programs send it.
    Header,
    /// `?access_token=<token>`, as browsers must.
    Query,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code (None: a close frame without one).
    Closed(Option<u16>),
    /// The TCP stream ended or broke without a close frame.
    Dropped(String),
}

/// The `type` of a server frame ("" when it has none).
fn frame_type(f: &Value) -> &str {
    f["type"].as_str().unwrap_or("")
}
