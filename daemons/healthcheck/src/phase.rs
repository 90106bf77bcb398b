//! The health phase state machine: probe results in, transitions out.
//!
//! Pure: no sockets, no clock. Time comes in with each observation so tests can
//! drive it with plain sequences and the daemon can persist what it returns.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::probe::ProbeResult;

/// What the check currently believes about its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    /// Not enough evidence yet, or the check is disabled.
    #[default]
    Unknown,
    /// `healthyThreshold` consecutive successes.
    Healthy,
    /// `unhealthyThreshold` consecutive failures.
    Unhealthy,
}

impl Phase {
    /// The name used in status and events (`Healthy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Unknown => "Unknown",
            Phase::Healthy => "Healthy",
            Phase::Unhealthy => "Unhealthy",
        }
    }

    /// The lowercase word used as the last part of an event topic.
    pub fn topic_word(self) -> &'static str {
        match self {
            Phase::Unknown => "unknown",
            Phase::Healthy => "healthy",
            Phase::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened; also the event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Enough consecutive successes.
    BecameHealthy,
    /// Enough consecutive failures.
    BecameUnhealthy,
    /// The check was disabled; nothing is known any more.
    Disabled,
}

impl Reason {
    /// The CamelCase name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BecameHealthy => "BecameHealthy",
            Reason::BecameUnhealthy => "BecameUnhealthy",
            Reason::Disabled => "Disabled",
        }
    }
}

/// A phase change returned by the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Phase before.
    pub from: Phase,
    /// Phase after.
    pub to: Phase,
    /// Why.
    pub reason: Reason,
}

/// Totals since the state was first created (they survive restarts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Probes observed.
    pub probes: u64,
    /// Probes that succeeded.
    pub successes: u64,
    /// Probes that failed.
    pub failures: u64,
    /// Phase transitions.
    pub transitions: u64,
}

/// The most recent probe outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastResult {
    /// When it finished.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Success or failure.
    pub ok: bool,
    /// Round-trip time in milliseconds, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Protocol detail on success, e.g. `HTTP 200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LastResult {
    /// Records a probe result at `time`.
    pub fn new(time: SystemTime, result: &ProbeResult) -> Self {
        match result {
            Ok(success) => LastResult {
                time,
                ok: true,
                rtt_ms: Some(success.rtt.as_secs_f64() * 1000.0),
                detail: success.detail.clone(),
                error: None,
            },
            Err(reason) => LastResult {
                time,
                ok: false,
                rtt_ms: None,
                detail: None,
                error: Some(reason.clone()),
            },
        }
    }
}

/// The most recent phase change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRecord {
    /// When it happened.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Phase before.
    pub from: Phase,
    /// Phase after.
    pub to: Phase,
    /// Why.
    pub reason: Reason,
}

/// Everything the tracker knows; persisted to status.json and shown in status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerState {
    /// Current phase.
    pub phase: Phase,
    /// Successes in a row (reset by a failure).
    pub consecutive_successes: u32,
    /// Failures in a row (reset by a success).
    pub consecutive_failures: u32,
    /// Lifetime totals.
    pub counters: Counters,
    /// Most recent probe outcome.
    #[serde(default)]
    pub last_result: Option<LastResult>,
    /// Most recent phase change.
    #[serde(default)]
    pub last_transition: Option<TransitionRecord>,
}

/// Applies the thresholds to a stream of probe results.
#[derive(Debug, Clone)]
pub struct Tracker {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    enabled: bool,
    state: TrackerState,
}

impl Tracker {
    /// A fresh tracker in Unknown.
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32, enabled: bool) -> Self {
        Self::from_state(
            TrackerState::default(),
            healthy_threshold,
            unhealthy_threshold,
            enabled,
        )
    }

    /// A tracker that continues from persisted state. A disabled check's phase is
    /// forced to Unknown without a transition record, since nothing was observed.
    pub fn from_state(
        mut state: TrackerState,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
        enabled: bool,
    ) -> Self {
        if !enabled {
            state.phase = Phase::Unknown;
        }
        Tracker {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            enabled,
            state,
        }
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.state.phase
    }

    /// Everything the tracker knows.
    pub fn state(&self) -> &TrackerState {
        &self.state
    }

    /// Whether observations count.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Applies new thresholds and `enabled`; disabling drops to Unknown.
    pub fn configure(
        &mut self,
        now: SystemTime,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
        enabled: bool,
    ) -> Option<Transition> {
        self.healthy_threshold = healthy_threshold.max(1);
        self.unhealthy_threshold = unhealthy_threshold.max(1);
        let was_enabled = std::mem::replace(&mut self.enabled, enabled);
        if was_enabled && !enabled {
            self.reset_streaks();
            if self.state.phase != Phase::Unknown {
                return Some(self.transition(now, Phase::Unknown, Reason::Disabled));
            }
        }
        None
    }

    /// Forgets the current streaks (the probe changed), keeping the phase so a
    /// reload does not flap consumers: the new probe must earn a change.
    pub fn reset_streaks(&mut self) {
        self.state.consecutive_successes = 0;
        self.state.consecutive_failures = 0;
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn observe(&mut self, now: SystemTime, result: &ProbeResult) -> Option<Transition> {
        if !self.enabled {
            return None;
        }
        let counters = &mut self.state.counters;
        counters.probes += 1;
        if result.is_ok() {
            counters.successes += 1;
            self.state.consecutive_successes = self.state.consecutive_successes.saturating_add(1);
            self.state.consecutive_failures = 0;
        } else {
            counters.failures += 1;
            self.state.consecutive_failures = self.state.consecutive_failures.saturating_add(1);
            self.state.consecutive_successes = 0;
        }
        self.state.last_result = Some(LastResult::new(now, result));

        let phase = self.state.phase;
        if phase != Phase::Healthy && self.state.consecutive_successes >= self.healthy_threshold {
            return Some(self.transition(now, Phase::Healthy, Reason::BecameHealthy));
        }
        if phase != Phase::Unhealthy && self.state.consecutive_failures >= self.unhealthy_threshold
        {
            return Some(self.transition(now, Phase::Unhealthy, Reason::BecameUnhealthy));
        }
        None
    }

    fn transition(&mut self, now: SystemTime, to: Phase, reason: Reason) -> Transition {
        let from = self.state.phase;
        self.state.phase = to;
        self.state.counters.transitions += 1;
        self.state.last_transition = Some(TransitionRecord {
            time: now,
            from,
            to,
            reason,
        });
        Transition { from, to, reason }
    }
}

/// RFC 3339 timestamps (UTC, milliseconds) for `SystemTime` fields.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*time))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "phase_tests.rs"]
mod tests;
