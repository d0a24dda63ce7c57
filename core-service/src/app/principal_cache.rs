//! Recently verified agents, so that every call of a busy console does not
//! read the agent and their group from the database.
//!
//! An entry lives one second. Changes made on this replica (password,
//! disable, delete, group permissions) drop entries at once, so revocation
//! here is immediate; on other replicas it takes effect within the second
//! (and their event streams end at once through `AgentRevoked`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::ports::AgentRecord;

const TTL: Duration = Duration::from_secs(1);
/// Beyond this many agents the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub(super) struct PrincipalCache {
    entries: RwLock<HashMap<String, (AgentRecord, Instant)>>,
}

impl PrincipalCache {
    pub fn get(&self, agent_id: &str) -> Option<AgentRecord> {
        let entries = self.entries.read().expect("principal cache poisoned");
        let (record, at) = entries.get(agent_id)?;
        (at.elapsed() < TTL).then(|| record.clone())
    }

    pub fn put(&self, record: AgentRecord) {
        let mut entries = self.entries.write().expect("principal cache poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(record.id.clone(), (record, Instant::now()));
    }

    pub fn forget(&self, agent_id: &str) {
        self.entries.write().expect("principal cache poisoned").remove(agent_id);
    }

    pub fn forget_all(&self) {
        self.entries.write().expect("principal cache poisoned").clear();
    }
}
