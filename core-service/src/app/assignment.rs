//! Automatic assignment: with the workspace's `assignment_mode` set to
//! `automatic`, a queued room is handed to the online, not-away agent with
//! the fewest open rooms under their capacity, taking turns among equals
//! (`domain::assignment`). Each hand-over is one conditional transition
//! that also counts the agent's rooms under a lock on them, so replicas
//! assigning at once give each room one owner and no agent more than
//! their capacity. A room nobody has room for stays in the queue, where
//! agents may still accept it; the timers hand out waiting rooms as
//! agents free up or come online.

use super::rooms::{system_message, taken_events};
use super::{Core, Principal};
use crate::app::ports::RoomFilter;
use crate::domain::assignment::{AssignmentMode, Candidate, pick_order};
use crate::domain::audit::{AuditAction, changes};
use crate::domain::room::render_agent_text;
use crate::domain::settings::MAX_AGENT_CAPACITY;
use crate::domain::{Permission, Person, RoomStatus, Settings, Transition};
use crate::error::{CoreError, CoreResult};

/// Queued rooms looked at per round of the timers.
const WAITING_BATCH: u64 = 100;

impl Core {
    /// In automatic mode, hands the queued room to the next agent with
    /// room; a failure is logged (the timers try again).
    pub(super) async fn assign_if_automatic(&self, room_id: &str) {
        let result = async {
            let settings = self.settings.get().await?;
            if settings.assignment() != AssignmentMode::Automatic {
                return Ok(None);
            }
            let candidates = self.candidates(&settings).await?;
            self.assign(room_id, &candidates, &settings).await
        };
        if let Err(e) = result.await {
            tracing::warn!(error = %e, room = room_id, "assigning a room failed");
        }
    }

    /// Agents who may be handed a room now: enabled, with rooms.accept,
    /// not away, connected on some replica; with their load and capacity.
    async fn candidates(&self, settings: &Settings) -> CoreResult<Vec<Candidate>> {
        let agents: Vec<_> = self
            .store
            .agents()
            .await?
            .into_iter()
            .filter(|a| !a.disabled && !a.away && a.permissions.contains(Permission::RoomsAccept))
            .collect();
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let live = self.live_agents(&ids).await?;
        let load: std::collections::HashMap<String, u64> =
            self.store.engaged_counts().await?.into_iter().collect();
        Ok(agents
            .into_iter()
            .filter(|a| live.contains(&a.id))
            .map(|a| Candidate {
                open_rooms: load.get(&a.id).copied().unwrap_or(0).min(u64::from(u32::MAX)) as u32,
                capacity: a.capacity.unwrap_or(settings.agent_capacity),
                last_assigned_at: a.last_assigned_at,
                agent: Person { id: a.id, name: a.name },
            })
            .collect())
    }

    /// Tries the candidates in order until one takes the room; None when
    /// nobody had room or the room is no longer queued.
    async fn assign(
        &self,
        room_id: &str,
        candidates: &[Candidate],
        settings: &Settings,
    ) -> CoreResult<Option<Person>> {
        let declined = self.store.decliners(room_id).await?;
        for c in pick_order(candidates, &declined) {
            let now = self.now_ms();
            let join = system_message(render_agent_text(&settings.agent_join_message, &c.agent.name), now);
            let t = Transition::Assign { agent: c.agent.clone(), capacity: c.capacity };
            let make = taken_events(declined.clone(), c.agent.clone());
            let turn = self.room_order.lock(room_id).await;
            if let Some((_, _, events)) = self.store.transition(room_id, &t, vec![join], now, make).await? {
                self.deliver(events).await;
                drop(turn);
                metrics::counter!("livechat_rooms_assigned_total").increment(1);
                return Ok(Some(c.agent.clone()));
            }
            drop(turn);
            // Taken meanwhile (accepted, expired), or this agent filled up.
            if self.store.room(room_id).await?.is_none_or(|r| r.status != RoomStatus::Queued) {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// The timers: in automatic mode, waiting rooms (oldest first) are
    /// handed out while anyone has room.
    pub(super) async fn assign_waiting_rooms(&self) -> CoreResult<usize> {
        let settings = self.settings.get().await?;
        if settings.assignment() != AssignmentMode::Automatic {
            return Ok(0);
        }
        let mut candidates = self.candidates(&settings).await?;
        if !candidates.iter().any(Candidate::has_room) {
            return Ok(0);
        }
        let queued =
            RoomFilter { status: Some(RoomStatus::Queued), limit: WAITING_BATCH, ..Default::default() };
        let mut assigned = 0;
        for room in self.store.rooms(&queued).await? {
            if let Some(agent) = self.assign(&room.id, &candidates, &settings).await? {
                assigned += 1;
                if let Some(c) = candidates.iter_mut().find(|c| c.agent.id == agent.id) {
                    c.open_rooms += 1;
                    c.last_assigned_at = self.now_ms();
                }
            }
            if !candidates.iter().any(Candidate::has_room) {
                break;
            }
        }
        Ok(assigned)
    }

    /// An agent's own capacity (None: the workspace's), and the one in force.
    pub async fn capacity(&self, p: &Principal, agent_id: &str) -> CoreResult<(Option<u32>, u32)> {
        p.agent_with(Permission::AgentsManage)?;
        let agent = self.store.agent(agent_id).await?.ok_or_else(|| CoreError::not_found("agent"))?;
        let default = self.settings.get().await?.agent_capacity;
        Ok((agent.capacity, agent.capacity.unwrap_or(default)))
    }

    /// Sets (or clears, for the workspace's default) an agent's capacity.
    pub async fn set_capacity(
        &self,
        p: &Principal,
        agent_id: &str,
        capacity: Option<u32>,
    ) -> CoreResult<(Option<u32>, u32)> {
        let me = p.agent_with(Permission::AgentsManage)?;
        if let Some(c) = capacity
            && !(1..=MAX_AGENT_CAPACITY).contains(&c)
        {
            return Err(CoreError::invalid(
                "capacity",
                format!("must be between 1 and {MAX_AGENT_CAPACITY}, or null"),
            ));
        }
        let agent = self.store.agent(agent_id).await?.ok_or_else(|| CoreError::not_found("agent"))?;
        if !me.permissions.covers(agent.permissions) {
            return Err(CoreError::forbidden("this agent has permissions you do not have"));
        }
        if !self.store.set_capacity(agent_id, capacity).await? {
            return Err(CoreError::not_found("agent"));
        }
        let changed = changes(
            &serde_json::json!({ "capacity": agent.capacity }),
            &serde_json::json!({ "capacity": capacity }),
        );
        self.audit(me, AuditAction::AgentUpdated, agent_id, changed).await;
        let default = self.settings.get().await?.agent_capacity;
        Ok((capacity, capacity.unwrap_or(default)))
    }
}
