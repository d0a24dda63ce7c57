//! Visitors' data requests, for admins who may read every room
//! (settings.manage and rooms.view_all): everything held about a visitor
//! as one document, and erasing it. Both go in the audit trail, which
//! keeps how the visitor was named, never their email or platform id.

use serde_json::json;

use super::ports::{Page, VisitorRecord};
use super::{Core, Principal};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::data_request::VisitorSelector;
use crate::domain::{Message, Note, Permission, Rating, Room};
use crate::error::{CoreError, CoreResult};

/// Most rooms one request covers.
const MAX_ROOMS: u64 = 1000;
/// Messages read per page while exporting.
const PAGE: u64 = 500;
/// Rooms erased per round of the retention rule.
const RETENTION_BATCH: u64 = 500;

/// One room of a visitor's export.
#[derive(Debug, Clone)]
pub struct ExportedRoom {
    pub room: Room,
    pub visitor: Option<VisitorRecord>,
    pub rating: Option<Rating>,
    pub messages: Vec<Message>,
    pub notes: Vec<Note>,
}

impl Core {
    /// Refuses anyone but an admin who may read every room.
    pub fn may_handle_visitor_data<'p>(&self, p: &'p Principal) -> CoreResult<&'p super::AgentPrincipal> {
        let me = p.agent_with(Permission::SettingsManage)?;
        if !me.permissions.contains(Permission::RoomsViewAll) {
            return Err(CoreError::forbidden("a visitor's data needs settings.manage and rooms.view_all"));
        }
        Ok(me)
    }

    /// Everything held about the visitor: their rooms with the visitor's
    /// details, every message, the agents' notes and the rating.
    pub async fn export_visitor(
        &self,
        p: &Principal,
        who: &VisitorSelector,
    ) -> CoreResult<Vec<ExportedRoom>> {
        let me = self.may_handle_visitor_data(p)?;
        let rooms = self.store.rooms_of_subject(who, MAX_ROOMS).await?;
        let mut out = Vec::with_capacity(rooms.len());
        for room in rooms {
            let mut messages = Vec::new();
            loop {
                let after = messages.last().map_or(0, |m: &Message| m.seq);
                let (page, more) = self.store.page(&room.id, Page::After { after, limit: PAGE }).await?;
                messages.extend(page);
                if !more {
                    break;
                }
            }
            out.push(ExportedRoom {
                visitor: self.store.visitor_of(&room.id).await?,
                rating: self.store.rating(&room.id).await?,
                notes: self.store.notes(&room.id, 10_000).await?,
                messages,
                room,
            });
        }
        let ids: Vec<&str> = out.iter().map(|r| r.room.id.as_str()).collect();
        let details = json!({ "by": who.kind(), "rooms": ids });
        self.audit(me, AuditAction::VisitorExported, target(&ids), details).await;
        Ok(out)
    }

    /// Erases the visitor's data from every room of theirs; refused while
    /// one of them is still open (close it first). (rooms, messages).
    pub async fn erase_visitor(&self, p: &Principal, who: &VisitorSelector) -> CoreResult<(u64, u64)> {
        let me = self.may_handle_visitor_data(p)?;
        let rooms = self.store.rooms_of_subject(who, MAX_ROOMS).await?;
        if let VisitorSelector::Room(_) = who
            && rooms.is_empty()
        {
            return Err(CoreError::not_found("room"));
        }
        let open = rooms.iter().filter(|r| !r.status.is_final()).count();
        if open > 0 {
            return Err(CoreError::Conflict(format!(
                "{open} of the visitor's rooms is still open: close it before erasing"
            )));
        }
        let ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
        let (erased, messages) = self.store.erase_rooms(&ids, self.now_ms()).await?;
        let details = json!({ "by": who.kind(), "rooms": ids, "messages": messages });
        self.audit(me, AuditAction::VisitorErased, target(&ids), details).await;
        Ok((erased, messages))
    }

    /// Erases rooms ended longer ago than the retention setting (the
    /// timers, hourly); recorded in the audit trail without an actor.
    pub(super) async fn erase_past_retention(&self) -> CoreResult<u64> {
        let days = self.settings.get().await?.closed_room_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let before = self.now_ms() - i64::from(days) * 86_400_000;
        let ids = self.store.rooms_past_retention(before, RETENTION_BATCH).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let (rooms, messages) = self.store.erase_rooms(&ids, self.now_ms()).await?;
        self.record_audit(AuditEntry {
            id: 0,
            at: self.now_ms(),
            actor: None,
            address: None,
            action: AuditAction::VisitorErased,
            target: None,
            details: json!({ "by": "retention", "days": days, "rooms": ids, "messages": messages }),
        })
        .await;
        Ok(rooms)
    }
}

/// The audit trail's target of a request: its first room, if any.
fn target<S: AsRef<str>>(room_ids: &[S]) -> &str {
    room_ids.first().map_or("(no rooms)", AsRef::as_ref)
}
