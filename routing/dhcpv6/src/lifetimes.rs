//! What a client does with the times in an IA_PD (RFC 8415 §14.2, §21.21,
//! §21.22): which prefixes to keep, and when to Renew, Rebind and give up.
//!
//! Servers send nonsense too: T1 above T2, zeros, infinity (0xffffffff), a
//! preferred lifetime above the valid one. Each case has an RFC answer, and
//! [`Timers::from_ia`] applies it.

use std::time::Duration;

use thiserror::Error;

/// 0xffffffff: "infinity" in every DHCPv6 time field.
pub const INFINITY: u32 = u32::MAX;

/// T1 and T2 of an IA, in seconds as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaTimes {
    /// When to Renew (0: the client decides).
    pub t1: u32,
    /// When to Rebind (0: the client decides).
    pub t2: u32,
}

/// One delegated prefix's lifetimes, in seconds as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLifetimes {
    /// Preferred lifetime.
    pub preferred: u32,
    /// Valid lifetime (0: the server withdraws the prefix).
    pub valid: u32,
}

/// Why an IA (or one of its prefixes) is not taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LifetimeError {
    /// §21.21: T1 > T2 with both non-zero: the whole IA_PD is discarded.
    #[error("T1 ({t1} s) is greater than T2 ({t2} s)")]
    T1AboveT2 {
        /// T1 as sent.
        t1: u32,
        /// T2 as sent.
        t2: u32,
    },
    /// §21.22: a prefix whose preferred lifetime exceeds its valid lifetime is
    /// discarded.
    #[error("preferred lifetime ({preferred} s) is greater than the valid lifetime ({valid} s)")]
    PreferredAboveValid {
        /// Preferred lifetime as sent.
        preferred: u32,
        /// Valid lifetime as sent.
        valid: u32,
    },
    /// Every prefix was withdrawn or discarded: nothing left to hold.
    #[error("no usable prefix in the IA_PD")]
    NoPrefix,
}

/// When, counted from the Reply, to Renew, Rebind and drop the lease; `None`
/// means never (infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Renew at T1.
    pub renew: Option<Duration>,
    /// Rebind at T2.
    pub rebind: Option<Duration>,
    /// The last valid lifetime ends: the lease is gone.
    pub expire: Option<Duration>,
}

/// Checks one prefix (§21.22).
pub fn check_prefix(p: PrefixLifetimes) -> Result<(), LifetimeError> {
    if p.preferred > p.valid {
        return Err(LifetimeError::PreferredAboveValid {
            preferred: p.preferred,
            valid: p.valid,
        });
    }
    Ok(())
}

fn secs(v: u32) -> Option<Duration> {
    (v != INFINITY).then(|| Duration::from_secs(u64::from(v)))
}

impl Timers {
    /// The timers for an IA with `times` holding `prefixes` (those that pass
    /// [`check_prefix`] and have a non-zero valid lifetime count).
    ///
    /// - T1 > T2, both non-zero: the IA is refused (§21.21).
    /// - T1 or T2 zero: the client picks 0.5 and 0.8 times the shortest
    ///   preferred lifetime (§21.21, "at the client's discretion"; the
    ///   fractions are the RFC's recommended values from §21.4).
    /// - Infinity: never.
    /// - T2 is never later than the lease's end, and T1 never later than T2.
    pub fn from_ia(times: IaTimes, prefixes: &[PrefixLifetimes]) -> Result<Timers, LifetimeError> {
        if times.t1 != 0 && times.t2 != 0 && times.t1 > times.t2 {
            return Err(LifetimeError::T1AboveT2 {
                t1: times.t1,
                t2: times.t2,
            });
        }
        let usable: Vec<PrefixLifetimes> = prefixes
            .iter()
            .copied()
            .filter(|p| check_prefix(*p).is_ok() && p.valid != 0)
            .collect();
        if usable.is_empty() {
            return Err(LifetimeError::NoPrefix);
        }
        // The lease ends with the last valid lifetime; renewals are timed by
        // the shortest preferred one.
        let expire = if usable.iter().any(|p| p.valid == INFINITY) {
            None
        } else {
            usable.iter().map(|p| secs(p.valid)).max().flatten()
        };
        let shortest_preferred = usable.iter().map(|p| p.preferred).min().unwrap_or(0);
        let pick = |fraction: f64| -> Option<Duration> {
            secs(shortest_preferred).map(|d| d.mul_f64(fraction))
        };
        let mut renew = if times.t1 == 0 {
            pick(0.5)
        } else {
            secs(times.t1)
        };
        let mut rebind = if times.t2 == 0 {
            pick(0.8)
        } else {
            secs(times.t2)
        };
        if let (Some(r), Some(e)) = (rebind, expire) {
            rebind = Some(r.min(e));
        }
        if let (Some(n), Some(b)) = (renew, rebind) {
            renew = Some(n.min(b));
        }
        if renew.is_none() && rebind.is_some() {
            // An infinite T1 with a finite T2 would skip Renew: rebind then.
            renew = rebind;
        }
        Ok(Timers {
            renew,
            rebind,
            expire,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Option<Duration> = |s| Some(Duration::from_secs(s));

    fn pfx(preferred: u32, valid: u32) -> PrefixLifetimes {
        PrefixLifetimes { preferred, valid }
    }

    #[test]
    fn server_times_are_used_as_sent() {
        let t = Timers::from_ia(IaTimes { t1: 60, t2: 96 }, &[pfx(120, 180)]).expect("valid");
        assert_eq!((t.renew, t.rebind, t.expire), (S(60), S(96), S(180)));
    }

    #[test]
    fn t1_above_t2_discards_the_ia() {
        assert_eq!(
            Timers::from_ia(IaTimes { t1: 100, t2: 50 }, &[pfx(120, 180)]),
            Err(LifetimeError::T1AboveT2 { t1: 100, t2: 50 })
        );
    }

    #[test]
    fn zero_times_are_the_clients_choice_from_the_shortest_preferred_lifetime() {
        let t = Timers::from_ia(IaTimes { t1: 0, t2: 0 }, &[pfx(100, 200), pfx(300, 400)])
            .expect("valid");
        assert_eq!((t.renew, t.rebind, t.expire), (S(50), S(80), S(400)));
    }

    #[test]
    fn infinity_means_never_and_t2_never_outlives_the_lease() {
        let t = Timers::from_ia(
            IaTimes {
                t1: INFINITY,
                t2: INFINITY,
            },
            &[pfx(INFINITY, INFINITY)],
        )
        .expect("valid");
        assert_eq!((t.renew, t.rebind, t.expire), (None, None, None));
        let t = Timers::from_ia(IaTimes { t1: 500, t2: 800 }, &[pfx(100, 300)]).expect("valid");
        assert_eq!((t.renew, t.rebind, t.expire), (S(300), S(300), S(300)));
    }

    #[test]
    fn prefixes_with_preferred_above_valid_or_withdrawn_do_not_count() {
        assert!(check_prefix(pfx(200, 100)).is_err());
        assert_eq!(
            Timers::from_ia(IaTimes { t1: 10, t2: 20 }, &[pfx(200, 100), pfx(0, 0)]),
            Err(LifetimeError::NoPrefix)
        );
        let t = Timers::from_ia(IaTimes { t1: 10, t2: 20 }, &[pfx(200, 100), pfx(50, 60)])
            .expect("one usable prefix");
        assert_eq!(t.expire, S(60));
    }
}
