//! End-to-end tests of the REST API (docs/protocol.md "REST") against the
//! all-in-one `livechat`: a real core, the real gateway, real HTTP, and a
//! fresh database per test (SQLite, or PostgreSQL when
//! LIVECHAT_TEST_DATABASE_URL is set). One subject per module.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is the failure report")]

mod audit;
mod auth;
mod authorization;
mod canned;
mod concurrency;
mod conversations;
mod escalation;
mod history;
mod idempotency;
mod malformed;
mod openapi;
mod ops;
mod permissions;
mod rate_limits;
mod ratings;
mod revocation;
mod rooms;
mod security;
mod settings;
mod visitor_data;
mod webhooks;
