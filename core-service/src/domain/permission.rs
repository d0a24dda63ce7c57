//! Permissions and the built-in permission groups of docs/protocol.md.

use serde::{Deserialize, Serialize};

/// One thing an agent may be allowed to do beyond the basics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    RoomsAccept,
    RoomsViewAll,
    RoomsManageAll,
    CannedManageShared,
    AgentsManage,
    SettingsManage,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Self::RoomsAccept,
        Self::RoomsViewAll,
        Self::RoomsManageAll,
        Self::CannedManageShared,
        Self::AgentsManage,
        Self::SettingsManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoomsAccept => "rooms.accept",
            Self::RoomsViewAll => "rooms.view_all",
            Self::RoomsManageAll => "rooms.manage_all",
            Self::CannedManageShared => "canned.manage_shared",
            Self::AgentsManage => "agents.manage",
            Self::SettingsManage => "settings.manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small bit set: checked on every call, so it must be cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u8);

impl PermissionSet {
    pub fn all() -> Self {
        Self::from_iter(Permission::ALL)
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is also in this set: what an
    /// agent must hold to grant, take away or act on `other` (nobody hands
    /// out more than they have).
    pub fn covers(self, other: PermissionSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Wire names, in a stable order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_string()).collect()
    }

    /// Parses wire names; every unknown one is reported.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Self, Vec<String>> {
        let mut unknown = Vec::new();
        let mut set = Self::default();
        for n in names {
            match Permission::parse(n.as_ref()) {
                Some(p) => set.0 |= p.bit(),
                None => unknown.push(n.as_ref().to_string()),
            }
        }
        if unknown.is_empty() { Ok(set) } else { Err(unknown) }
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, p| acc | p.bit()))
    }
}

/// The group every deployment starts with and that can never lose a
/// permission (so that someone can always administer the system).
pub const ADMIN_GROUP: &str = "admin";

/// The built-in groups and their permissions, created by the first migration.
pub fn built_in_groups() -> Vec<(&'static str, PermissionSet)> {
    use Permission::*;
    vec![
        (ADMIN_GROUP, PermissionSet::all()),
        (
            "supervisor",
            PermissionSet::from_iter([RoomsAccept, RoomsViewAll, RoomsManageAll, CannedManageShared]),
        ),
        ("agent", PermissionSet::from_iter([RoomsAccept])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_groups_match_the_protocol() {
        let groups = built_in_groups();
        let get = |n: &str| groups.iter().find(|(g, _)| *g == n).unwrap().1;
        assert_eq!(get("admin"), PermissionSet::all());
        assert!(get("supervisor").contains(Permission::RoomsManageAll));
        assert!(get("supervisor").contains(Permission::CannedManageShared));
        assert!(!get("supervisor").contains(Permission::AgentsManage));
        assert_eq!(get("agent").names(), vec!["rooms.accept".to_string()]);
    }

    #[test]
    fn unknown_permission_names_are_all_reported() {
        let err = PermissionSet::parse_names(&["rooms.accept", "rooms.fly", "x"]).unwrap_err();
        assert_eq!(err, vec!["rooms.fly".to_string(), "x".to_string()]);
    }

    #[test]
    fn names_round_trip() {
        let set = PermissionSet::parse_names(&["settings.manage", "rooms.view_all"]).unwrap();
        assert_eq!(PermissionSet::parse_names(&set.names()).unwrap(), set);
        assert!(!set.contains(Permission::RoomsAccept));
    }
}
