//! Fields shared by many kinds: conditional application (`when`,
//! `dependsOn`) and values read from other resources (`*From`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::Checker;
use crate::types::{GoDuration, ResourceRef};

/// Gates a resource on status fields of other resources: it is applied only
/// while every condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct When {
    /// Conditions keyed by `Kind/name.field`, e.g. `HealthCheck/wan.phase`.
    #[serde(default)]
    pub state: BTreeMap<String, StateCondition>,
}

/// A condition on one status field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateCondition {
    /// The field must equal this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The field must contain this substring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The field must be one of these values.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// The field must exist (true) or be absent (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// `set`, `unset` or `unknown` (no status reported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FieldStatus>,
    /// The condition must have held this long.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub hold_for: Option<GoDuration>,
    /// The status must have been updated within this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<GoDuration>,
}

/// Whether a status field is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldStatus {
    /// Present and not empty.
    Set,
    /// Absent or empty.
    Unset,
    /// The resource has reported no status yet.
    Unknown,
}

/// A dependency on another resource's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DependsOn {
    /// The resource, as `Kind/name`.
    pub resource: ResourceRef,
    /// Shorthand for `field: phase` with `equals: <phase>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The status field to test (default `phase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The field must equal this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The field must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_empty: Option<bool>,
    /// A missing dependency does not block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A value read from another resource's status or spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueFrom {
    /// The source resource, as `Kind/name`.
    pub resource: ResourceRef,
    /// The field to read (default `phase`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A missing value leaves the field unset instead of blocking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl When {
    /// Checks the condition keys and records their references.
    pub(crate) fn check(&self, path: &str, c: &mut Checker<'_>) {
        for (key, cond) in &self.state {
            let key_path = format!("{path}.state.{key}");
            match parse_state_key(key) {
                Some((target, _field)) => c.reference_to(&key_path, &target),
                None => c.error(
                    &format!("{path}.state"),
                    format!(
                        "condition key `{key}` must be Kind/name.field, e.g. HealthCheck/wan.phase"
                    ),
                ),
            }
            let tests = [
                cond.equals.is_some(),
                cond.contains.is_some(),
                cond.one_of.is_some(),
                cond.exists.is_some(),
                cond.status.is_some(),
            ];
            if cond.hold_for.is_some() || cond.max_age.is_some() {
                c.warn(
                    &format!("{path}.state"),
                    format!(
                        "`for` and `maxAge` on `{key}` are not evaluated by this build yet: the condition counts as soon as it holds"
                    ),
                );
            }
            if !tests.iter().any(|t| *t) {
                c.error(
                    &format!("{path}.state"),
                    format!("condition on `{key}` tests nothing; give equals, contains, in, exists or status"),
                );
            }
        }
    }
}

/// Splits `Kind/name.field.sub` into the resource and the field path.
pub fn parse_state_key(key: &str) -> Option<(ResourceRef, String)> {
    let (kind, rest) = key.split_once('/')?;
    let (name, field) = rest.split_once('.')?;
    if kind.is_empty() || name.is_empty() || field.is_empty() {
        return None;
    }
    Some((
        ResourceRef {
            kind: kind.to_string(),
            name: name.to_string(),
        },
        field.to_string(),
    ))
}

/// Checks that a resource name is usable in event topics and file names.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let ok_ends = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() {
        Err("the name is empty".into())
    } else if name.len() > 63 {
        Err(format!("`{name}` is longer than 63 characters"))
    } else if !ok_chars || !ok_ends {
        Err(format!(
            "`{name}` is not a valid name: use letters, digits, `-` and `_`, starting and ending with a letter or digit"
        ))
    } else {
        Ok(())
    }
}

/// Checks a kernel interface name (what `ip link` accepts).
pub(crate) fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("the interface name is empty".into())
    } else if name.len() > 15 {
        Err(format!(
            "`{name}` is longer than the kernel's 15-character limit for interface names"
        ))
    } else if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        Err(format!("`{name}` is not a valid interface name"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_split_at_the_first_dot_after_the_name() {
        let (r, f) = parse_state_key("VirtualAddress/lan-vip.role").unwrap();
        assert_eq!(r.to_string(), "VirtualAddress/lan-vip");
        assert_eq!(f, "role");
        assert!(parse_state_key("nokind.role").is_none());
        assert!(parse_state_key("A/b").is_none());
    }

    #[test]
    fn names() {
        assert!(check_name("lan-ipv4").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("-a").is_err());
        assert!(check_ifname("ens19.110").is_ok());
        assert!(check_ifname("averyveryverylongname").is_err());
    }
}
