//! Retransmission timing (RFC 2131 §4.1, §4.4.5).
//!
//! - DISCOVER and REQUEST while the client has no address: the first wait
//!   is 4 s, doubled after each transmission up to 64 s, each wait
//!   randomised by a uniform value in [-1 s, +1 s].
//! - REQUEST in RENEWING / REBINDING: wait half the time left until T2
//!   (RENEWING) or until the lease ends (REBINDING), at least 60 s — but
//!   never past that boundary, so a short lease still moves on to
//!   REBINDING at T2 and to expiry at the lease time.
//!
//! RAND comes from the [`Jitter`] of `routerd-dhcpv6-core` (a value in
//! [-1000, 1000]); here it is read as thousandths of a second.

use std::time::Duration;

pub use routerd_dhcpv6_core::retransmit::random_delay;
pub use routerd_dhcpv6_core::{FixedJitter, Jitter};

/// The first retransmission wait before randomisation (§4.1).
pub const FIRST_WAIT: Duration = Duration::from_secs(4);
/// The longest retransmission wait before randomisation (§4.1).
pub const MAX_WAIT: Duration = Duration::from_secs(64);
/// The shortest wait between REQUESTs while renewing or rebinding (§4.4.5).
pub const MIN_RENEW_WAIT: Duration = Duration::from_secs(60);

/// The doubling wait of §4.1: 4, 8, 16, 32, 64, 64, ... seconds, each ±1 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    nominal: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A backoff whose first wait is 4 s (±1 s).
    pub fn new() -> Backoff {
        Backoff {
            nominal: FIRST_WAIT,
        }
    }

    /// The wait after the current transmission (randomised), and doubles the
    /// nominal wait for the next one.
    pub fn next_wait(&mut self, jitter: &mut dyn Jitter) -> Duration {
        let wait = randomise(self.nominal, jitter);
        self.nominal = (self.nominal * 2).min(MAX_WAIT);
        wait
    }

    /// The nominal (unrandomised) wait the next call will use.
    pub fn nominal(&self) -> Duration {
        self.nominal
    }
}

/// `d` plus RAND in [-1 s, +1 s].
pub fn randomise(d: Duration, jitter: &mut dyn Jitter) -> Duration {
    let ms = i64::from(jitter.next_permille().clamp(-1000, 1000));
    let base = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Duration::from_millis(u64::try_from(base.saturating_add(ms).max(0)).unwrap_or(0))
}

/// The wait before the next REQUEST while renewing (`left` = time until T2)
/// or rebinding (`left` = time until the lease ends): half of `left`, at
/// least [`MIN_RENEW_WAIT`], never more than `left` (§4.4.5).
pub fn extend_wait(left: Duration) -> Duration {
    (left / 2).max(MIN_RENEW_WAIT).min(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn waits_double_from_four_to_sixty_four_seconds() {
        let mut b = Backoff::new();
        let mut none = FixedJitter(0);
        let waits: Vec<u64> = (0..7).map(|_| b.next_wait(&mut none).as_secs()).collect();
        assert_eq!(waits, [4, 8, 16, 32, 64, 64, 64]);
    }

    #[test]
    fn randomisation_stays_within_one_second() {
        for (permille, want_ms) in [(-1000, 3000), (-250, 3750), (0, 4000), (1000, 5000)] {
            let mut j = FixedJitter(permille);
            assert_eq!(Backoff::new().next_wait(&mut j).as_millis(), want_ms);
        }
        // Even a zero wait cannot go negative.
        let mut low = FixedJitter(-1000);
        assert_eq!(randomise(Duration::ZERO, &mut low), Duration::ZERO);
    }

    #[test]
    fn renew_waits_half_the_time_left_but_at_least_a_minute_and_never_past_it() {
        // A day-long lease: half of what is left.
        assert_eq!(extend_wait(SEC * 37_800), SEC * 18_900);
        // Less than two minutes left: the 60 s floor.
        assert_eq!(extend_wait(SEC * 100), SEC * 60);
        // Less than a minute left: exactly what is left, so the boundary
        // (T2 or expiry) is not overshot.
        assert_eq!(extend_wait(SEC * 45), SEC * 45);
        assert_eq!(extend_wait(Duration::ZERO), Duration::ZERO);
    }
}
