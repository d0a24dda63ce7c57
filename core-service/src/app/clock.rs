//! The core's time. Production reads the system clock; a test holds the
//! same `Clock` as the core it started, moves it forward, and waits for the
//! timers to have looked at the new time, so expiry and grace periods are
//! tested exactly and without waiting for them in real time.
//!
//! Tokens are the exception: a JWT library checks `exp` against the wall
//! clock, so tokens are issued on `wall_clock_ms`, whatever a test did.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::domain::Millis;

/// Unix milliseconds, plus however far a test has moved it. Cheap to
/// clone; clones share the same time.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// How far `advance` has moved this clock past the system's.
    offset_ms: AtomicI64,
    /// Wakes the timers when the time jumps.
    advanced: Notify,
    /// The time the timers last started a round at.
    timers_ran_at: watch::Sender<Millis>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system's time.
    pub fn system() -> Self {
        Self {
            inner: Arc::new(Inner {
                offset_ms: AtomicI64::new(0),
                advanced: Notify::new(),
                timers_ran_at: watch::Sender::new(Millis::MIN),
            }),
        }
    }

    /// Now, in unix milliseconds.
    pub fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis() + self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves the time forward (tests only: production never calls it), and
    /// wakes the timers to look at it.
    pub fn advance(&self, by: Duration) {
        self.inner.offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
        self.inner.advanced.notify_one();
    }

    /// Resolves once the core's timers have run a whole round that started
    /// at or after this moment: whatever was due by now has been done.
    pub async fn timers_caught_up(&self) {
        let target = self.now_ms();
        let mut ran = self.inner.timers_ran_at.subscribe();
        self.inner.advanced.notify_one();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = ran.wait_for(|at| *at >= target).await;
    }

    /// Resolves when a test moved the time.
    pub(crate) async fn advanced(&self) {
        self.inner.advanced.notified().await
    }

    /// The timers finished a round started at `at`.
    pub(crate) fn timers_ran(&self, at: Millis) {
        self.inner.timers_ran_at.send_replace(at);
    }
}

/// Unix milliseconds on the wall clock, for tokens (see the module comment).
pub fn wall_clock_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_time_a_test_moved() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now_ms();
        clock.advance(Duration::from_secs(3600));
        let moved = other.now_ms() - before;
        assert!((3_600_000..3_660_000).contains(&moved), "moved {moved} ms");
    }

    #[tokio::test]
    async fn catching_up_waits_for_a_round_that_started_after_now() {
        let clock = Clock::system();
        clock.timers_ran(clock.now_ms() - 1);
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { clock.timers_caught_up().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a round from before now does not count");
        clock.timers_ran(clock.now_ms() + 1);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }
}
