//! The run-time settings of docs/protocol.md, and the workspace settings
//! stored beside them: defaults, limits and validation of a partial update
//! (all keys or none).

use livechat_proto::origin::parse_origin;
use serde::{Deserialize, Serialize};

use super::value::{Checks, text};
use super::{DomainError, FieldError};

/// The whole settings object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub history_load_count: u32,
    pub room_idle_timeout_secs: u64,
    pub agent_grace_secs: u64,
    pub agent_join_message: String,
    pub agent_leave_message: String,
    pub close_message: String,
    pub max_message_chars: u32,
    /// Workspace settings (beyond the v1 settings object, whose keys the
    /// contract fixes): how long a message left through the widget's
    /// offline form waits in the queue.
    #[serde(default = "default_offline_wait")]
    pub offline_room_wait_secs: u64,
    /// Sites (origins) that may show the widget in a frame (embed.js).
    #[serde(default)]
    pub widget_allowed_origins: Vec<String>,
    /// Networks (CIDRs) that webhooks may reach although they are not
    /// public: none by default, so an endpoint cannot be pointed at the
    /// server's own neighbourhood (see `webhook::may_send_to`).
    #[serde(default)]
    pub webhook_allowed_networks: Vec<String>,
    /// How long the audit trail keeps an entry.
    #[serde(default = "default_audit_retention")]
    pub audit_retention_days: u32,
    /// Closed and expired rooms older than this many days have their
    /// visitor's data erased (0: kept until erased by hand).
    #[serde(default)]
    pub closed_room_retention_days: u32,
    /// `manual` (agents accept from the queue) or `automatic` (queued
    /// rooms are handed out, see `assignment`).
    #[serde(default = "default_assignment_mode")]
    pub assignment_mode: String,
    /// Rooms automatic assignment hands one agent at once, unless the
    /// agent has a capacity of their own.
    #[serde(default = "default_agent_capacity")]
    pub agent_capacity: u32,
}

fn default_assignment_mode() -> String {
    super::assignment::AssignmentMode::Manual.as_str().to_string()
}

fn default_agent_capacity() -> u32 {
    3
}

/// Most rooms one agent may be given at once.
pub const MAX_AGENT_CAPACITY: u32 = 100;

impl Settings {
    /// How queued rooms find their agent.
    pub fn assignment(&self) -> super::assignment::AssignmentMode {
        super::assignment::AssignmentMode::parse(&self.assignment_mode)
            .unwrap_or(super::assignment::AssignmentMode::Manual)
    }
}

fn default_audit_retention() -> u32 {
    365
}

fn default_offline_wait() -> u64 {
    7 * 86_400
}

/// Most sites the widget may be embedded in.
pub const MAX_WIDGET_ORIGINS: usize = 50;
/// Most private networks webhooks may be let into.
pub const MAX_WEBHOOK_NETWORKS: usize = 20;

impl Default for Settings {
    fn default() -> Self {
        Self {
            history_load_count: 20,
            room_idle_timeout_secs: 120,
            agent_grace_secs: 30,
            agent_join_message: "{agent} has entered the chat".into(),
            agent_leave_message: "{agent} has left the chat".into(),
            close_message: "This chat has been closed. Thank you!".into(),
            max_message_chars: 4000,
            offline_room_wait_secs: default_offline_wait(),
            widget_allowed_origins: Vec::new(),
            webhook_allowed_networks: Vec::new(),
            audit_retention_days: default_audit_retention(),
            closed_room_retention_days: 0,
            assignment_mode: default_assignment_mode(),
            agent_capacity: default_agent_capacity(),
        }
    }
}

/// Longest system text an admin may configure.
pub const MAX_SETTING_TEXT_CHARS: usize = 1000;

/// Any subset of the keys; `None` leaves a key as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsUpdate {
    pub history_load_count: Option<u32>,
    pub room_idle_timeout_secs: Option<u64>,
    pub agent_grace_secs: Option<u64>,
    pub agent_join_message: Option<String>,
    pub agent_leave_message: Option<String>,
    pub close_message: Option<String>,
    pub max_message_chars: Option<u32>,
    pub offline_room_wait_secs: Option<u64>,
    pub widget_allowed_origins: Option<Vec<String>>,
    pub webhook_allowed_networks: Option<Vec<String>>,
    pub audit_retention_days: Option<u32>,
    pub closed_room_retention_days: Option<u32>,
    pub assignment_mode: Option<String>,
    pub agent_capacity: Option<u32>,
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, FieldError> {
    if v < lo || v > hi {
        Err(FieldError::new(field, format!("must be between {lo} and {hi}")))
    } else {
        Ok(v)
    }
}

