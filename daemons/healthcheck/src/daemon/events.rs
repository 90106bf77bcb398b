//! The events this daemon appends to `events.jsonl`.
//!
//! Topics: `routerd.healthcheck.<name>.{started,healthy,unhealthy,unknown,reloaded,stopped}`,
//! all with resource `HealthCheck/<name>`.

use routerd_contract::event::NewEvent;

use crate::phase::{Phase, TrackerState, Transition};
use crate::probe::ProbeResult;
use crate::spec::ProbeSpec;

fn topic(name: &str, last: &str) -> String {
    format!("routerd.healthcheck.{name}.{last}")
}

fn resource(name: &str) -> String {
    format!("HealthCheck/{name}")
}

/// What the spec points at, for messages: the target or where it comes from.
pub(crate) fn target_label(spec: &ProbeSpec) -> String {
    spec.target
        .clone()
        .unwrap_or_else(|| "default gateway".into())
}

pub(crate) fn started(
    spec: &ProbeSpec,
    state: &TrackerState,
    restored: bool,
    restore_problem: Option<&str>,
) -> NewEvent {
    let message = if restored {
        format!(
            "{} {} probe of {} started, continuing as {}",
            spec.name,
            spec.protocol.as_str(),
            target_label(spec),
            state.phase
        )
    } else {
        format!(
            "{} {} probe of {} started",
            spec.name,
            spec.protocol.as_str(),
            target_label(spec)
        )
    };
    let mut event = NewEvent::new(topic(&spec.name, "started"), "Started")
        .resource(resource(&spec.name))
        .message(message)
        .attr("restored", restored)
        .attr("phase", state.phase.as_str())
        .attr("protocol", spec.protocol.as_str())
        .attr("target", target_label(spec))
        .attr("enabled", spec.enabled);
    if let Some(problem) = restore_problem {
        event = event.attr("restoreProblem", problem);
    }
    event
}

pub(crate) fn transition(
    spec: &ProbeSpec,
    transition: &Transition,
    state: &TrackerState,
    target: Option<&str>,
    result: Option<&ProbeResult>,
) -> NewEvent {
    let target = target
        .map(str::to_string)
        .unwrap_or_else(|| target_label(spec));
    let why = match (transition.to, result) {
        (Phase::Healthy, _) => format!("{} consecutive successes", state.consecutive_successes),
        (Phase::Unhealthy, Some(Err(reason))) => {
            format!(
                "{} consecutive failures, last: {reason}",
                state.consecutive_failures
            )
        }
        (Phase::Unhealthy, _) => format!("{} consecutive failures", state.consecutive_failures),
        (Phase::Unknown, _) => "the check was disabled".into(),
    };
    let mut event = NewEvent::new(
        topic(&spec.name, transition.to.topic_word()),
        transition.reason.as_str(),
    )
    .resource(resource(&spec.name))
    .message(format!(
        "{} {} probe of {target}: {} -> {} ({why})",
        spec.name,
        spec.protocol.as_str(),
        transition.from,
        transition.to
    ))
    .attr("from", transition.from.as_str())
    .attr("to", transition.to.as_str())
    .attr("protocol", spec.protocol.as_str())
    .attr("target", target)
    .attr("consecutiveSuccesses", state.consecutive_successes)
    .attr("consecutiveFailures", state.consecutive_failures);
    match result {
        Some(Ok(success)) => {
            event = event.attr("rttMs", success.rtt.as_secs_f64() * 1000.0);
            if let Some(detail) = &success.detail {
                event = event.attr("detail", detail.clone());
            }
        }
        Some(Err(reason)) => event = event.attr("error", reason.clone()),
        None => {}
    }
    event
}

pub(crate) fn reloaded(spec: &ProbeSpec, probe_changed: bool) -> NewEvent {
    NewEvent::new(topic(&spec.name, "reloaded"), "Reloaded")
        .resource(resource(&spec.name))
        .message(if probe_changed {
            format!(
                "{} reloaded: now probing {} over {}",
                spec.name,
                target_label(spec),
                spec.protocol.as_str()
            )
        } else {
            format!(
                "{} reloaded: same probe, new timing or thresholds",
                spec.name
            )
        })
        .attr("probeChanged", probe_changed)
        .attr("protocol", spec.protocol.as_str())
        .attr("target", target_label(spec))
        .attr("enabled", spec.enabled)
}

pub(crate) fn stopped(spec: &ProbeSpec, state: &TrackerState) -> NewEvent {
    NewEvent::new(topic(&spec.name, "stopped"), "Stopped")
        .resource(resource(&spec.name))
        .message(format!("{} stopped as {}", spec.name, state.phase))
        .attr("phase", state.phase.as_str())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::phase::Reason;
    use crate::probe::ProbeSuccess;

    fn spec() -> ProbeSpec {
        serde_json::from_str(r#"{"name":"wan","protocol":"icmp","target":"192.0.2.1"}"#).unwrap()
    }

    #[test]
    fn transition_event_carries_what_a_reader_needs() {
        let state = TrackerState {
            phase: Phase::Healthy,
            consecutive_successes: 2,
            ..TrackerState::default()
        };
        let t = Transition {
            from: Phase::Unknown,
            to: Phase::Healthy,
            reason: Reason::BecameHealthy,
        };
        let ok: ProbeResult = Ok(ProbeSuccess {
            rtt: Duration::from_millis(3),
            detail: None,
        });
        let e = transition(&spec(), &t, &state, Some("192.0.2.1"), Some(&ok));
        assert_eq!(e.topic, "routerd.healthcheck.wan.healthy");
        assert_eq!(e.reason, "BecameHealthy");
        assert_eq!(e.resource.as_deref(), Some("HealthCheck/wan"));
        assert_eq!(e.attributes["from"], "Unknown");
        assert_eq!(e.attributes["to"], "Healthy");
        assert_eq!(e.attributes["rttMs"], 3.0);
        assert_eq!(e.attributes["consecutiveSuccesses"], 2);
        assert!(e.message.contains("Unknown -> Healthy"), "{}", e.message);

        let failed: ProbeResult = Err("no echo reply".into());
        let t = Transition {
            from: Phase::Healthy,
            to: Phase::Unhealthy,
            reason: Reason::BecameUnhealthy,
        };
        let e = transition(&spec(), &t, &state, None, Some(&failed));
        assert_eq!(e.topic, "routerd.healthcheck.wan.unhealthy");
        assert_eq!(e.attributes["error"], "no echo reply");
        assert!(routerd_contract::event::validate_topic(&e.topic).is_ok());
    }

    #[test]
    fn started_event_says_whether_restored() {
        let e = started(&spec(), &TrackerState::default(), true, None);
        assert_eq!(e.topic, "routerd.healthcheck.wan.started");
        assert_eq!(e.attributes["restored"], true);
    }
}
