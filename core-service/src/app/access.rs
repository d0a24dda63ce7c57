//! Who is calling, and what they may see. Every permission decision of the
//! product is made here or next to the use case that needs it, in the core.

use crate::domain::{Permission, PermissionSet, Person, Room, RoomStatus};
use crate::error::{CoreError, CoreResult};

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentPrincipal {
    pub id: String,
    pub username: String,
    pub name: String,
    pub group: String,
    pub permissions: PermissionSet,
    /// The client's address as the gateway saw it (the audit trail's
    /// "from where"), when it said.
    pub address: Option<std::net::IpAddr>,
}

/// An authenticated visitor; their token opens exactly one room.
#[derive(Debug, Clone)]
pub struct VisitorPrincipal {
    pub id: String,
    pub name: String,
    pub room_id: String,
}

/// The caller of an operation, and when their token runs out.
#[derive(Debug, Clone)]
pub enum Principal {
    Agent(AgentPrincipal, i64),
    Visitor(VisitorPrincipal, i64),
}

impl Principal {
    /// Unix seconds at which the token expires.
    pub fn expires_at(&self) -> i64 {
        match self {
            Self::Agent(_, exp) | Self::Visitor(_, exp) => *exp,
        }
    }

    pub fn person(&self) -> Person {
        match self {
            Self::Agent(a, _) => Person { id: a.id.clone(), name: a.name.clone() },
            Self::Visitor(v, _) => Person { id: v.id.clone(), name: v.name.clone() },
        }
    }

    /// The agent, or `forbidden` for a visitor.
    pub fn agent(&self) -> CoreResult<&AgentPrincipal> {
        match self {
            Self::Agent(a, _) => Ok(a),
            Self::Visitor(..) => Err(CoreError::forbidden("only agents may do this")),
        }
    }

    /// The agent if they hold `p`, else `forbidden`.
    pub fn agent_with(&self, p: Permission) -> CoreResult<&AgentPrincipal> {
        let a = self.agent()?;
        if a.permissions.contains(p) {
            Ok(a)
        } else {
            Err(CoreError::Forbidden(format!("this needs the {} permission", p.as_str())))
        }
    }

    /// Refuses a visitor whose token is for another room, before the room is
    /// even looked up (so the answer says nothing about other rooms).
    pub fn check_room_scope(&self, room_id: &str) -> CoreResult<()> {
        match self {
            Self::Visitor(v, _) if v.room_id != room_id => {
                Err(CoreError::forbidden("this token is for another room"))
            }
            _ => Ok(()),
        }
    }

    /// Read access to a room and its history: its visitor; an agent who holds
    /// or held it, one who may accept it while it is queued, or
    /// rooms.view_all. (An agent with no permission sees no queue: the
    /// visitor's name and first message are not theirs to read.)
    pub fn can_read(&self, room: &Room) -> bool {
        match self {
            Self::Visitor(v, _) => v.room_id == room.id,
            Self::Agent(a, _) => {
                a.permissions.contains(Permission::RoomsViewAll)
                    || (room.status == RoomStatus::Queued && a.permissions.contains(Permission::RoomsAccept))
                    || room.belongs_to(&a.id)
            }
        }
    }

    pub fn check_read(&self, room: &Room) -> CoreResult<()> {
        if self.can_read(room) {
            Ok(())
        } else {
            Err(CoreError::forbidden("you have no access to this room"))
        }
    }
}

impl AgentPrincipal {
    /// Close or transfer: the engaged agent, or rooms.manage_all.
    pub fn may_manage(&self, room: &Room) -> bool {
        room.is_engaged_by(&self.id) || self.permissions.contains(Permission::RoomsManageAll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;

    fn room(status: RoomStatus, agent: Option<&str>) -> Room {
        Room {
            id: "r1".into(),
            status,
            channel: Channel::Web,
            visitor: Person { id: "v1".into(), name: "Ana".into() },
            external_id: None,
            agent: agent.map(|a| Person { id: a.into(), name: a.into() }),
            subject: None,
            created_at: 0,
            last_message_at: 0,
            last_seq: 0,
            end_message: None,
        }
    }

    fn agent(id: &str, perms: &[Permission]) -> Principal {
        Principal::Agent(
            AgentPrincipal {
                id: id.into(),
                username: id.into(),
                name: id.into(),
                group: "g".into(),
                permissions: perms.iter().copied().collect(),
                address: None,
            },
            0,
        )
    }

    #[test]
    fn an_agent_reads_the_queue_and_their_own_rooms_only() {
        let bea = agent("bea", &[Permission::RoomsAccept]);
        assert!(bea.can_read(&room(RoomStatus::Queued, None)));
        assert!(bea.can_read(&room(RoomStatus::Engaged, Some("bea"))));
        assert!(bea.can_read(&room(RoomStatus::Closed, Some("bea"))));
        assert!(!bea.can_read(&room(RoomStatus::Engaged, Some("cy"))));
        let boss = agent("boss", &[Permission::RoomsViewAll]);
        assert!(boss.can_read(&room(RoomStatus::Engaged, Some("cy"))));
        let nobody = agent("nobody", &[]);
        assert!(!nobody.can_read(&room(RoomStatus::Queued, None)), "no rooms.accept, no queue");
        assert!(nobody.can_read(&room(RoomStatus::Closed, Some("nobody"))), "their own history stays theirs");
    }

    #[test]
    fn a_visitor_reads_their_room_only() {
        let v = Principal::Visitor(
            VisitorPrincipal { id: "v1".into(), name: "Ana".into(), room_id: "r1".into() },
            0,
        );
        assert!(v.can_read(&room(RoomStatus::Engaged, Some("bea"))));
        assert!(v.check_room_scope("r2").is_err());
        assert!(v.agent().is_err());
    }

    #[test]
    fn only_the_engaged_agent_or_a_manager_may_manage() {
        let r = room(RoomStatus::Engaged, Some("bea"));
        let Principal::Agent(bea, _) = agent("bea", &[]) else { unreachable!() };
        let Principal::Agent(cy, _) = agent("cy", &[Permission::RoomsAccept]) else { unreachable!() };
        let Principal::Agent(sup, _) = agent("sup", &[Permission::RoomsManageAll]) else { unreachable!() };
        assert!(bea.may_manage(&r));
        assert!(!cy.may_manage(&r));
        assert!(sup.may_manage(&r));
    }
}
