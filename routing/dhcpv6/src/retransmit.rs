//! Retransmission timing of one message exchange (RFC 8415 §15).
//!
//! ```text
//! RT = IRT + RAND*IRT                 first transmission
//! RT = 2*RTprev + RAND*RTprev         every later one
//! if MRT != 0 and RT > MRT: RT = MRT + RAND*MRT
//! ```
//!
//! RAND is uniform in [-0.1, +0.1]; for Solicit the first RT must be strictly
//! greater than IRT (§18.2.1), so RAND is taken in (0, +0.1] there. MRC (a
//! count of transmissions) and MRD (a total duration) end the exchange when
//! non-zero; MRD counts from the first transmission.

use std::time::{Duration, Instant};

/// A source of RAND: returns a value in [-1000, 1000] (thousandths of the
/// ±10 % range). Real clients use a random source; tests use fixed values.
pub trait Jitter {
    /// The next value in [-1000, 1000].
    fn next_permille(&mut self) -> i32;
}

/// A random delay in `[0, max]` (SOL_MAX_DELAY, INF_MAX_DELAY).
pub fn random_delay(max: Duration, jitter: &mut dyn Jitter) -> Duration {
    let r = f64::from(jitter.next_permille() + 1000) / 2000.0;
    max.mul_f64(r.clamp(0.0, 1.0))
}

/// A fresh transaction id (§16.1): the exchange counter `seq` mixed with
/// the jitter source.
pub fn transaction_id(seq: u32, jitter: &mut dyn Jitter) -> [u8; 3] {
    let r = u32::try_from(jitter.next_permille() + 1000).unwrap_or(0);
    let v = seq.wrapping_mul(0x9e37_79b9) ^ r.wrapping_mul(0x85eb_ca6b);
    let b = v.to_be_bytes();
    [b[1], b[2], b[3]]
}

/// Always the same value: virtual-time tests and benchmarks of the worst case.
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub i32);

impl Jitter for FixedJitter {
    fn next_permille(&mut self) -> i32 {
        self.0.clamp(-1000, 1000)
    }
}

/// The message an exchange sends (its parameters are fixed by RFC 8415 §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MessageKind {
    /// Solicit: IRT 1 s, MRT 3600 s (SOL_MAX_RT, a server may lower it), no MRC/MRD.
    Solicit,
    /// Request: IRT 1 s, MRT 30 s, MRC 10.
    Request,
    /// Renew: IRT 10 s, MRT 600 s, MRD until T2.
    Renew,
    /// Rebind: IRT 10 s, MRT 600 s, MRD until the valid lifetimes end.
    Rebind,
    /// Release: IRT 1 s, MRC 4 (REL_MAX_RC).
    Release,
    /// Information-request: IRT 1 s, MRT 3600 s (INF_MAX_RT).
    InformationRequest,
}

impl MessageKind {
    /// The name used in events and status.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Solicit => "Solicit",
            MessageKind::Request => "Request",
            MessageKind::Renew => "Renew",
            MessageKind::Rebind => "Rebind",
            MessageKind::Release => "Release",
            MessageKind::InformationRequest => "Information-request",
        }
    }
}

/// One exchange's timing parameters; zero means "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Initial retransmission time.
    pub irt: Duration,
    /// Maximum retransmission time.
    pub mrt: Duration,
    /// Maximum transmission count.
    pub mrc: u32,
    /// Maximum total duration.
    pub mrd: Duration,
    /// The first RT lies strictly above IRT (Solicit only).
    pub first_above_irt: bool,
}

const SEC: Duration = Duration::from_secs(1);

