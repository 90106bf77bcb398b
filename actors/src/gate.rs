//! Conditional resources: `when`, `dependsOn` and values read with `*From`.
//!
//! A gated resource is wanted only while its conditions hold; when they stop
//! holding, its kernel state is removed like that of a deleted resource. A
//! value read from another resource comes from that resource's observed
//! status first, then its spec.

use routerd_config::types::ResourceRef;
use routerd_config::{Config, DependsOn, StateCondition, ValueFrom, When, parse_state_key};
use serde_json::Value;

use crate::status::Statuses;

/// Reads fields of other resources.
pub trait Lookup {
    /// The value of `field` of `target`, if known.
    fn field(&self, target: &ResourceRef, field: &str) -> Option<Value>;
    /// Whether `target` has reported any status yet.
    fn has_status(&self, target: &ResourceRef) -> bool;
}

/// Status first, then the spec of the resource in `config`.
pub struct ConfigLookup<'a> {
    /// Observed statuses.
    pub statuses: &'a Statuses,
    /// The current config.
    pub config: &'a Config,
}

impl Lookup for ConfigLookup<'_> {
    fn field(&self, target: &ResourceRef, field: &str) -> Option<Value> {
        if let Some(v) = self.statuses.field(target, field) {
            return Some(v);
        }
        let resource = self.config.find(&target.kind, &target.name)?;
        let mut value = resource.spec.to_json();
        for part in field.split('.') {
            value = value.get(part)?.clone();
        }
        Some(value)
    }

    fn has_status(&self, target: &ResourceRef) -> bool {
        self.statuses
            .get(&target.to_string())
            .is_some_and(|s| !s.phase.is_empty())
    }
}

/// Whether a spec (as JSON) refers to the resource `needle` (a string
/// `Kind/name`): as a value anywhere (`*From`, `dependsOn`), or as the start
/// of a `when.state` key (`prefix` is `Kind/name.`).
pub fn mentions(value: &Value, needle: &Value, prefix: &str) -> bool {
    match value {
        Value::String(_) => value == needle,
        Value::Array(items) => items.iter().any(|v| mentions(v, needle, prefix)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with(prefix) || mentions(v, needle, prefix)),
        _ => false,
    }
}

