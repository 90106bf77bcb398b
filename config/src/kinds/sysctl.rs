//! `Sysctl`: a kernel parameter kept at a value.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::When;
use crate::kind::{Checker, Kind, Resource, SetChecker};

/// The `Sysctl` kind.
pub struct Sysctl;

/// How the current value is compared with the desired one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SysctlCompare {
    /// The value must be exactly the desired one.
    #[default]
    Exact,
    /// A numeric value at least the desired one is left alone (e.g. buffer sizes raised by someone else).
    AtLeast,
}

/// Spec of a `Sysctl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SysctlSpec {
    /// The key, dotted (`net.ipv4.ip_forward`) or with `/` where a segment holds a dot (`net/ipv4/conf/eth0.10/forwarding`).
    pub key: String,
    /// The value to write.
    pub value: String,
    /// `exact` (default) or `atLeast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<SysctlCompare>,
    /// The value the kernel reports back when it differs from what is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_value: Option<String>,
    /// A key the kernel does not have is not an error (e.g. a module not loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// Also write it to a sysctl.d file so it holds across reboots (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<bool>,
    /// Set it in the running kernel (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<bool>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl SysctlSpec {
    /// The key in `/proc/sys` path form.
    pub fn proc_path(&self) -> String {
        if self.key.contains('/') {
            self.key.trim_start_matches('/').to_string()
        } else {
            self.key.replace('.', "/")
        }
    }
}

impl Kind for Sysctl {
    const KIND: &'static str = "Sysctl";
    const API_VERSION: &'static str = "system.routerd.net/v1alpha1";
    type Spec = SysctlSpec;

    fn check(spec: &SysctlSpec, c: &mut Checker<'_>) {
        let valid_chars = spec
            .key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_' | b'-'));
        let bad_segment = spec
            .proc_path()
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
        if spec.key.is_empty() || !valid_chars || bad_segment {
            c.error(
                "spec.key",
                format!(
                    "`{}` is not a sysctl key (like net.ipv4.ip_forward)",
                    spec.key
                ),
            );
        }
        if spec.value.contains('\n') {
            c.error("spec.value", "a sysctl value is one line");
        }
        if spec.compare == Some(SysctlCompare::AtLeast) && spec.value.trim().parse::<i64>().is_err()
        {
            c.error(
                "spec.compare",
                format!(
                    "atLeast compares numbers, but the value `{}` is not one",
                    spec.value
                ),
            );
        }
        if spec.runtime == Some(false) && spec.persistent != Some(true) {
            c.warn(
                "spec.runtime",
                "runtime: false without persistent: true does nothing",
            );
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &SysctlSpec)], c: &mut SetChecker<'_>) {
        let mut first: std::collections::HashMap<String, (&Resource, &SysctlSpec)> =
            std::collections::HashMap::new();
        for (r, spec) in items {
            let path = spec.proc_path();
            if let Some(&(other, other_spec)) = first.get(&path)
                && other_spec.value != spec.value
            {
                c.error(
                    r,
                    "spec.key",
                    format!(
                        "{} also sets `{}` (to `{}`); two values for one key would fight",
                        other.id(),
                        spec.key,
                        other_spec.value
                    ),
                );
            }
            first.entry(path).or_insert((r, spec));
        }
    }
}
