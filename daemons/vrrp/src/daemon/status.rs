//! The status document: one entry per instance, and the daemon phase.

use std::time::{Instant, SystemTime};

use routerd_contract::server::DaemonStatus;
use routerd_vrrp_core::{Instance, State};
use serde_json::{Map, Value, json};

use crate::clock::mono_ns_from_instant;
use crate::spec::InstanceSpec;

/// One instance's status entry.
pub(crate) fn instance_json(spec: &InstanceSpec, inst: &Instance, source: &str) -> Value {
    let now = Instant::now();
    let counters = inst.counters();
    let dropped: Map<String, Value> = counters
        .dropped_all()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    let grant = inst.grant().map(|g| {
        json!({
            "role": g.role.as_str(),
            "epoch": g.epoch,
            "remainingMs": g.deadline.map(|d| d.saturating_duration_since(now).as_millis() as u64),
            "deadlineMonoNs": g.deadline.map(mono_ns_from_instant),
        })
    });
    let last = inst.last_transition().map(|t| {
        json!({
            "from": t.from.as_str(),
            "to": t.to.as_str(),
            "reason": t.reason.as_str(),
            "time": wall_time(t.at),
        })
    });
    json!({
        "name": spec.name,
        "group": spec.group,
        "interface": spec.interface,
        "family": spec.family,
        "version": spec.version,
        "vrid": spec.vrid,
        "state": inst.state().as_str(),
        "masterAddress": inst.master_address(),
        "sourceAddress": source,
        "priority": spec.priority,
        "effectivePriority": inst.priority(),
        "advertIntervalCs": spec.advert_interval_cs,
        "masterAdverIntervalCs": inst.master_adver_interval_cs(),
        "preempt": spec.preempt,
        "acceptMode": spec.accept_mode,
        "acceptModeEnforced": false,
        "addresses": spec.addresses,
        "fenced": inst.fenced(),
        "grant": grant,
        "masterDownSeen": inst.master_down_seen(),
        "counters": {
            "advertsSent": counters.adverts_sent,
            "advertsReceived": counters.adverts_received,
            "becameMaster": counters.became_master,
            "releasedOnDeadline": counters.released_on_deadline,
            "addressMismatch": counters.address_mismatch,
            "dropped": dropped,
        },
        "lastTransition": last,
    })
}

/// The daemon's phase from its instances' states.
pub(crate) fn phase<'a>(states: impl Iterator<Item = State> + Clone + 'a) -> &'static str {
    let all = |s: State| states.clone().all(|x| x == s);
    if all(State::Master) && states.clone().next().is_some() {
        "Master"
    } else if all(State::Backup) && states.clone().next().is_some() {
        "Backup"
    } else if all(State::Initialize) {
        "Initialize"
    } else {
        "Mixed"
    }
}

pub(crate) fn daemon_status(name: &str, phase: &str, instances: Vec<Value>) -> DaemonStatus {
    DaemonStatus {
        phase: phase.to_string(),
        detail: json!({"name": name, "instances": instances}),
    }
}

fn wall_time(at: Instant) -> String {
    let ago = Instant::now().saturating_duration_since(at);
    let t = SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    humantime::format_rfc3339_millis(t).to_string()
}
