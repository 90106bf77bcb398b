//! Lease time, T1 and T2 (RFC 2131 §4.4.5, RFC 2132 §9.2, §9.11, §9.12):
//! what the client does with the values a server sends.
//!
//! - Without option 58/59, T1 is 0.5 and T2 0.875 of the lease time.
//! - 0xffffffff is an infinite lease: no renewing, no rebinding, no expiry.
//! - Nonsense is repaired, never trusted and never a panic: a zero T1 or T2,
//!   a T2 at or past the end of the lease, a T1 past T2. The repaired values
//!   follow the RFC's defaults ([`Timers::from_reply`] says which), and the
//!   client counts every repair.
//! - A lease time of zero is not a lease: the reply is refused.

use std::time::Duration;

use thiserror::Error;

/// The lease time meaning "forever" (RFC 2131 §3.3).
pub const INFINITE: u32 = 0xffff_ffff;

/// Why a reply's times do not make a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TimesError {
    /// No lease time (option 51) in an OFFER or ACK.
    #[error("no lease time (option 51)")]
    NoLeaseTime,
    /// A lease time of zero seconds.
    #[error("a lease time of zero")]
    ZeroLease,
}

/// When to renew, rebind and give up, counted from when the lease was
/// obtained; `None` means never (an infinite lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// T1: start RENEWING.
    pub renew: Option<Duration>,
    /// T2: start REBINDING.
    pub rebind: Option<Duration>,
    /// The lease time: the address must go.
    pub expire: Option<Duration>,
}

/// The times as the server sent them (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseTimes {
    /// Option 51.
    pub lease: Option<u32>,
    /// Option 58 (T1).
    pub t1: Option<u32>,
    /// Option 59 (T2).
    pub t2: Option<u32>,
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl Timers {
    /// The timers for `times`; the flag says whether T1 or T2 had to be
    /// repaired (a value the server sent was not used as sent).
    pub fn from_reply(times: LeaseTimes) -> Result<(Timers, bool), TimesError> {
        let lease = times.lease.ok_or(TimesError::NoLeaseTime)?;
        if lease == 0 {
            return Err(TimesError::ZeroLease);
        }
        if lease == INFINITE {
            let never = Timers {
                renew: None,
                rebind: None,
                expire: None,
            };
            return Ok((never, false));
        }
        let expire = secs(lease);
        let mut repaired = false;
        // T2: 0 < T2 < lease, else 0.875 of the lease.
        let t2 = match times.t2 {
            Some(t2) if t2 != 0 && secs(t2) < expire => secs(t2),
            Some(_) => {
                repaired = true;
                expire * 7 / 8
            }
            None => expire * 7 / 8,
        };
        // T1: 0 < T1 <= T2, else 0.5 of the lease — or, when T2 comes
        // before that, the same 4:7 proportion of T2 the defaults have.
        let default_t1 = if expire / 2 < t2 {
            expire / 2
        } else {
            t2 * 4 / 7
        };
        let t1 = match times.t1 {
            Some(t1) if t1 != 0 && secs(t1) <= t2 => secs(t1),
            Some(_) => {
                repaired = true;
                default_t1
            }
            None => default_t1,
        };
        let timers = Timers {
            renew: Some(t1),
            rebind: Some(t2),
            expire: Some(expire),
        };
        Ok((timers, repaired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(
        lease: Option<u32>,
        t1: Option<u32>,
        t2: Option<u32>,
    ) -> Result<(Timers, bool), TimesError> {
        Timers::from_reply(LeaseTimes { lease, t1, t2 })
    }

    fn at(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn defaults_are_half_and_seven_eighths_of_the_lease() {
        let (timers, repaired) = t(Some(3600), None, None).expect("lease");
        assert!(!repaired);
        assert_eq!(timers.renew, at(1800));
        assert_eq!(timers.rebind, at(3150));
        assert_eq!(timers.expire, at(3600));
    }

    #[test]
    fn times_the_server_sends_are_used_when_they_make_sense() {
        let (timers, repaired) = t(Some(120), Some(10), Some(20)).expect("lease");
        assert!(!repaired);
        assert_eq!((timers.renew, timers.rebind), (at(10), at(20)));
        // T1 == T2 is odd but harmless: renewing ends at once in rebinding.
        let (timers, repaired) = t(Some(120), Some(20), Some(20)).expect("lease");
        assert!(!repaired);
        assert_eq!(timers.renew, timers.rebind);
    }

    #[test]
    fn nonsense_is_repaired_and_reported() {
        // T1 past T2.
        let (timers, repaired) = t(Some(3600), Some(3000), Some(2000)).expect("lease");
        assert!(repaired);
        assert_eq!((timers.renew, timers.rebind), (at(1800), at(2000)));
        // T2 at and past the lease, and infinite T2 on a finite lease.
        for bad in [3600, 5000, INFINITE] {
            let (timers, repaired) = t(Some(3600), None, Some(bad)).expect("lease");
            assert!(repaired, "{bad}");
            assert_eq!(timers.rebind, at(3150));
        }
        // Zeros.
        let (timers, repaired) = t(Some(3600), Some(0), Some(0)).expect("lease");
        assert!(repaired);
        assert_eq!((timers.renew, timers.rebind), (at(1800), at(3150)));
        // A short T2 pulls the default T1 below it.
        let (timers, repaired) = t(Some(3600), Some(4000), Some(700)).expect("lease");
        assert!(repaired);
        assert_eq!(timers.renew, at(400));
        assert!(timers.renew < timers.rebind);
    }

    #[test]
    fn an_infinite_lease_has_no_timers_and_a_zero_or_missing_one_is_refused() {
        let (timers, _) = t(Some(INFINITE), Some(10), Some(20)).expect("lease");
        assert_eq!(timers.renew, None);
        assert_eq!(timers.expire, None);
        assert_eq!(t(Some(0), None, None), Err(TimesError::ZeroLease));
        assert_eq!(t(None, Some(1), Some(2)), Err(TimesError::NoLeaseTime));
        // A one-second lease still has ordered, non-zero timers.
        let (timers, _) = t(Some(1), None, None).expect("lease");
        assert!(timers.renew < timers.rebind && timers.rebind < timers.expire);
    }
}