/// Whether any resource of `kinds` in `config` refers to `target` (`Kind/name`).
pub fn any_mentions(config: &Config, kinds: &[&str], target: &str) -> bool {
    let needle = Value::String(target.to_string());
    let prefix = format!("{target}.");
    config
        .resources
        .iter()
        .filter(|r| kinds.contains(&r.kind))
        .any(|r| mentions(&r.spec.to_json(), &needle, &prefix))
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// Why a gate is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// For status and plans.
    pub reason: String,
    /// The gate depends on a resource that has reported no status yet (just
    /// after routerd starts, say): its verdict is unknown, so the resource's
    /// kernel state is held as it is rather than removed.
    pub unknown: bool,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

fn closed(
    reason: String,
    target: &ResourceRef,
    value: Option<&Value>,
    lookup: &dyn Lookup,
) -> Closed {
    Closed {
        reason,
        unknown: value.is_none() && !lookup.has_status(target),
    }
}

/// Why a `when` gate is closed, or `None` when it is open.
pub fn when_blocks(when: Option<&When>, lookup: &dyn Lookup) -> Option<Closed> {
    let when = when?;
    for (key, cond) in &when.state {
        let Some((target, field)) = parse_state_key(key) else {
            return Some(Closed {
                reason: format!("condition key `{key}` is malformed"),
                unknown: false,
            });
        };
        if !condition_holds(cond, &target, &field, lookup) {
            let reason = format!("waiting for when.state `{key}` ({})", describe(cond));
            let value = lookup.field(&target, &field);
            let mut gate = closed(reason, &target, value.as_ref(), lookup);
            // A condition on the status being unknown is decided either way.
            gate.unknown &=
                cond.status != Some(routerd_config::kinds::common::FieldStatus::Unknown);
            return Some(gate);
        }
    }
    None
}

fn condition_holds(
    cond: &StateCondition,
    target: &ResourceRef,
    field: &str,
    lookup: &dyn Lookup,
) -> bool {
    let value = lookup.field(target, field);
    let text = value.as_ref().and_then(as_text);
    if let Some(status) = cond.status {
        use routerd_config::kinds::common::FieldStatus;
        let ok = match status {
            FieldStatus::Set => is_set(value.as_ref()),
            FieldStatus::Unset => lookup.has_status(target) && !is_set(value.as_ref()),
            FieldStatus::Unknown => !lookup.has_status(target),
        };
        if !ok {
            return false;
        }
    }
    if let Some(exists) = cond.exists
        && exists != is_set(value.as_ref())
    {
        return false;
    }
    if let Some(want) = &cond.equals
        && text.as_deref() != Some(want.as_str())
    {
        return false;
    }
    if let Some(want) = &cond.contains
        && !text.as_deref().is_some_and(|t| t.contains(want.as_str()))
    {
        return false;
    }
    if let Some(options) = &cond.one_of
        && !text.as_ref().is_some_and(|t| options.contains(t))
    {
        return false;
    }
    true
}

fn describe(cond: &StateCondition) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &cond.equals {
        parts.push(format!("equals {v}"));
    }
    if let Some(v) = &cond.contains {
        parts.push(format!("contains {v}"));
    }
    if let Some(v) = &cond.one_of {
        parts.push(format!("in {}", v.join("|")));
    }
    if let Some(v) = cond.exists {
        parts.push(format!("exists {v}"));
    }
    if let Some(v) = cond.status {
        parts.push(format!("status {v:?}").to_lowercase());
    }
    parts.join(", ")
}

/// Why a `dependsOn` list blocks, or `None` when every dependency holds.
pub fn depends_blocks(deps: &[DependsOn], lookup: &dyn Lookup) -> Option<Closed> {
    for dep in deps {
        let field = dep.field.as_deref().unwrap_or("phase");
        let want = dep.equals.as_ref().or(dep.phase.as_ref());
        let value = lookup.field(&dep.resource, field);
        let ok = match (want, dep.not_empty) {
            (Some(want), _) => value.as_ref().and_then(as_text).as_deref() == Some(want.as_str()),
            (None, Some(true)) => is_set(value.as_ref()),
            (None, _) => value.is_some(),
        };
        // An optional dependency that has not reported yet does not block.
        let waived = dep.optional == Some(true) && !lookup.has_status(&dep.resource);
        if !ok && !waived {
            let want = want.map(|w| format!(" == {w}")).unwrap_or_default();
            let reason = format!("waiting for {}.{field}{want}", dep.resource);
            return Some(closed(reason, &dep.resource, value.as_ref(), lookup));
        }
    }
    None
}

