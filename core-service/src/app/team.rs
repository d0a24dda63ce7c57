//! The team: colleagues' presence and load (for transfers), an agent's own
//! availability, and whether a visitor will find anyone (for the widget).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::timers::PRESENCE_STALE_MS;
use super::{Core, Principal};
use crate::domain::{AgentStatus, Audience, Event, EventKind, Millis, Permission, TeamMember};
use crate::error::{CoreError, CoreResult};

/// How long the anonymous availability answer is reused: the widget asks
/// it on every page view, so a flood of them costs a few queries a second.
const AVAILABILITY_FRESH_MS: Millis = 1_000;

/// The last availability answer: when it was read, at which generation of
/// this replica's presence, and what it was. An agent connecting here or
/// leaving makes it stale at once; on other replicas it is at most a second
/// old.
#[derive(Debug, Default)]
pub struct AvailabilityCache(Mutex<Option<(Millis, u64, bool)>>);

impl AvailabilityCache {
    fn fresh(&self, now: Millis, generation: u64) -> Option<bool> {
        let last = *self.0.lock().expect("availability lock poisoned");
        last.filter(|(at, seen, _)| *seen == generation && now >= *at && now - at < AVAILABILITY_FRESH_MS)
            .map(|(_, _, v)| v)
    }

    fn put(&self, now: Millis, generation: u64, value: bool) {
        *self.0.lock().expect("availability lock poisoned") = Some((now, generation, value));
    }

    /// An agent changed their own availability: the next answer is read anew.
    fn forget(&self) {
        *self.0.lock().expect("availability lock poisoned") = None;
    }
}

impl Core {
    /// Every enabled agent, by name, with their presence and load. Any agent
    /// may read it (it is how they pick whom to transfer to); it carries no
    /// usernames or groups.
    pub async fn team(&self, p: &Principal) -> CoreResult<Vec<TeamMember>> {
        p.agent()?;
        let mut team = self.team_now().await?;
        team.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
        Ok(team)
    }

    /// The calling agent sets themselves away (no new rooms offered, their
    /// rooms kept) or back online. Every replica hears of it and changes
    /// what it offers their live subscriptions at once, without ending them.
    pub async fn set_status(&self, p: &Principal, chosen: Option<AgentStatus>) -> CoreResult<TeamMember> {
        let me = p.agent()?;
        let away = match chosen {
            Some(AgentStatus::Online) => false,
            Some(AgentStatus::Away) => true,
            _ => return Err(CoreError::invalid("status", "must be online or away")),
        };
        if !self.store.set_away(&me.id, away).await? {
            return Err(CoreError::not_found("agent"));
        }
        self.availability.forget();
        self.publish(vec![Event::new(
            Audience::default(),
            EventKind::AgentAway { agent_id: me.id.clone(), away },
        )])
        .await;
        let team = self.team_now().await?;
        team.into_iter().find(|m| m.id == me.id).ok_or_else(|| CoreError::not_found("agent"))
    }

    /// Whether someone who takes rooms is online and not away: anyone may
    /// ask, so the answer is a yes or no and is reused for a second.
    pub async fn agents_available(&self) -> CoreResult<bool> {
        let now = self.now_ms();
        let generation = self.hub.presence_generation();
        if let Some(known) = self.availability.fresh(now, generation) {
            return Ok(known);
        }
        let available =
            self.team_now().await?.iter().any(|m| m.accepts_rooms && m.status == AgentStatus::Online);
        self.availability.put(now, generation, available);
        Ok(available)
    }

    /// Which of these agents hold a live subscription on any replica.
    pub(super) async fn live_agents(&self, ids: &[String]) -> CoreResult<HashSet<String>> {
        let mut live: HashSet<String> = self
            .store
            .presence(ids, self.now_ms() - PRESENCE_STALE_MS)
            .await?
            .into_iter()
            .filter_map(|(id, live, _)| live.then_some(id))
            .collect();
        live.extend(self.hub.connected_agents().into_iter().filter(|a| ids.contains(a)));
        Ok(live)
    }

    async fn team_now(&self) -> CoreResult<Vec<TeamMember>> {
        let agents: Vec<_> = self.store.agents().await?.into_iter().filter(|a| !a.disabled).collect();
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let live = self.live_agents(&ids).await?;
        let load: HashMap<String, u64> = self.store.engaged_counts().await?.into_iter().collect();
        Ok(agents
            .into_iter()
            .map(|a| TeamMember {
                status: AgentStatus::of(live.contains(&a.id), a.away),
                open_rooms: load.get(&a.id).copied().unwrap_or(0).min(u32::MAX as u64) as u32,
                accepts_rooms: a.permissions.contains(Permission::RoomsAccept),
                id: a.id,
                name: a.name,
            })
            .collect())
    }
}
