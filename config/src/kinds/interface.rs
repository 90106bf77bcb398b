//! `Interface`: a kernel link routerd observes and, when managed, keeps up
//! with the configured MTU.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{When, check_ifname};
use crate::kind::{Checker, Kind, Resource, SetChecker};

/// The `Interface` kind.
pub struct Interface;

/// Kinds that provide a kernel interface an `interface:` field may name.
pub const INTERFACE_KINDS: &[&str] = &[
    "Interface",
    "TunnelInterface",
    "WireGuardInterface",
    "VXLANTunnel",
    "DSLiteTunnel",
    "PPPoESession",
    "VRF",
];

/// Who owns a link's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// routerd sets admin state and MTU.
    Routerd,
    /// Something else does (a DHCP client, a hypervisor, a person); routerd only observes.
    External,
}

/// Spec of an `Interface`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterfaceSpec {
    /// The kernel's name for the link, e.g. `eth1` or `ens19.110`.
    pub ifname: String,
    /// Whether routerd manages the link's admin state and MTU.
    pub managed: bool,
    /// Desired admin state; defaults to up for a managed interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_up: Option<bool>,
    /// Desired MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Who owns the link's settings (default: routerd when managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Free-form role, e.g. `trust` or `wan` (used by zone-aware kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl InterfaceSpec {
    /// Whether routerd writes the link's settings.
    pub fn is_managed(&self) -> bool {
        self.managed && self.owner != Some(Owner::External)
    }

    /// The admin state routerd enforces, if any.
    pub fn desired_admin_up(&self) -> Option<bool> {
        if self.is_managed() {
            Some(self.admin_up.unwrap_or(true))
        } else {
            None
        }
    }
}

impl Kind for Interface {
    const KIND: &'static str = "Interface";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = InterfaceSpec;

    fn check(spec: &InterfaceSpec, c: &mut Checker<'_>) {
        if let Err(e) = check_ifname(&spec.ifname) {
            c.error("spec.ifname", e);
        }
        if let Some(mtu) = spec.mtu
            && !(576..=65535).contains(&mtu)
        {
            c.error(
                "spec.mtu",
                format!("MTU {mtu} is out of range (576..=65535)"),
            );
        }
        if spec.managed && spec.owner == Some(Owner::External) {
            c.error(
                "spec.owner",
                "an interface owned by `external` cannot be `managed: true`; set managed: false or owner: routerd",
            );
        }
        if !spec.is_managed() {
            for (set, field) in [
                (spec.mtu.is_some(), "mtu"),
                (spec.admin_up.is_some(), "adminUp"),
            ] {
                if set {
                    c.warn(
                        &format!("spec.{field}"),
                        "has no effect: routerd does not change an unmanaged interface",
                    );
                }
            }
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &InterfaceSpec)], c: &mut SetChecker<'_>) {
        use std::collections::hash_map::{Entry, HashMap};
        let mut first: HashMap<&str, &Resource> = HashMap::new();
        for (r, spec) in items {
            match first.entry(spec.ifname.as_str()) {
                Entry::Occupied(used) => c.error(
                    r,
                    "spec.ifname",
                    format!(
                        "ifname `{}` is already used by {}",
                        spec.ifname,
                        used.get().id()
                    ),
                ),
                Entry::Vacant(free) => {
                    free.insert(r);
                }
            }
        }
    }
}