impl Settings {
    /// Applies an update, validating every given key; nothing changes unless
    /// all of them are good, and every bad one is reported.
    pub fn apply(&self, u: &SettingsUpdate) -> Result<Settings, DomainError> {
        let mut next = self.clone();
        let mut c = Checks::default();
        if let Some(v) = u.history_load_count
            && let Some(v) = c.check(in_range("history_load_count", v, 1, 500))
        {
            next.history_load_count = v;
        }
        if let Some(v) = u.room_idle_timeout_secs
            && let Some(v) = c.check(in_range("room_idle_timeout_secs", v, 5, 604_800))
        {
            next.room_idle_timeout_secs = v;
        }
        if let Some(v) = u.agent_grace_secs
            && let Some(v) = c.check(in_range("agent_grace_secs", v, 0, 3600))
        {
            next.agent_grace_secs = v;
        }
        if let Some(v) = u.max_message_chars
            && let Some(v) = c.check(in_range("max_message_chars", v, 1, 100_000))
        {
            next.max_message_chars = v;
        }
        let texts = [
            ("agent_join_message", &u.agent_join_message, &mut next.agent_join_message),
            ("agent_leave_message", &u.agent_leave_message, &mut next.agent_leave_message),
            ("close_message", &u.close_message, &mut next.close_message),
        ];
        for (field, given, slot) in texts {
            if let Some(v) = given
                && let Some(v) = c.check(text(field, v, MAX_SETTING_TEXT_CHARS))
            {
                *slot = v;
            }
        }
        if let Some(v) = u.offline_room_wait_secs
            && let Some(v) = c.check(in_range("offline_room_wait_secs", v, 60, 7_776_000))
        {
            next.offline_room_wait_secs = v;
        }
        if let Some(origins) = &u.widget_allowed_origins {
            let mut parsed: Vec<String> = Vec::new();
            let mut bad = None;
            for o in origins {
                match parse_origin(o) {
                    Ok(o) if !parsed.contains(&o) => parsed.push(o),
                    Ok(_) => {}
                    Err(e) => bad = bad.or(Some(e)),
                }
            }
            if let Some(e) = bad {
                c.push(FieldError::new("widget_allowed_origins", e));
            } else if parsed.len() > MAX_WIDGET_ORIGINS {
                c.push(FieldError::new(
                    "widget_allowed_origins",
                    format!("at most {MAX_WIDGET_ORIGINS} sites"),
                ));
            } else {
                next.widget_allowed_origins = parsed;
            }
        }
        if let Some(v) = u.audit_retention_days
            && let Some(v) = c.check(in_range("audit_retention_days", v, 1, super::audit::MAX_RETENTION_DAYS))
        {
            next.audit_retention_days = v;
        }
        if let Some(v) = u.closed_room_retention_days
            && let Some(v) = c.check(in_range("closed_room_retention_days", v, 0, 36_500))
        {
            next.closed_room_retention_days = v;
        }
        if let Some(mode) = &u.assignment_mode {
            match super::assignment::AssignmentMode::parse(mode) {
                Some(m) => next.assignment_mode = m.as_str().to_string(),
                None => c.push(FieldError::new("assignment_mode", "manual or automatic")),
            }
        }
        if let Some(v) = u.agent_capacity
            && let Some(v) = c.check(in_range("agent_capacity", v, 1, MAX_AGENT_CAPACITY))
        {
            next.agent_capacity = v;
        }
        if let Some(raw) = &u.webhook_allowed_networks {
            match super::webhook::parse_networks(raw) {
                Err(e) => c.push(FieldError::new("webhook_allowed_networks", e)),
                Ok(nets) if nets.len() > MAX_WEBHOOK_NETWORKS => c.push(FieldError::new(
                    "webhook_allowed_networks",
                    format!("at most {MAX_WEBHOOK_NETWORKS} networks"),
                )),
                Ok(nets) => {
                    let mut kept: Vec<String> = Vec::new();
                    for n in nets.iter().map(ToString::to_string) {
                        if !kept.contains(&n) {
                            kept.push(n);
                        }
                    }
                    next.webhook_allowed_networks = kept;
                }
            }
        }
        c.finish()?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_protocol_table() {
        let s = Settings::default();
        assert_eq!(s.history_load_count, 20);
        assert_eq!(s.room_idle_timeout_secs, 120);
        assert_eq!(s.agent_grace_secs, 30);
        assert_eq!(s.max_message_chars, 4000);
        assert_eq!(s.close_message, "This chat has been closed. Thank you!");
    }

    #[test]
    fn widget_origins_are_plain_origins_kept_once() {
        let next = Settings::default()
            .apply(&SettingsUpdate {
                widget_allowed_origins: Some(vec![
                    "https://shop.example.com/".into(),
                    "https://shop.example.com".into(),
                    "http://localhost:8080".into(),
                ]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.widget_allowed_origins, vec!["https://shop.example.com", "http://localhost:8080"]);
        for bad in [
            "https://x.com; script-src *",
            "https://x.com/path",
            "javascript:alert(1)",
            "*",
            "https://u:p@x.com",
        ] {
            let r = Settings::default().apply(&SettingsUpdate {
                widget_allowed_origins: Some(vec![bad.into()]),
                ..Default::default()
            });
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn a_good_partial_update_changes_only_its_keys() {
        let s = Settings::default();
        let next = s
            .apply(&SettingsUpdate {
                history_load_count: Some(50),
                close_message: Some("Bye".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.history_load_count, 50);
        assert_eq!(next.close_message, "Bye");
        assert_eq!(next.room_idle_timeout_secs, s.room_idle_timeout_secs);
    }

    #[test]
    fn one_bad_key_rejects_the_whole_update_and_lists_every_bad_field() {
        let err = Settings::default()
            .apply(&SettingsUpdate {
                history_load_count: Some(501),
                room_idle_timeout_secs: Some(4),
                agent_grace_secs: Some(10),
                close_message: Some("  ".into()),
                ..Default::default()
            })
            .unwrap_err();
        let DomainError::Invalid(errs) = err else { panic!() };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["history_load_count", "room_idle_timeout_secs", "close_message"]);
    }

    #[test]
    fn limits_are_inclusive() {
        let s = Settings::default();
        let ok = SettingsUpdate {
            history_load_count: Some(500),
            room_idle_timeout_secs: Some(5),
            agent_grace_secs: Some(0),
            max_message_chars: Some(100_000),
            ..Default::default()
        };
        assert!(s.apply(&ok).is_ok());
        let bad = SettingsUpdate { max_message_chars: Some(0), ..Default::default() };
        assert!(s.apply(&bad).is_err());
    }
}
