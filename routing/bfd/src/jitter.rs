//! The randomness the state machine needs: the per-packet jitter of periodic
//! transmission (RFC 5880 6.8.7). A trait, so tests choose the value and the
//! runner brings a real generator.

use std::time::Duration;

/// A source of jitter for periodic transmissions.
pub trait Jitter {
    /// A value in `min..=max` (per mille of the negotiated interval), ideally
    /// uniformly distributed. Out-of-range answers are clamped by the caller.
    fn per_mille(&mut self, min: u16, max: u16) -> u16;
}

/// Always the same answer (clamped to the range asked): for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedJitter(pub u16);

impl Jitter for FixedJitter {
    fn per_mille(&mut self, min: u16, max: u16) -> u16 {
        self.0.clamp(min, max)
    }
}

/// A small xorshift64* generator: jitter only has to avoid self-synchronisation
/// between systems (6.8.7), not to be unpredictable, so no crypto is needed.
#[derive(Debug, Clone)]
pub struct SeededJitter(u64);

impl SeededJitter {
    /// A generator from a seed (any value; zero is remapped).
    pub fn new(seed: u64) -> SeededJitter {
        SeededJitter(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Jitter for SeededJitter {
    fn per_mille(&mut self, min: u16, max: u16) -> u16 {
        let (lo, hi) = (min.min(max), max.max(min));
        let span = u64::from(hi - lo) + 1;
        // `span` is at most 65536, so the remainder fits u16 after adding `lo`.
        lo + (self.next_u64() % span) as u16
    }
}

/// The interval until the next periodic packet: RFC 5880 6.8.7 reduces each
/// interval by a random 0–25 %, and to 75–90 % when Detect Mult is 1 so that
/// one late packet cannot fire the peer's detection timer.
pub(crate) fn jittered(interval: Duration, detect_mult: u8, jitter: &mut dyn Jitter) -> Duration {
    let (min, max) = if detect_mult == 1 {
        (750, 900)
    } else {
        (750, 1000)
    };
    let pm = jitter.per_mille(min, max).clamp(min, max);
    interval * u32::from(pm) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_rfc_band() {
        let base = Duration::from_millis(1000);
        let mut j = SeededJitter::new(42);
        for _ in 0..10_000 {
            let d = jittered(base, 3, &mut j);
            assert!(d >= Duration::from_millis(750) && d <= base, "{d:?}");
            let d1 = jittered(base, 1, &mut j);
            assert!(
                d1 >= Duration::from_millis(750) && d1 <= Duration::from_millis(900),
                "{d1:?}"
            );
        }
    }

    #[test]
    fn fixed_jitter_is_clamped() {
        let base = Duration::from_millis(100);
        assert_eq!(
            jittered(base, 3, &mut FixedJitter(0)),
            Duration::from_millis(75)
        );
        assert_eq!(
            jittered(base, 3, &mut FixedJitter(u16::MAX)),
            Duration::from_millis(100)
        );
        assert_eq!(
            jittered(base, 1, &mut FixedJitter(1000)),
            Duration::from_millis(90)
        );
    }

    #[test]
    fn seeded_jitter_spreads() {
        let mut j = SeededJitter::new(0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            seen.insert(j.per_mille(750, 1000));
        }
        assert!(seen.len() > 100, "only {} distinct values", seen.len());
        assert!(seen.iter().all(|v| (750..=1000).contains(v)));
    }
}
