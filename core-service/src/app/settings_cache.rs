//! The settings as this replica last read them. Settings are read on hot
//! paths (every send checks max_message_chars), so they are cached for a
//! second: a change made on another replica takes effect within that.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::ports::Store;
use crate::domain::Settings;
use crate::error::CoreResult;

const MAX_AGE: Duration = Duration::from_secs(1);

pub(super) struct SettingsCache {
    store: Arc<dyn Store>,
    cached: RwLock<Option<(Settings, Instant)>>,
}

impl SettingsCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cached: RwLock::new(None) }
    }

    pub async fn get(&self) -> CoreResult<Settings> {
        if let Some((s, at)) = &*self.cached.read().expect("settings lock poisoned")
            && at.elapsed() < MAX_AGE
        {
            return Ok(s.clone());
        }
        let fresh = self.store.load_settings().await?;
        self.put(fresh.clone());
        Ok(fresh)
    }

    /// Called after this replica saved new settings.
    pub fn put(&self, s: Settings) {
        *self.cached.write().expect("settings lock poisoned") = Some((s, Instant::now()));
    }
}
