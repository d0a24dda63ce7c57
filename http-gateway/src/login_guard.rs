//! Locks a username out after too many failed logins in a window, so that
//! guessing one account's password is slow whatever IPs it comes from.
//! Only failures count: an agent who types their password right is never
//! slowed down by it.
//!
//! Names are compared as the core compares them (trimmed, lowercase), so
//! " admin" and "ADMIN\n" are the one account they log in as; a name the
//! core would refuse outright names no account and is not tracked, so the
//! memory held is bounded by real-looking names of at most 64 characters.

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
        let key = account(username)?;
        let map = self.failures.lock().expect("login guard poisoned");
        let (n, since) = map.get(&key)?;
        let left = self.window.checked_sub(since.elapsed())?;
        (*n >= self.max_failures).then(|| left.as_secs().max(1) as u32)
    }

    pub fn failed(&self, username: &str) {
        let Some(key) = account(username) else { return };
        let mut map = self.failures.lock().expect("login guard poisoned");
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let e = map.entry(key).or_insert((0, Instant::now()));
        if e.1.elapsed() >= self.window {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    pub fn succeeded(&self, username: &str) {
        if let Some(key) = account(username) {
            self.failures.lock().expect("login guard poisoned").remove(&key);
        }
    }

    pub fn prune(&self) {
        let window = self.window;
        self.failures.lock().expect("login guard poisoned").retain(|_, (_, since)| since.elapsed() < window);
    }
}

/// The account a login name means, as the core's `Username` reads it
/// (trimmed, lowercase, 3 to 64 of a-z, 0-9, `.`, `_`, `-`, `@`); None for a
/// name that cannot be an account.
fn account(username: &str) -> Option<String> {
    let s = username.trim();
    let ok = (3..=64).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    ok.then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_case_around_a_name_are_the_same_account() {
        let g = LoginGuard::new(4, Duration::from_secs(60));
        for name in [" admin", "admin ", "\tadmin", "ADMIN\n"] {
            g.failed(name);
        }
        assert!(g.locked_for("admin").is_some(), "four spellings, one account, four failures");
    }

    #[test]
    fn a_name_that_cannot_be_an_account_takes_no_memory() {
        let g = LoginGuard::new(1, Duration::from_secs(60));
        g.failed(&"x".repeat(1 << 20));
        g.failed("a b");
        assert!(g.failures.lock().unwrap().is_empty());
    }

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
