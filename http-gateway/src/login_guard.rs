//! Locks a username out after too many failed logins in a window, so that
//! guessing one account's password is slow whatever IPs it comes from.
//! Only failures count: an agent who types their password right is never
//! slowed down by it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most usernames tracked at once; beyond it the oldest windows go first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct LoginGuard {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginGuard {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures, window, failures: Mutex::new(HashMap::new()) }
    }

    /// Seconds until the username may try again, if it is locked out.
    pub fn locked_for(&self, username: &str) -> Option<u32> {
        let map = self.failures.lock().expect("login guard poisoned");
        let (n, since) = map.get(&username.to_lowercase())?;
        let left = self.window.checked_sub(since.elapsed())?;
        (*n >= self.max_failures).then(|| left.as_secs().max(1) as u32)
    }

    pub fn failed(&self, username: &str) {
        let mut map = self.failures.lock().expect("login guard poisoned");
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let e = map.entry(username.to_lowercase()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= self.window {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    pub fn succeeded(&self, username: &str) {
        self.failures.lock().expect("login guard poisoned").remove(&username.to_lowercase());
    }

    pub fn prune(&self) {
        let window = self.window;
        self.failures.lock().expect("login guard poisoned").retain(|_, (_, since)| since.elapsed() < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_locked_after_too_many_failures_and_freed_by_success() {
        let g = LoginGuard::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            g.failed("Bea");
        }
        assert_eq!(g.locked_for("bea"), None);
        g.failed("bea");
        assert!(g.locked_for("BEA").is_some());
        g.succeeded("bea");
        assert_eq!(g.locked_for("bea"), None);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let g = LoginGuard::new(1, Duration::from_millis(0));
        g.failed("bea");
        assert_eq!(g.locked_for("bea"), None);
    }
}
