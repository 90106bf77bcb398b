//! CLOCK_MONOTONIC in nanoseconds, shared with routerd on the same host, and its
//! conversion to `Instant` (which reads the same clock on Linux): the clock of
//! the grant deadlines routerd hands the VRRP and BGP daemons.

use std::time::{Duration, Instant};

/// Nanoseconds on CLOCK_MONOTONIC now.
pub fn mono_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// The `Instant` of a CLOCK_MONOTONIC time.
pub fn instant_from_mono_ns(ns: u64) -> Instant {
    let (now, now_ns) = (Instant::now(), mono_now_ns());
    if ns >= now_ns {
        now + Duration::from_nanos(ns - now_ns)
    } else {
        now.checked_sub(Duration::from_nanos(now_ns - ns))
            .unwrap_or(now)
    }
}

/// The CLOCK_MONOTONIC time of an `Instant`.
pub fn mono_ns_from_instant(at: Instant) -> u64 {
    let (now, now_ns) = (Instant::now(), mono_now_ns());
    if at >= now {
        now_ns.saturating_add(u64::try_from((at - now).as_nanos()).unwrap_or(u64::MAX))
    } else {
        now_ns.saturating_sub(u64::try_from((now - at).as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_within_a_millisecond() {
        let target = mono_now_ns() + 5_000_000_000;
        let back = mono_ns_from_instant(instant_from_mono_ns(target));
        assert!(back.abs_diff(target) < 1_000_000, "{back} vs {target}");
    }
}
