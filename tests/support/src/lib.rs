//! livechat's test kit: what every test suite needs to run the product and
//! talk to it, written once.
//!
//! - [`database`]: a fresh database per test (SQLite, or PostgreSQL when
//!   `LIVECHAT_TEST_DATABASE_URL` is set), dropped afterwards.
//! - [`app`]: the all-in-one `livechat::run` on 127.0.0.1:0 per test, and
//!   the server lifecycle every spawned assembly shares.
//! - [`rest`]: REST calls and problem+json assertions (docs/protocol.md "REST").
//! - [`ws`]: WebSocket clients (docs/protocol.md "WebSocket").
//! - [`grpc`]: the core's own assembly with typed gRPC clients, event
//!   streams and forged tokens.
//! - [`channels`]: fake messenger platforms and customers writing through them.
//! - [`shapes`]: docs/protocol.md object shapes, seqs and times.
//! - [`webhooks`]: an integration's endpoint that checks signatures.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

pub mod app;
pub mod channels;
pub mod database;
pub mod grpc;
pub mod rest;
pub mod shapes;
pub mod webhooks;
pub mod ws;

/// The HS256 secret every test server signs with, so that tests can forge
/// tokens as good as real ones.
pub const JWT_SECRET: &str = "test-secret-for-the-livechat-api-suite-0123456789";
/// The password of the bootstrap `admin` of every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password of every agent the kit creates.
pub const AGENT_PASSWORD: &str = "agent-password-1";

/// An agent made for a test (or the bootstrap admin), with a fresh token.
#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub username: String,
    pub name: String,
    pub group: String,
    pub token: String,
}
