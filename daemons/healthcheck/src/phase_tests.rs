use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::probe::ProbeSuccess;

fn ok() -> ProbeResult {
    Ok(ProbeSuccess {
        rtt: Duration::from_micros(1500),
        detail: None,
    })
}

fn fail() -> ProbeResult {
    Err("timeout".into())
}

fn at(step: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + step)
}

/// Feeds `pattern` ('+' success, '-' failure) and returns the phase after each
/// step plus the transitions seen, so each test reads as a timeline.
fn drive(tracker: &mut Tracker, pattern: &str) -> (String, Vec<Transition>) {
    let mut phases = String::new();
    let mut transitions = Vec::new();
    for (step, c) in pattern.chars().enumerate() {
        let result = if c == '+' { ok() } else { fail() };
        if let Some(t) = tracker.observe(at(step as u64), &result) {
            transitions.push(t);
        }
        phases.push(match tracker.phase() {
            Phase::Unknown => '?',
            Phase::Healthy => 'H',
            Phase::Unhealthy => 'U',
        });
    }
    (phases, transitions)
}

#[test]
fn unknown_becomes_healthy_after_healthy_threshold() {
    let mut t = Tracker::new(2, 3, true);
    let (phases, transitions) = drive(&mut t, "++");
    assert_eq!(phases, "?H");
    assert_eq!(
        transitions,
        vec![Transition {
            from: Phase::Unknown,
            to: Phase::Healthy,
            reason: Reason::BecameHealthy
        }]
    );
}

#[test]
fn unknown_becomes_unhealthy_after_unhealthy_threshold() {
    let mut t = Tracker::new(2, 3, true);
    let (phases, transitions) = drive(&mut t, "---");
    assert_eq!(phases, "??U");
    assert_eq!(transitions[0].reason, Reason::BecameUnhealthy);
    assert_eq!(transitions[0].from, Phase::Unknown);
}

#[test]
fn streaks_must_be_consecutive() {
    let mut t = Tracker::new(2, 3, true);
    let (phases, _) = drive(&mut t, "+-+--+-");
    assert_eq!(phases, "???????");
}

#[test]
fn healthy_tolerates_fewer_failures_than_threshold() {
    let mut t = Tracker::new(2, 3, true);
    let (phases, transitions) = drive(&mut t, "++--+--+---");
    assert_eq!(phases, "?HHHHHHHHHU");
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].from, Phase::Healthy);
    assert_eq!(transitions[1].to, Phase::Unhealthy);
}

#[test]
fn unhealthy_recovers_after_healthy_threshold() {
    let mut t = Tracker::new(3, 1, true);
    let (phases, transitions) = drive(&mut t, "-++-+++");
    assert_eq!(phases, "UUUUUUH");
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].reason, Reason::BecameHealthy);
}

#[test]
fn counters_and_last_records_are_kept() {
    let mut t = Tracker::new(1, 1, true);
    drive(&mut t, "+-+");
    let s = t.state();
    assert_eq!(
        s.counters,
        Counters {
            probes: 3,
            successes: 2,
            failures: 1,
            transitions: 3
        }
    );
    assert_eq!(s.consecutive_successes, 1);
    assert_eq!(s.consecutive_failures, 0);
    let last = s.last_result.as_ref().unwrap();
    assert!(last.ok);
    assert_eq!(last.rtt_ms, Some(1.5));
    assert_eq!(last.time, at(2));
    let tr = s.last_transition.unwrap();
    assert_eq!(
        (tr.from, tr.to, tr.time),
        (Phase::Unhealthy, Phase::Healthy, at(2))
    );

    drive(&mut t, "-");
    let last = t.state().last_result.as_ref().unwrap();
    assert_eq!(last.error.as_deref(), Some("timeout"));
    assert_eq!(last.rtt_ms, None);
}

#[test]
fn disabled_stays_unknown_and_ignores_results() {
    let mut t = Tracker::new(1, 1, false);
    let (phases, transitions) = drive(&mut t, "++--");
    assert_eq!(phases, "????");
    assert!(transitions.is_empty());
    assert_eq!(t.state().counters.probes, 0);
}

#[test]
fn disabling_a_healthy_check_drops_to_unknown() {
    let mut t = Tracker::new(1, 1, true);
    drive(&mut t, "+");
    let tr = t.configure(at(9), 1, 1, false).unwrap();
    assert_eq!(
        (tr.from, tr.to, tr.reason),
        (Phase::Healthy, Phase::Unknown, Reason::Disabled)
    );
    assert_eq!(t.configure(at(10), 1, 1, true), None);
    let (phases, _) = drive(&mut t, "+");
    assert_eq!(phases, "H");
}

#[test]
fn restored_state_continues_without_flapping() {
    let mut t = Tracker::new(2, 3, true);
    drive(&mut t, "++");
    let json = serde_json::to_string(t.state()).unwrap();
    let state: TrackerState = serde_json::from_str(&json).unwrap();
    assert_eq!(&state, t.state());

    let mut restored = Tracker::from_state(state, 2, 3, true);
    assert_eq!(restored.phase(), Phase::Healthy);
    let (phases, transitions) = drive(&mut restored, "-+--");
    assert_eq!(phases, "HHHH");
    assert!(transitions.is_empty());
}

#[test]
fn restored_state_of_a_disabled_check_is_unknown() {
    let mut t = Tracker::new(1, 1, true);
    drive(&mut t, "+");
    let restored = Tracker::from_state(t.state().clone(), 1, 1, false);
    assert_eq!(restored.phase(), Phase::Unknown);
}

#[test]
fn reset_streaks_keeps_phase_and_needs_a_fresh_streak() {
    let mut t = Tracker::new(2, 2, true);
    drive(&mut t, "++-");
    t.reset_streaks();
    let (phases, _) = drive(&mut t, "-+--");
    assert_eq!(phases, "HHHU");
}

#[test]
fn times_serialize_as_rfc3339() {
    let mut t = Tracker::new(1, 1, true);
    drive(&mut t, "+");
    let value = serde_json::to_value(t.state()).unwrap();
    assert_eq!(value["lastTransition"]["time"], "2023-11-14T22:13:20.000Z");
    assert_eq!(value["lastTransition"]["reason"], "BecameHealthy");
    assert_eq!(value["phase"], "Healthy");
}
