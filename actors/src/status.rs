//! Observed status of every resource: what `routerctl get/describe` shows
//! and what `when`, `dependsOn` and `*From` read.
//!
//! Controllers and daemon supervisors write it; the API reads it. It is a
//! read-mostly map behind a lock held only for a copy, never across an await.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use routerd_config::types::ResourceRef;
use serde::Serialize;
use serde_json::{Map, Value};

/// A phase change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// When it happened (RFC 3339).
    pub time: String,
    /// The phase before (empty for the first).
    pub from: String,
    /// The phase after.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// The status of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Phase, e.g. `Applied`, `Pending`, `Failed`, `Up`, `Healthy`.
    pub phase: String,
    /// Human explanation of the phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Kind-specific observed fields (e.g. `ifname`, `operUp`, `addresses`).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    /// The last phase change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<Transition>,
    /// When the status was last written (RFC 3339).
    pub updated: String,
}

/// Called with the resource id whenever its phase changes.
pub type PhaseNotifier = Arc<dyn Fn(&str) + Send + Sync>;

/// Every resource's status, shared by the actors of one routerd.
#[derive(Clone, Default)]
pub struct Statuses {
    inner: Arc<RwLock<BTreeMap<String, ResourceStatus>>>,
    /// Resources gated on a phase must hear of every change of it, whoever
    /// made it; the one place that changes phases tells them.
    notify: Option<PhaseNotifier>,
}

/// `value` without the parts that change on their own as time passes.
fn settled(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "counters" && !k.ends_with("InSecs"))
                .map(|(k, v)| (k.clone(), settled(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(settled).collect()),
        other => other.clone(),
    }
}

/// Now, as RFC 3339 with milliseconds (the events' clock).
pub use routerd_contract::event::now_rfc3339;

impl Statuses {
    /// Statuses that call `notify` on every phase change.
    pub fn with_notifier(notify: PhaseNotifier) -> Statuses {
        Statuses {
            inner: Default::default(),
            notify: Some(notify),
        }
    }

    fn changed(&self, id: &str) {
        if let Some(notify) = &self.notify {
            notify(id);
        }
    }

    /// Sets a resource's phase and message; returns the transition if the phase changed.
    pub fn set_phase(
        &self,
        id: &str,
        phase: &str,
        reason: &str,
        message: Option<String>,
    ) -> Option<Transition> {
        let transition = self.write_phase(id, phase, reason, message);
        if transition.is_some() {
            self.changed(id);
        }
        transition
    }

    fn write_phase(
        &self,
        id: &str,
        phase: &str,
        reason: &str,
        message: Option<String>,
    ) -> Option<Transition> {
        let Ok(mut map) = self.inner.write() else {
            return None;
        };
        let now = now_rfc3339();
        let status = map.entry(id.to_string()).or_default();
        status.message = message;
        status.updated = now.clone();
        if status.phase == phase {
            return None;
        }
        let transition = Transition {
            time: now,
            from: std::mem::replace(&mut status.phase, phase.to_string()),
            to: phase.to_string(),
            reason: reason.to_string(),
        };
        status.last_transition = Some(transition.clone());
        Some(transition)
    }

    /// Records a phase reported by a daemon together with the daemon's own
    /// account of the transition (its time and reason are the truth, not
    /// when routerd noticed). Returns true if the phase changed.
    pub fn set_reported_phase(
        &self,
        id: &str,
        phase: &str,
        transition: Option<Transition>,
    ) -> bool {
        let changed = {
            let Ok(mut map) = self.inner.write() else {
                return false;
            };
            let status = map.entry(id.to_string()).or_default();
            status.updated = now_rfc3339();
            status.message = None;
            let changed = status.phase != phase;
            status.phase = phase.to_string();
            if transition.is_some() {
                status.last_transition = transition;
            }
            changed
        };
        if changed {
            self.changed(id);
        }
        changed
    }

    /// Replaces a resource's observed fields (phase untouched).
    pub fn set_fields(&self, id: &str, fields: Map<String, Value>) {
        if let Ok(mut map) = self.inner.write() {
            let status = map.entry(id.to_string()).or_default();
            status.fields = fields;
            status.updated = now_rfc3339();
        }
    }

    /// Replaces a resource's observed fields and tells the resources that
    /// read them when one of `watched` changed. Values that only count or
    /// count down (`counters`, any `…InSecs`) are left out of the comparison:
    /// a daemon's status is refreshed every few seconds, and readers of a
    /// delegated prefix or a DNS server list must not reconcile for a tick.
    /// Returns whether a watched field changed.
    pub fn set_fields_watched(
        &self,
        id: &str,
        fields: Map<String, Value>,
        watched: &[String],
    ) -> bool {
        let changed = {
            let Ok(mut map) = self.inner.write() else {
                return false;
            };
            let status = map.entry(id.to_string()).or_default();
            let changed = watched
                .iter()
                .any(|k| status.fields.get(k).map(settled) != fields.get(k).map(settled));
            status.fields = fields;
            status.updated = now_rfc3339();
            changed
        };
        if changed {
            self.changed(id);
        }
        changed
    }

    /// A copy of one resource's status.
    pub fn get(&self, id: &str) -> Option<ResourceStatus> {
        self.inner.read().ok()?.get(id).cloned()
    }

    /// A copy of every status.
    pub fn all(&self) -> BTreeMap<String, ResourceStatus> {
        self.inner.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets resources that no longer exist.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut map) = self.inner.write() {
            map.retain(|id, _| keep(id));
        }
    }

    /// Reads `field` (dotted for nested values; `phase` for the phase) of a resource.
    pub fn field(&self, target: &ResourceRef, field: &str) -> Option<Value> {
        let status = self.get(&target.to_string())?;
        if field == "phase" {
            return (!status.phase.is_empty()).then_some(Value::String(status.phase));
        }
        let mut value = status.fields.get(field.split('.').next()?)?.clone();
        for part in field.split('.').skip(1) {
            value = value.get(part)?.clone();
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn watched_fields_notify_but_counters_and_countdowns_do_not() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let statuses = Statuses::with_notifier({
            let seen = seen.clone();
            Arc::new(move |id: &str| seen.lock().expect("lock").push(id.to_string()))
        });
        let watched = vec!["prefix".to_string(), "information".to_string()];
        let fields = |prefix: &str, refresh: u64, sent: u64| {
            serde_json::json!({
                "prefix": prefix,
                "information": {"dnsServers": ["fd00::53"], "refreshInSecs": refresh},
                "counters": {"sent": sent},
            })
            .as_object()
            .cloned()
            .expect("object")
        };
        let id = "DHCPv6PrefixDelegation/wan-pd";
        assert!(statuses.set_fields_watched(id, fields("2001:db8::/56", 600, 1), &watched));
        // Time passing and packets counted: nobody is woken.
        assert!(!statuses.set_fields_watched(id, fields("2001:db8::/56", 590, 7), &watched));
        // A new prefix: readers are told.
        assert!(statuses.set_fields_watched(id, fields("2001:db8:1::/56", 590, 7), &watched));
        assert_eq!(seen.lock().expect("lock").len(), 2);
        assert_eq!(
            statuses.field(
                &"DHCPv6PrefixDelegation/wan-pd".parse().expect("ref"),
                "prefix"
            ),
            Some("2001:db8:1::/56".into())
        );
    }
}