/// Resolves a `*From` value: `Ok(Some)` found, `Ok(None)` optional and
/// missing, `Err` blocking with the reason.
pub fn value_from(from: &ValueFrom, lookup: &dyn Lookup) -> Result<Option<String>, Closed> {
    let field = from.field.as_deref().unwrap_or("phase");
    let value = lookup.field(&from.resource, field);
    match value.as_ref().and_then(as_text) {
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ if from.optional == Some(true) => Ok(None),
        _ => Err(closed(
            format!("waiting for {}.{field}", from.resource),
            &from.resource,
            value.as_ref(),
            lookup,
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Fake(BTreeMap<String, Value>);

    impl Lookup for Fake {
        fn field(&self, target: &ResourceRef, field: &str) -> Option<Value> {
            self.0.get(&format!("{target}.{field}")).cloned()
        }
        fn has_status(&self, target: &ResourceRef) -> bool {
            self.0.keys().any(|k| k.starts_with(&format!("{target}.")))
        }
    }

    fn fake(pairs: &[(&str, Value)]) -> Fake {
        Fake(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn when(yaml_state: &[(&str, StateCondition)]) -> When {
        When {
            state: yaml_state
                .iter()
                .map(|(k, c)| (k.to_string(), c.clone()))
                .collect(),
        }
    }

    fn cond() -> StateCondition {
        StateCondition {
            equals: None,
            contains: None,
            one_of: None,
            exists: None,
            status: None,
            hold_for: None,
            max_age: None,
        }
    }

    #[test]
    fn when_opens_only_while_every_condition_holds() {
        let healthy = StateCondition {
            equals: Some("Healthy".into()),
            ..cond()
        };
        let w = when(&[("HealthCheck/up.phase", healthy)]);
        assert!(
            when_blocks(
                Some(&w),
                &fake(&[("HealthCheck/up.phase", "Healthy".into())])
            )
            .is_none()
        );
        let why = when_blocks(
            Some(&w),
            &fake(&[("HealthCheck/up.phase", "Unhealthy".into())]),
        );
        let why = why.expect("closed");
        assert!(
            why.reason.contains("HealthCheck/up.phase") && !why.unknown,
            "{why:?}"
        );
        let unknown = when_blocks(Some(&w), &fake(&[])).expect("an unknown status blocks");
        assert!(unknown.unknown, "{unknown:?}");
        assert!(when_blocks(None, &fake(&[])).is_none());

        let one_of = StateCondition {
            one_of: Some(vec!["master".into(), "backup".into()]),
            ..cond()
        };
        let w = when(&[("VirtualAddress/vip.role", one_of)]);
        assert!(
            when_blocks(
                Some(&w),
                &fake(&[("VirtualAddress/vip.role", "backup".into())])
            )
            .is_none()
        );
        let unknown = StateCondition {
            status: Some(routerd_config::kinds::common::FieldStatus::Unknown),
            ..cond()
        };
        let w = when(&[("HealthCheck/up.phase", unknown)]);
        assert!(when_blocks(Some(&w), &fake(&[])).is_none());
        assert!(
            when_blocks(
                Some(&w),
                &fake(&[("HealthCheck/up.phase", "Healthy".into())])
            )
            .is_some()
        );
    }

    #[test]
    fn depends_on_and_value_from() {
        let dep = DependsOn {
            resource: "HealthCheck/up".parse().unwrap(),
            phase: Some("Healthy".into()),
            field: None,
            equals: None,
            not_empty: None,
            optional: None,
        };
        assert!(
            depends_blocks(
                std::slice::from_ref(&dep),
                &fake(&[("HealthCheck/up.phase", "Healthy".into())])
            )
            .is_none()
        );
        assert!(depends_blocks(std::slice::from_ref(&dep), &fake(&[])).is_some_and(|c| c.unknown));
        let wrong = fake(&[("HealthCheck/up.phase", "Unhealthy".into())]);
        assert!(depends_blocks(std::slice::from_ref(&dep), &wrong).is_some_and(|c| !c.unknown));
        let optional = DependsOn {
            optional: Some(true),
            ..dep
        };
        assert!(
            depends_blocks(&[optional], &fake(&[])).is_none(),
            "an optional dependency without status waives"
        );

        let from = ValueFrom {
            resource: "IPv4StaticAddress/lan".parse().unwrap(),
            field: Some("address".into()),
            optional: None,
        };
        let found = value_from(
            &from,
            &fake(&[("IPv4StaticAddress/lan.address", "192.0.2.1".into())]),
        );
        assert_eq!(found, Ok(Some("192.0.2.1".into())));
        assert!(value_from(&from, &fake(&[])).is_err_and(|c| c.unknown));
        let optional = ValueFrom {
            optional: Some(true),
            ..from
        };
        assert_eq!(value_from(&optional, &fake(&[])), Ok(None));
    }
}
