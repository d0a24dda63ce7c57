//! The audit trail's rules: which administrative actions are recorded,
//! and what "what changed" says. Nothing here ever holds a password or a
//! secret: changes name such fields without their values.

use serde_json::{Map, Value, json};

use super::{Millis, Person};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    AgentCreated,
    AgentUpdated,
    AgentDeleted,
    GroupCreated,
    GroupUpdated,
    SettingsUpdated,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    LoginFailed,
    /// A failure that made the login throttle start refusing.
    LoginLockedOut,
    VisitorExported,
    VisitorErased,
}

impl AuditAction {
    pub const ALL: [AuditAction; 13] = [
        Self::AgentCreated,
        Self::AgentUpdated,
        Self::AgentDeleted,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::SettingsUpdated,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
        Self::LoginFailed,
        Self::LoginLockedOut,
        Self::VisitorExported,
        Self::VisitorErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentCreated => "agent.created",
            Self::AgentUpdated => "agent.updated",
            Self::AgentDeleted => "agent.deleted",
            Self::GroupCreated => "group.created",
            Self::GroupUpdated => "group.updated",
            Self::SettingsUpdated => "settings.updated",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
            Self::LoginFailed => "login.failed",
            Self::LoginLockedOut => "login.locked_out",
            Self::VisitorExported => "visitor.exported",
            Self::VisitorErased => "visitor.erased",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Assigned when stored (orders the trail); 0 before.
    pub id: i64,
    pub at: Millis,
    /// Who did it; none for a failed login (nobody is known).
    pub actor: Option<Person>,
    /// The client's address, as the gateway saw it.
    pub address: Option<String>,
    pub action: AuditAction,
    /// What it was done to: an agent's or webhook's id, a group's name, a
    /// username tried, a room.
    pub target: Option<String>,
    /// What changed, as `{"field": {"from": …, "to": …}}`, or what was made.
    pub details: Value,
}

/// Fields whose values never enter the trail: a change to one is noted
/// as `{"changed": true}`.
const SECRET_FIELDS: [&str; 3] = ["password", "password_hash", "secret"];

/// The fields of two JSON objects that differ, each as `{"from","to"}`.
pub fn changes(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for (key, to) in after {
        let from = before.get(key).unwrap_or(&Value::Null);
        if from != to {
            let change = if SECRET_FIELDS.contains(&key.as_str()) {
                json!({ "changed": true })
            } else {
                json!({ "from": from, "to": to })
            };
            out.insert(key.clone(), change);
        }
    }
    Value::Object(out)
}

/// A new object's fields, secrets left out.
pub fn made(fields: Value) -> Value {
    match fields {
        Value::Object(mut m) => {
            for s in SECRET_FIELDS {
                m.remove(s);
            }
            Value::Object(m)
        }
        other => other,
    }
}

/// Longest audit trail retention an admin may set (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_what_differs_and_hide_secrets() {
        let before = json!({"name": "Bea", "group": "agent", "disabled": false, "password": "old"});
        let after = json!({"name": "Bea", "group": "supervisor", "disabled": true, "password": "new-one"});
        assert_eq!(
            changes(&before, &after),
            json!({
                "group": {"from": "agent", "to": "supervisor"},
                "disabled": {"from": false, "to": true},
                "password": {"changed": true},
            })
        );
        assert_eq!(changes(&after, &after), json!({}));
    }

    #[test]
    fn made_objects_keep_no_secret() {
        assert_eq!(made(json!({"url": "https://x", "secret": "whsec_1"})), json!({"url": "https://x"}));
    }

    #[test]
    fn actions_have_stable_names() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("agent.renamed"), None);
    }
}
