//! `IPv4StaticAddress` and `IPv6StaticAddress`: an address on an interface.

use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::When;
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::{Ipv4Cidr, Ipv6Cidr, is_unassignable};

/// The `IPv4StaticAddress` kind.
pub struct IPv4StaticAddress;
/// The `IPv6StaticAddress` kind: the IPv6 twin of `IPv4StaticAddress`.
pub struct IPv6StaticAddress;

/// Spec of an `IPv4StaticAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPv4StaticAddressSpec {
    /// The `Interface` resource (by name) that carries the address.
    pub interface: String,
    /// Address and prefix length, e.g. `192.0.2.1/24`.
    pub address: Ipv4Cidr,
    /// Remove every other IPv4 address from the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    /// Allow the prefix to overlap another configured IPv4 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overlap: Option<bool>,
    /// Why the overlap is intended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overlap_reason: Option<String>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// Spec of an `IPv6StaticAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPv6StaticAddressSpec {
    /// The `Interface` resource (by name) that carries the address.
    pub interface: String,
    /// Address and prefix length, e.g. `2001:db8:1::1/64`.
    pub address: Ipv6Cidr,
    /// Remove every other global IPv6 address from the interface (link-local ones stay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    /// Allow the prefix to overlap another configured IPv6 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overlap: Option<bool>,
    /// Why the overlap is intended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overlap_reason: Option<String>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// What the two address kinds have in common, for shared checks.
pub trait StaticAddress {
    /// The Interface resource name.
    fn interface(&self) -> &str;
    /// The address with its prefix length.
    fn net(&self) -> IpNet;
    /// Whether other addresses of the family are removed.
    fn is_exclusive(&self) -> bool;
    /// Whether overlaps are allowed.
    fn overlap_allowed(&self) -> bool;
    /// The reason given for an overlap.
    fn overlap_reason(&self) -> Option<&str>;
    /// The `when` gate.
    fn when(&self) -> Option<&When>;
}

macro_rules! static_address {
    ($spec:ty, $net:path) => {
        impl StaticAddress for $spec {
            fn interface(&self) -> &str {
                &self.interface
            }
            fn net(&self) -> IpNet {
                $net(self.address.0)
            }
            fn is_exclusive(&self) -> bool {
                self.exclusive.unwrap_or(false)
            }
            fn overlap_allowed(&self) -> bool {
                self.allow_overlap.unwrap_or(false)
            }
            fn overlap_reason(&self) -> Option<&str> {
                self.allow_overlap_reason.as_deref()
            }
            fn when(&self) -> Option<&When> {
                self.when.as_ref()
            }
        }
    };
}
static_address!(IPv4StaticAddressSpec, IpNet::V4);
static_address!(IPv6StaticAddressSpec, IpNet::V6);

fn check_one(spec: &dyn StaticAddress, c: &mut Checker<'_>) {
    c.reference_one_of("spec.interface", INTERFACE_KINDS, spec.interface());
    let addr: IpAddr = spec.net().addr();
    if is_unassignable(addr) {
        c.error(
            "spec.address",
            format!(
                "{addr} cannot be assigned to an interface (unspecified, multicast or broadcast)"
            ),
        );
    }
    if spec.overlap_allowed() && spec.overlap_reason().is_none_or(str::is_empty) {
        c.warn(
            "spec.allowOverlap",
            "allowOverlap without allowOverlapReason: say why the overlap is intended",
        );
    }
    if let Some(when) = spec.when() {
        when.check("spec.when", c);
    }
}

fn check_set(items: &[(&Resource, &dyn StaticAddress)], c: &mut SetChecker<'_>) {
    for (i, (r, spec)) in items.iter().enumerate() {
        for (other, other_spec) in &items[..i] {
            let (a, b) = (spec.net(), other_spec.net());
            if a.addr() == b.addr() {
                c.error(
                    r,
                    "spec.address",
                    format!(
                        "address {} is already configured by {}",
                        a.addr(),
                        other.id()
                    ),
                );
            } else if (a.contains(&b.network()) || b.contains(&a.network()))
                && !(spec.overlap_allowed() || other_spec.overlap_allowed())
                && !is_link_local(a)
                && spec.interface() != other_spec.interface()
            {
                c.error(
                    r,
                    "spec.address",
                    format!(
                        "{} overlaps {} of {} on another interface; set allowOverlap (with allowOverlapReason) if intended",
                        a.trunc(),
                        b.trunc(),
                        other.id()
                    ),
                );
            }
            if spec.is_exclusive()
                && other_spec.is_exclusive()
                && spec.interface() == other_spec.interface()
            {
                c.error(
                    r,
                    "spec.exclusive",
                    format!(
                        "{} is also exclusive on interface `{}`: two exclusive addresses would remove each other",
                        other.id(),
                        spec.interface()
                    ),
                );
            }
        }
    }
}

fn is_link_local(net: IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(a) => a.is_link_local(),
    }
}

/// The Kind impl of a twin: the checks are the shared ones above.
macro_rules! twin_kind {
    ($kind:ident, $spec:ty) => {
        impl Kind for $kind {
            const KIND: &'static str = stringify!($kind);
            const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
            type Spec = $spec;

            fn check(spec: &Self::Spec, c: &mut Checker<'_>) {
                check_one(spec, c);
            }

            fn check_all(items: &[(&Resource, &Self::Spec)], c: &mut SetChecker<'_>) {
                let items: Vec<(&Resource, &dyn StaticAddress)> = items
                    .iter()
                    .map(|(r, s)| (*r, *s as &dyn StaticAddress))
                    .collect();
                check_set(&items, c);
            }
        }
    };
}

twin_kind!(IPv4StaticAddress, IPv4StaticAddressSpec);
twin_kind!(IPv6StaticAddress, IPv6StaticAddressSpec);
