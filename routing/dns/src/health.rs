//! An upstream's health: healthy or unhealthy by consecutive failures and
//! successes (`failThreshold`/`passThreshold`), with counters for status.
//!
//! Pure: the caller reports each exchange's outcome; nothing here does I/O or
//! reads a clock, so transitions are tested as plain sequences.

use std::time::Duration;

use crate::error::UpstreamError;
use crate::spec::{DEFAULT_FAIL_THRESHOLD, DEFAULT_PASS_THRESHOLD};

/// When an upstream changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Consecutive failures that make a healthy upstream unhealthy.
    pub(crate) fail: u32,
    /// Consecutive successes that make an unhealthy upstream healthy.
    pub(crate) pass: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            fail: DEFAULT_FAIL_THRESHOLD,
            pass: DEFAULT_PASS_THRESHOLD,
        }
    }
}

/// A change of state worth an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// `fail` failures in a row.
    BecameUnhealthy,
    /// `pass` successes in a row after being unhealthy.
    BecameHealthy,
}

/// Whether an exchange came from a lookup or from an active probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Lookup,
    Probe,
}

/// The health record of one upstream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Health {
    pub(crate) healthy: bool,
    pub(crate) consecutive_failures: u32,
    pub(crate) consecutive_successes: u32,
    pub(crate) last_error: Option<UpstreamError>,
    pub(crate) last_rtt: Option<Duration>,
    /// Exchanges, lookups and probes together.
    pub(crate) queries: u64,
    /// Failed exchanges, lookups and probes together.
    pub(crate) failures: u64,
    /// Of `queries`, how many were probes.
    pub(crate) probes: u64,
}

impl Default for Health {
    /// Healthy until proven otherwise: an upstream nobody has asked yet must be
    /// tried in its configured place, not last.
    fn default() -> Self {
        Self {
            healthy: true,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_error: None,
            last_rtt: None,
            queries: 0,
            failures: 0,
            probes: 0,
        }
    }
}

impl Health {
    /// Records an answer (including NXDOMAIN/NODATA) after `rtt`.
    pub(crate) fn success(
        &mut self,
        rtt: Duration,
        source: Source,
        th: Thresholds,
    ) -> Option<Transition> {
        self.count(source);
        self.last_rtt = Some(rtt);
        self.consecutive_failures = 0;
        self.consecutive_successes = self.consecutive_successes.saturating_add(1);
        if !self.healthy && self.consecutive_successes >= th.pass {
            self.healthy = true;
            return Some(Transition::BecameHealthy);
        }
        None
    }

    /// Records a failed exchange.
    pub(crate) fn failure(
        &mut self,
        error: &UpstreamError,
        source: Source,
        th: Thresholds,
    ) -> Option<Transition> {
        self.count(source);
        self.failures += 1;
        self.last_error = Some(error.clone());
        self.consecutive_successes = 0;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.healthy && self.consecutive_failures >= th.fail {
            self.healthy = false;
            return Some(Transition::BecameUnhealthy);
        }
        None
    }

    fn count(&mut self, source: Source) {
        self.queries += 1;
        if source == Source::Probe {
            self.probes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(3);

    #[test]
    fn fail_threshold_failures_in_a_row_make_it_unhealthy() {
        let th = Thresholds { fail: 3, pass: 2 };
        let mut h = Health::default();
        let err = UpstreamError::Timeout;
        assert_eq!(h.failure(&err, Source::Lookup, th), None);
        assert_eq!(h.failure(&err, Source::Lookup, th), None);
        // A success in between resets the run.
        assert_eq!(h.success(RTT, Source::Lookup, th), None);
        assert_eq!(h.failure(&err, Source::Lookup, th), None);
        assert_eq!(h.failure(&err, Source::Lookup, th), None);
        assert!(h.healthy);
        assert_eq!(
            h.failure(&err, Source::Probe, th),
            Some(Transition::BecameUnhealthy)
        );
        assert!(!h.healthy);
        // Further failures are no new transition.
        assert_eq!(h.failure(&err, Source::Lookup, th), None);
        assert_eq!(h.queries, 7);
        assert_eq!(h.failures, 6);
        assert_eq!(h.probes, 1);
        assert_eq!(h.last_error, Some(UpstreamError::Timeout));
        assert_eq!(h.last_rtt, Some(RTT));
    }

    #[test]
    fn pass_threshold_successes_in_a_row_make_it_healthy_again() {
        let th = Thresholds { fail: 1, pass: 2 };
        let mut h = Health::default();
        assert_eq!(
            h.failure(&UpstreamError::ServFail, Source::Lookup, th),
            Some(Transition::BecameUnhealthy)
        );
        assert_eq!(h.success(RTT, Source::Lookup, th), None);
        assert_eq!(
            h.failure(&UpstreamError::Refused, Source::Lookup, th),
            None,
            "already unhealthy"
        );
        assert_eq!(h.success(RTT, Source::Lookup, th), None);
        assert_eq!(
            h.success(RTT, Source::Probe, th),
            Some(Transition::BecameHealthy)
        );
        assert!(h.healthy);
        // The last error stays for the status: it says what happened last time.
        assert_eq!(h.last_error, Some(UpstreamError::Refused));
    }
}
