//! End-to-end tests of the WebSocket protocol (docs/protocol.md "WebSocket")
//! against the all-in-one `livechat`: a real core, the real gateways, real
//! WebSockets, and a fresh database per test (SQLite, or PostgreSQL when
//! LIVECHAT_TEST_DATABASE_URL is set). REST sets scenes up; what is under
//! test is what WebSocket clients see. One subject per module.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

mod assignment;
mod backpressure;
mod client_frames;
mod delivery;
mod errors;
mod expiry;
mod handshake;
mod limits;
mod liveness;
mod notes;
mod offline;
mod pages;
mod presence;
mod queue;
mod reconnect;
mod revocation;
mod team;
mod welcome;
