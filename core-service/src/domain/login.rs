//! How failed logins slow the next ones, so that guessing a password is
//! slow and a flood of wrong guesses cannot lock the real agent out:
//!
//! - per account and client address: after `failures_per_address`
//!   failures, an exponential backoff (1 s, 2 s, 4 s … up to 15 minutes)
//!   before that address may try that account again;
//! - per account, from any address: past `failures_per_account` failures
//!   in the window, attempts are spaced `SPACING_MS` apart across the whole
//!   cluster. That slows a guesser who rotates addresses to one guess per
//!   spacing, and never refuses the right password outright: its attempt
//!   just waits for a free slot.
//!
//! A success clears the backoff of its address. Counts live for
//! `WINDOW_MS` after the first failure.

use super::Millis;

/// How long failures are remembered.
pub const WINDOW_MS: Millis = 15 * 60 * 1000;
/// The longest backoff of one address.
pub const MAX_BACKOFF_MS: Millis = 15 * 60 * 1000;
/// The gap between an account's attempts once it is over its ceiling.
pub const SPACING_MS: Millis = 2000;

/// The thresholds (`LIVECHAT_LOGIN_FAILURES_PER_ADDRESS`, `_PER_USER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub failures_per_address: u32,
    pub failures_per_account: u32,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self { failures_per_address: 5, failures_per_account: 50 }
    }
}

/// Failed logins of one key within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub first_at: Millis,
    pub last_at: Millis,
}

impl Failures {
    fn current(self, now: Millis) -> Option<Self> {
        (now - self.first_at < WINDOW_MS).then_some(self)
    }
}

impl LoginPolicy {
    /// When this address may next try this account; None: now.
    pub fn address_waits_until(&self, failures: Option<Failures>, now: Millis) -> Option<Millis> {
        let f = failures?.current(now)?;
        let over = f.count.checked_sub(self.failures_per_address)?;
        let backoff = 1000_i64.saturating_mul(1_i64 << over.min(20)).min(MAX_BACKOFF_MS);
        let until = f.last_at + backoff;
        (until > now).then_some(until)
    }

    /// Whether the account's attempts are spaced out right now.
    pub fn account_slowed(&self, failures: Option<Failures>, now: Millis) -> bool {
        failures.and_then(|f| f.current(now)).is_some_and(|f| f.count >= self.failures_per_account)
    }
}

/// Whole seconds from `now` until `until`, at least 1 (for Retry-After).
pub fn seconds_until(until: Millis, now: Millis) -> u32 {
    (((until - now).max(0) + 999) / 1000).clamp(1, u32::MAX as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LoginPolicy = LoginPolicy { failures_per_address: 3, failures_per_account: 10 };

    fn failed(count: u32, last_at: Millis) -> Option<Failures> {
        Some(Failures { count, first_at: 0, last_at })
    }

    #[test]
    fn an_address_backs_off_exponentially_after_its_allowance() {
        assert_eq!(POLICY.address_waits_until(failed(2, 1000), 1000), None);
        assert_eq!(POLICY.address_waits_until(failed(3, 1000), 1000), Some(2000));
        assert_eq!(POLICY.address_waits_until(failed(4, 1000), 1000), Some(3000));
        assert_eq!(POLICY.address_waits_until(failed(6, 1000), 1000), Some(9000));
        assert_eq!(POLICY.address_waits_until(failed(60, 1000), 1000), Some(1000 + MAX_BACKOFF_MS));
        assert_eq!(POLICY.address_waits_until(failed(3, 1000), 2000), None, "waited long enough");
    }

    #[test]
    fn failures_are_forgotten_after_the_window() {
        assert_eq!(POLICY.address_waits_until(failed(50, WINDOW_MS - 1), WINDOW_MS + 1), None);
        assert!(!POLICY.account_slowed(failed(50, 0), WINDOW_MS + 1));
    }

    #[test]
    fn an_account_is_slowed_only_past_its_ceiling() {
        assert!(!POLICY.account_slowed(failed(9, 0), 1));
        assert!(POLICY.account_slowed(failed(10, 0), 1));
        assert!(!POLICY.account_slowed(None, 1));
    }

    #[test]
    fn retry_after_is_rounded_up_to_a_second() {
        assert_eq!(seconds_until(1001, 0), 2);
        assert_eq!(seconds_until(0, 0), 1);
    }
}
