//! How fast one connection may make the core work: a token bucket for
//! messages and one for typing frames (everything else is cheap or bounded
//! by the room's state). A frame over its budget gets `rate_limited` with
//! the wait; a client that keeps going regardless is closed with 1008.
//! Pure: the caller passes the time, so tests need no clock.

use std::time::Duration;

use tokio::time::Instant;

/// Refusals in a row after which a client is taken to be flooding.
pub const REFUSALS_BEFORE_CLOSE: u16 = 50;

/// The limits of one connection, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct FrameLimits {
    /// `send` frames per second one WebSocket connection may make, with
    /// bursts of twice that.
    #[arg(long, env = "LIVECHAT_WS_MESSAGES_PER_SEC", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub messages_per_sec: u16,
    /// `typing` frames per second one WebSocket connection may make, with
    /// bursts of twice that.
    #[arg(long, env = "LIVECHAT_WS_TYPING_PER_SEC", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub typing_per_sec: u16,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self { messages_per_sec: 10, typing_per_sec: 5 }
    }
}

/// What a frame may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Over budget: answer `rate_limited`; a token is back after this long.
    Wait(Duration),
    /// Over budget for the `REFUSALS_BEFORE_CLOSE`th time in a row: close.
    Flooding,
}

/// A token bucket: `rate` tokens a second, at most `2 × rate` saved up.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f32,
    rate: f32,
    at: Instant,
}

impl Bucket {
    fn full(rate: u16, now: Instant) -> Self {
        let rate = f32::from(rate);
        Self { tokens: 2.0 * rate, rate, at: now }
    }

    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f32();
        self.tokens = (self.tokens + elapsed * self.rate).min(2.0 * self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f32((1.0 - self.tokens) / self.rate))
        }
    }
}

/// One connection's budgets.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    messages: Bucket,
    typing: Bucket,
    refused_in_a_row: u16,
}

/// The kinds of frame with a budget of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Costly {
    Message,
    Typing,
}

impl Costly {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "send",
            Self::Typing => "typing",
        }
    }
}

impl Budgets {
    pub fn new(limits: FrameLimits, now: Instant) -> Self {
        Self {
            messages: Bucket::full(limits.messages_per_sec, now),
            typing: Bucket::full(limits.typing_per_sec, now),
            refused_in_a_row: 0,
        }
    }

    /// Spends one frame of `kind`'s budget, if there is one.
    pub fn spend(&mut self, kind: Costly, now: Instant) -> Verdict {
        let bucket = match kind {
            Costly::Message => &mut self.messages,
            Costly::Typing => &mut self.typing,
        };
        match bucket.take(now) {
            Ok(()) => {
                self.refused_in_a_row = 0;
                Verdict::Go
            }
            Err(wait) => {
                self.refused_in_a_row = self.refused_in_a_row.saturating_add(1);
                if self.refused_in_a_row >= REFUSALS_BEFORE_CLOSE {
                    Verdict::Flooding
                } else {
                    Verdict::Wait(wait)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits { messages_per_sec: 10, typing_per_sec: 5 };

    #[test]
    fn a_burst_of_twice_the_rate_goes_then_the_next_frame_waits() {
        let t0 = Instant::now();
        let mut b = Budgets::new(LIMITS, t0);
        for i in 0..20 {
            assert_eq!(b.spend(Costly::Message, t0), Verdict::Go, "message {i}");
        }
        match b.spend(Costly::Message, t0) {
            Verdict::Wait(w) => {
                assert!((Duration::from_millis(99)..=Duration::from_millis(101)).contains(&w), "{w:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_budget_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Budgets::new(LIMITS, t0);
        (0..20).for_each(|_| assert_eq!(b.spend(Costly::Message, t0), Verdict::Go));
        let later = t0 + Duration::from_millis(500);
        let goes = (0..10).filter(|_| b.spend(Costly::Message, later) == Verdict::Go).count();
        assert_eq!(goes, 5, "half a second buys five messages at ten a second");
    }

    #[test]
    fn typing_has_a_budget_of_its_own() {
        let t0 = Instant::now();
        let mut b = Budgets::new(LIMITS, t0);
        (0..20).for_each(|_| assert_eq!(b.spend(Costly::Message, t0), Verdict::Go));
        (0..10).for_each(|_| assert_eq!(b.spend(Costly::Typing, t0), Verdict::Go));
        assert!(matches!(b.spend(Costly::Typing, t0), Verdict::Wait(_)));
    }

    #[test]
    fn a_client_that_keeps_going_is_flooding_and_one_that_waits_is_not() {
        let t0 = Instant::now();
        let mut b = Budgets::new(LIMITS, t0);
        (0..20).for_each(|_| assert_eq!(b.spend(Costly::Message, t0), Verdict::Go));
        for _ in 1..REFUSALS_BEFORE_CLOSE {
            assert!(matches!(b.spend(Costly::Message, t0), Verdict::Wait(_)));
        }
        // Waiting resets the count...
        assert_eq!(b.spend(Costly::Message, t0 + Duration::from_millis(100)), Verdict::Go);
        let t1 = t0 + Duration::from_millis(100);
        for _ in 1..REFUSALS_BEFORE_CLOSE {
            assert!(matches!(b.spend(Costly::Message, t1), Verdict::Wait(_)));
        }
        // ...not waiting does not.
        assert_eq!(b.spend(Costly::Message, t1), Verdict::Flooding);
    }
}
