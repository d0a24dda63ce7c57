//! End-to-end tests of the core's gRPC API: a real server per test, on a
//! fresh database (SQLite by default; PostgreSQL when
//! LIVECHAT_TEST_DATABASE_URL is set), driven only through the public API.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

mod auth;
mod canned;
mod concurrency;
mod decline;
mod idempotency;
mod lifecycle;
mod permissions;
mod settings;
mod timers;
