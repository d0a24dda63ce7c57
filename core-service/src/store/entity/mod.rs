//! sea-orm entities: one per table, mirroring the migration. Times are unix
//! milliseconds in BIGINT columns so that SQLite and PostgreSQL compare and
//! sort them the same way.

pub mod agent;
pub mod audit;
pub mod canned;
pub mod decline;
pub mod group;
pub mod login_failure;
pub mod message;
pub mod meta;
pub mod note;
pub mod outbox;
pub mod presence;
pub mod room;
pub mod setting;
pub mod webhook;
pub mod webhook_delivery;
pub mod webhook_queue;