impl Params {
    /// The RFC 8415 §7.6 defaults for `kind`. Renew and Rebind get their MRD
    /// from the lease ([`Params::with_mrd`]).
    pub fn for_kind(kind: MessageKind) -> Params {
        let p = |irt: u64, mrt: u64, mrc: u32| Params {
            irt: SEC * u32::try_from(irt).unwrap_or(u32::MAX),
            mrt: SEC * u32::try_from(mrt).unwrap_or(u32::MAX),
            mrc,
            mrd: Duration::ZERO,
            first_above_irt: false,
        };
        match kind {
            MessageKind::Solicit => Params {
                first_above_irt: true,
                ..p(1, 3600, 0)
            },
            MessageKind::Request => p(1, 30, 10),
            MessageKind::Renew | MessageKind::Rebind => p(10, 600, 0),
            MessageKind::Release => p(1, 0, 4),
            MessageKind::InformationRequest => p(1, 3600, 0),
        }
    }

    /// The same with a maximum duration (Renew: until T2; Rebind: until the
    /// last valid lifetime ends).
    pub fn with_mrd(self, mrd: Duration) -> Params {
        Params { mrd, ..self }
    }

    /// The same with another MRT (a server's SOL_MAX_RT or INF_MAX_RT option,
    /// §21.24/§21.25: honoured only within 60..=86400 s).
    pub fn with_server_mrt(self, secs: u32) -> Params {
        if (60..=86_400).contains(&secs) {
            Params {
                mrt: SEC * secs,
                ..self
            }
        } else {
            self
        }
    }
}

/// One message exchange in progress: when to (re)transmit and when to give up.
#[derive(Debug, Clone)]
pub struct Exchange {
    params: Params,
    started: Instant,
    rt: Duration,
    sent: u32,
    next: Instant,
}

fn scale(d: Duration, permille_of_tenth: i32) -> Duration {
    // RAND*d with RAND = permille/1000 * 0.1, i.e. d * permille / 10000.
    let nanos = i128::try_from(d.as_nanos()).unwrap_or(i128::MAX);
    let delta = nanos * i128::from(permille_of_tenth) / 10_000;
    let total = (nanos + delta).max(0);
    Duration::from_nanos(u64::try_from(total).unwrap_or(u64::MAX))
}

impl Exchange {
    /// Starts an exchange whose first transmission happens at `now`; returns
    /// it with the time of the first retransmission in [`Exchange::next`].
    pub fn start(params: Params, now: Instant, jitter: &mut dyn Jitter) -> Exchange {
        let mut rand = jitter.next_permille();
        if params.first_above_irt {
            // Strictly positive: (0, 1000].
            rand = rand.unsigned_abs().clamp(1, 1000) as i32;
        }
        let rt = cap(params, scale(params.irt, rand), jitter);
        Exchange {
            params,
            started: now,
            rt,
            sent: 1,
            next: now + rt,
        }
    }

    /// When the next transmission is due (or the exchange ends, see
    /// [`Exchange::retransmit`]).
    pub fn next(&self) -> Instant {
        self.next.min(self.deadline().unwrap_or(self.next))
    }

    /// When MRD ends the exchange, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.params.mrd.is_zero()).then(|| self.started + self.params.mrd)
    }

    /// Transmissions so far (the first included).
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// The current retransmission timeout.
    pub fn rt(&self) -> Duration {
        self.rt
    }

    /// At `now` (no earlier than [`Exchange::next`]): `true` to transmit
    /// again (the next time is then in [`Exchange::next`]), `false` when MRC
    /// or MRD ended the exchange and the client must move on.
    pub fn retransmit(&mut self, now: Instant, jitter: &mut dyn Jitter) -> bool {
        if self.deadline().is_some_and(|d| now >= d) {
            return false;
        }
        if self.params.mrc != 0 && self.sent >= self.params.mrc {
            return false;
        }
        // 2*RTprev + RAND*RTprev: RTprev, plus RTprev with RAND applied.
        let rand = jitter.next_permille();
        let rt = self.rt.saturating_add(scale(self.rt, rand));
        self.rt = cap(self.params, rt, jitter);
        self.sent += 1;
        self.next = now + self.rt;
        true
    }
}

