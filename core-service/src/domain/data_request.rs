//! A visitor's data requests (GDPR articles 15 and 17): whose data a
//! request is about, and what their data is replaced with when erased.
//! Erasure keeps the rooms, their counts, times, agents and rating
//! scores, so reports still add up; it removes what identifies the
//! visitor or what they (or the agents, to them) wrote.

use super::{Channel, DomainError};

/// Whom a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitorSelector {
    /// The visitor of this room.
    Room(String),
    /// Every web visitor who gave this email (case-insensitive).
    Email(String),
    /// A messenger customer.
    Channel { channel: Channel, external_id: String },
}

impl VisitorSelector {
    /// Exactly one of: a room id; an email; a channel with an external id.
    pub fn parse(
        room_id: Option<&str>,
        email: Option<&str>,
        channel: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<Self, DomainError> {
        let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        match (given(room_id), given(email), given(channel), given(external_id)) {
            (Some(room), None, None, None) => Ok(Self::Room(room)),
            (None, Some(email), None, None) if email.contains('@') && email.chars().count() <= 254 => {
                Ok(Self::Email(email))
            }
            (None, Some(_), None, None) => Err(DomainError::field("email", "not an email address")),
            (None, None, Some(channel), Some(external_id)) => match Channel::parse(&channel) {
                Some(channel) if channel != Channel::Web && external_id.chars().count() <= 256 => {
                    Ok(Self::Channel { channel, external_id })
                }
                _ => Err(DomainError::field("channel", "one of telegram, messenger, wechat")),
            },
            (None, None, Some(_), None) => Err(DomainError::field("external_id", "required with channel")),
            (None, None, None, Some(_)) => Err(DomainError::field("channel", "required with external_id")),
            _ => Err(DomainError::field(
                "room_id",
                "name the visitor by exactly one of room_id, email, or channel with external_id",
            )),
        }
    }

    /// How the request named its visitor, for the audit trail (which keeps
    /// no email or platform id).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Room(_) => "room",
            Self::Email(_) => "email",
            Self::Channel { .. } => "channel",
        }
    }
}

/// What an erased message, note or comment says instead.
pub const ERASED_TEXT: &str = "[erased]";
/// An erased visitor's name.
pub const ERASED_NAME: &str = "Erased visitor";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_visitor_exactly_once() {
        assert_eq!(
            VisitorSelector::parse(Some("r-1"), None, None, None),
            Ok(VisitorSelector::Room("r-1".into()))
        );
        assert_eq!(
            VisitorSelector::parse(None, Some(" ana@example.com "), None, None),
            Ok(VisitorSelector::Email("ana@example.com".into()))
        );
        assert_eq!(
            VisitorSelector::parse(None, None, Some("telegram"), Some("42")),
            Ok(VisitorSelector::Channel { channel: Channel::Telegram, external_id: "42".into() })
        );
        for bad in [
            VisitorSelector::parse(None, None, None, None),
            VisitorSelector::parse(Some("r-1"), Some("a@b.c"), None, None),
            VisitorSelector::parse(None, Some("nobody"), None, None),
            VisitorSelector::parse(None, None, Some("web"), Some("42")),
            VisitorSelector::parse(None, None, Some("telegram"), None),
        ] {
            assert!(bad.is_err(), "{bad:?}");
        }
    }
}
