//! The product's rules with no I/O: the room state machine, permissions,
//! validated values, settings and events. Nothing here knows tokio, sea-orm,
//! tonic or the wire; everything here is unit-tested in place.

pub mod assignment;
pub mod audit;
pub mod data_request;
pub mod error;
pub mod event;
pub mod inbound;
pub mod login;
pub mod note;
pub mod outbound;
pub mod permission;
pub mod presence;
pub mod rating;
pub mod room;
pub mod settings;
pub mod transition;
pub mod value;
pub mod webhook;

pub use error::{DomainError, FieldError};
pub use event::{Audience, Event, EventKind};
pub use note::Note;
pub use permission::{Permission, PermissionSet};
pub use presence::{AgentStatus, TeamMember};
pub use rating::{Rating, RatingsReport};
pub use room::{Channel, EndReason, Message, Person, Room, RoomStatus, Sender, SenderKind};
pub use settings::{Settings, SettingsUpdate};
pub use transition::{AgentChange, Effect, Precondition, Transition};

/// Milliseconds since the unix epoch, UTC: how every time is stored.
pub type Millis = i64;

/// A new UUIDv7: time-ordered, so ids sort roughly by creation.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