fn cap(params: Params, rt: Duration, jitter: &mut dyn Jitter) -> Duration {
    if !params.mrt.is_zero() && rt > params.mrt {
        scale(params.mrt, jitter.next_permille())
    } else {
        rt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicit_starts_strictly_above_irt_and_doubles_up_to_sol_max_rt() {
        let t0 = Instant::now();
        // Even with RAND at its lowest, the first Solicit RT exceeds IRT.
        let mut low = FixedJitter(-1000);
        let e = Exchange::start(Params::for_kind(MessageKind::Solicit), t0, &mut low);
        assert!(e.rt() > SEC, "first RT {:?}", e.rt());
        let mut none = FixedJitter(0);
        let mut e = Exchange::start(Params::for_kind(MessageKind::Solicit), t0, &mut none);
        assert_eq!(
            e.rt(),
            SEC + Duration::from_micros(100),
            "RAND 0 becomes the smallest positive value"
        );
        let mut rts = Vec::new();
        for _ in 0..15 {
            let now = e.next();
            assert!(e.retransmit(now, &mut none), "Solicit has no MRC/MRD");
            rts.push(e.rt().as_secs());
        }
        // 2, 4, ..., 2048, then capped at SOL_MAX_RT.
        assert_eq!(&rts[..4], &[2, 4, 8, 16]);
        assert_eq!(*rts.last().expect("some"), 3600);
    }

    #[test]
    fn jitter_stays_within_ten_percent_of_the_doubled_time() {
        let t0 = Instant::now();
        for permille in [-1000, -500, 0, 500, 1000] {
            let mut j = FixedJitter(permille);
            let mut e = Exchange::start(Params::for_kind(MessageKind::Request), t0, &mut j);
            let first = e.rt();
            assert!(first >= SEC * 9 / 10 && first <= SEC * 11 / 10, "{first:?}");
            let now = e.next();
            assert!(e.retransmit(now, &mut j));
            let second = e.rt();
            // RT = 2*RTprev + RAND*RTprev, RAND in [-0.1, 0.1].
            assert!(second >= first.mul_f64(1.9) && second <= first.mul_f64(2.1));
        }
    }

    #[test]
    fn request_gives_up_after_ten_transmissions() {
        let t0 = Instant::now();
        let mut j = FixedJitter(0);
        let mut e = Exchange::start(Params::for_kind(MessageKind::Request), t0, &mut j);
        let mut sent = 1;
        while e.retransmit(e.next(), &mut j) {
            sent += 1;
            assert!(sent <= 10);
        }
        assert_eq!(sent, 10);
        // REQ_MAX_RT caps each wait at 30 s.
        assert_eq!(e.rt().as_secs(), 30);
    }

    #[test]
    fn renew_ends_at_its_mrd_even_between_retransmissions() {
        let t0 = Instant::now();
        let mut j = FixedJitter(0);
        let until_t2 = Duration::from_secs(25);
        let params = Params::for_kind(MessageKind::Renew).with_mrd(until_t2);
        let mut e = Exchange::start(params, t0, &mut j);
        assert_eq!(e.next(), t0 + SEC * 10);
        assert!(e.retransmit(e.next(), &mut j));
        // The next RT (20 s) would end after T2: the exchange wakes at T2.
        assert_eq!(e.next(), t0 + until_t2);
        assert!(!e.retransmit(e.next(), &mut j));
    }

    #[test]
    fn release_is_sent_at_most_four_times() {
        let t0 = Instant::now();
        let mut j = FixedJitter(300);
        let mut e = Exchange::start(Params::for_kind(MessageKind::Release), t0, &mut j);
        while e.retransmit(e.next(), &mut j) {}
        assert_eq!(e.sent(), 4);
    }

    #[test]
    fn a_server_sol_max_rt_is_honoured_only_within_its_range() {
        let p = Params::for_kind(MessageKind::Solicit);
        assert_eq!(p.with_server_mrt(120).mrt, SEC * 120);
        assert_eq!(p.with_server_mrt(10).mrt, SEC * 3600);
        assert_eq!(p.with_server_mrt(100_000).mrt, SEC * 3600);
    }
}
