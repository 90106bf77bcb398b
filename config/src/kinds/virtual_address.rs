//! `VirtualAddress`: an address that moves between routers, carried by
//! VRRP (`routerd-vrrp`) and, in a cluster, fenced by Raft ownership.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::When;
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::GoDuration;

/// The `VirtualAddress` kind.
pub struct VirtualAddress;

/// Address family.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// How the address is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VirtualAddressMode {
    /// Not set (the published schema allows an empty string).
    #[serde(rename = "")]
    Unset,
    /// A plain address on this router.
    Static,
    /// VRRP.
    Vrrp,
}

/// A HealthCheck whose failure lowers the VRRP priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Track {
    /// `Kind/name`, normally `HealthCheck/name`: unhealthy while its phase
    /// is not a healthy one.
    pub resource: String,
    /// Priority subtracted while the check is Unhealthy (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_penalty: Option<u8>,
    /// Accepted from the published schema; the HealthCheck's own thresholds decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_consecutive_healthy: Option<u8>,
    /// Accepted from the published schema; the HealthCheck's own thresholds decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_consecutive_unhealthy: Option<u8>,
}

/// A virtual MAC on a macvlan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverVmac {
    /// The macvlan's name.
    pub interface: String,
    /// Its parent interface.
    pub parent_interface: String,
    /// The MAC (normally 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6).
    pub mac_address: String,
    /// A link-local address for the macvlan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_local_address: Option<String>,
    /// Accepted from the published schema; no effect yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdraw_router_advertisement: Option<bool>,
}

/// A secret read from elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretFrom {
    /// An environment variable of routerd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The value is base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<bool>,
}

/// VRRP settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VrrpSpec {
    /// The virtual router id (1-255), shared by every router of the group.
    #[serde(rename = "virtualRouterID")]
    pub virtual_router_id: u8,
    /// This router's priority (1-254; default 100). Per-node values come
    /// from one resource per node (`metadata.nodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// A higher priority takes over from a lower one (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt: Option<bool>,
    /// How long a higher priority router waits before taking over (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<GoDuration>,
    /// Advertisement interval, in centiseconds on the wire (default 1s; 10ms steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_interval: Option<GoDuration>,
    /// VRRP version, 3 (default) or 2 (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// Accept traffic addressed to the virtual address while master (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_mode: Option<bool>,
    /// Unicast peers; multicast when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<IpAddr>,
    /// The link-local virtual address of an IPv6 group (default: the
    /// EUI-64 link-local of the VRRP virtual MAC, fe80::200:5eff:fe00:2XX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_local_address: Option<Ipv6Addr>,
    /// VRRPv2 simple-text authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    /// The authentication text, read from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_from: Option<SecretFrom>,
    /// Carry the group on a macvlan with the virtual MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_vmac: Option<FailoverVmac>,
    /// More macvlans moved with the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_failover_vmacs: Vec<FailoverVmac>,
}

/// Spec of a `VirtualAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualAddressSpec {
    /// The `Interface` resource (by name).
    pub interface: String,
    /// The address with its prefix length, e.g. `192.0.2.1/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Accepted from the published schema; not supported by this build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_from: Option<serde_json::Value>,
    /// `ipv4` or `ipv6` (default: from the address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// `vrrp` (default) or `static`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<VirtualAddressMode>,
    /// VRRP settings (mode vrrp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<VrrpSpec>,
    /// HealthChecks that lower the priority while unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<Track>,
    /// Send gratuitous ARP when the address is added (VRRP always does on takeover).
    #[serde(
        default,
        rename = "gratuitousARP",
        skip_serializing_if = "Option::is_none"
    )]
    pub gratuitous_arp: Option<bool>,
    /// Accepted from the published schema; no effect yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Accepted from the published schema; no effect yet.
    #[serde(
        default,
        rename = "externalDNS",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_dns: Option<bool>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// Default VRRP priority.
pub const DEFAULT_PRIORITY: u8 = 100;
/// Default advertisement interval.
pub const DEFAULT_ADVERT: Duration = Duration::from_secs(1);
/// Default priority penalty of an unhealthy tracked check.
pub const DEFAULT_PENALTY: u8 = 50;

impl VirtualAddressSpec {
    /// The parsed address, if it parses.
    pub fn net(&self) -> Option<IpNet> {
        let text = self.address.as_deref()?;
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
    }

    /// The family, stated or from the address.
    pub fn family(&self) -> Family {
        self.family.unwrap_or(match self.net() {
            Some(IpNet::V6(_)) => Family::Ipv6,
            _ => Family::Ipv4,
        })
    }

    /// The mode (vrrp unless static).
    pub fn is_vrrp(&self) -> bool {
        !matches!(self.mode, Some(VirtualAddressMode::Static))
    }

    /// The VRRP group key `interface/family/vrid`, shared by every resource
    /// (and every node) of one virtual router.
    pub fn group(&self) -> Option<String> {
        let vrrp = self.vrrp.as_ref()?;
        let family = match self.family() {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        };
        Some(format!(
            "{}/{family}/{}",
            self.interface, vrrp.virtual_router_id
        ))
    }

    /// The advertisement interval.
    pub fn advert_interval(&self) -> Duration {
        self.vrrp
            .as_ref()
            .and_then(|v| v.advert_interval)
            .map_or(DEFAULT_ADVERT, |d| d.0)
    }

    /// The link-local virtual address of an IPv6 group.
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        let vrrp = self.vrrp.as_ref()?;
        if self.family() != Family::Ipv6 {
            return None;
        }
        Some(vrrp.link_local_address.unwrap_or_else(|| {
            // EUI-64 of 00:00:5e:00:02:VRID.
            Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0x0200,
                0x5eff,
                0xfe00,
                0x0200 | u16::from(vrrp.virtual_router_id),
            )
        }))
    }
}

impl Kind for VirtualAddress {
    const KIND: &'static str = "VirtualAddress";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = VirtualAddressSpec;

    fn check(spec: &VirtualAddressSpec, c: &mut Checker<'_>) {
        c.reference_one_of("spec.interface", INTERFACE_KINDS, &spec.interface);
        if spec.address_from.is_some() {
            c.error(
                "spec.addressFrom",
                "is not supported by this build of routerd; give spec.address",
            );
        }
        match (&spec.address, spec.net()) {
            (None, _) if spec.address_from.is_none() => {
                c.error("spec.address", "required field `address` is missing");
            }
            (Some(text), None) => c.error(
                "spec.address",
                format!("`{text}` is not an address with a prefix length, like 192.0.2.1/24"),
            ),
            (Some(_), Some(net)) => {
                let family_matches = matches!(
                    (spec.family(), net),
                    (Family::Ipv4, IpNet::V4(_)) | (Family::Ipv6, IpNet::V6(_))
                );
                if !family_matches {
                    c.error("spec.family", format!("{net} is not of this family"));
                }
                if crate::types::is_unassignable(net.addr()) {
                    c.error(
                        "spec.address",
                        format!("{} cannot be assigned to an interface", net.addr()),
                    );
                }
            }
            _ => {}
        }
        if !spec.is_vrrp() {
            c.error(
                "spec.mode",
                "mode static is not implemented by this build of routerd; use IPv4StaticAddress or IPv6StaticAddress",
            );
            return;
        }
        let Some(vrrp) = &spec.vrrp else {
            c.error(
                "spec.vrrp",
                "mode vrrp needs spec.vrrp with a virtualRouterID",
            );
            return;
        };
        if vrrp.virtual_router_id == 0 {
            c.error("spec.vrrp.virtualRouterID", "virtual router ids are 1-255");
        }
        if let Some(p) = vrrp.priority
            && !(1..=254).contains(&p)
        {
            c.error(
                "spec.vrrp.priority",
                "priority is 1-254 (255 is reserved for the address owner, 0 for a master leaving)",
            );
        }
        let version = vrrp.version.unwrap_or(3);
        if version != 2 && version != 3 {
            c.error("spec.vrrp.version", "VRRP version is 2 or 3");
        }
        if version == 2 && spec.family() == Family::Ipv6 {
            c.error(
                "spec.vrrp.version",
                "VRRPv2 carries IPv4 only; use version 3 for IPv6",
            );
        }
        if vrrp.authentication.is_some() && version != 2 {
            c.warn(
                "spec.vrrp.authentication",
                "has no effect: VRRPv3 has no authentication (RFC 9568); it applies to version 2 only",
            );
        }
        if vrrp.authentication_from.is_some() {
            c.error(
                "spec.vrrp.authenticationFrom",
                "is not supported by this build of routerd; give spec.vrrp.authentication",
            );
        }
        if let Some(a) = &vrrp.authentication {
            if a.is_empty() {
                c.error(
                    "spec.vrrp.authentication",
                    "an empty password; drop the field instead",
                );
            } else if a.len() > 8 && version == 2 {
                c.warn(
                    "spec.vrrp.authentication",
                    "VRRPv2 text authentication carries 8 characters; the rest is not sent (as keepalived does)",
                );
            }
        }
        let advert = spec.advert_interval();
        let cs = advert.as_millis() / 10;
        if version == 3 {
            if !advert.as_millis().is_multiple_of(10) || !(1..=4095).contains(&cs) {
                c.error(
                    "spec.vrrp.advertInterval",
                    "VRRPv3 advertises in centiseconds: 10ms to 40.95s in 10ms steps",
                );
            }
        } else if advert.subsec_nanos() != 0 || !(1..=255).contains(&advert.as_secs()) {
            c.error(
                "spec.vrrp.advertInterval",
                "VRRPv2 advertises in whole seconds, 1s to 255s",
            );
        }
        if vrrp.preempt == Some(false) && vrrp.preempt_delay.is_some() {
            c.warn(
                "spec.vrrp.preemptDelay",
                "has no effect with preempt: false",
            );
        }
        for (i, peer) in vrrp.peers.iter().enumerate() {
            let matches = matches!(
                (spec.family(), peer),
                (Family::Ipv4, IpAddr::V4(_)) | (Family::Ipv6, IpAddr::V6(_))
            );
            if !matches {
                c.error(
                    &format!("spec.vrrp.peers[{i}]"),
                    format!("{peer} is not of this family"),
                );
            }
        }
        if let Some(ll) = vrrp.link_local_address
            && (ll.segments()[0] & 0xffc0) != 0xfe80
        {
            c.error(
                "spec.vrrp.linkLocalAddress",
                format!("{ll} is not link-local (fe80::/10)"),
            );
        }
        if vrrp.failover_vmac.is_some() || !vrrp.additional_failover_vmacs.is_empty() {
            c.error(
                "spec.vrrp.failoverVMAC",
                "is not supported by this build of routerd yet",
            );
        }
        for (i, t) in spec.track.iter().enumerate() {
            let path = format!("spec.track[{i}].resource");
            match t.resource.split_once('/') {
                Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                    c.reference(&path, kind, name);
                }
                _ => c.error(
                    &path,
                    format!("`{}` is not Kind/name, like HealthCheck/wan", t.resource),
                ),
            }
            if t.confirm_consecutive_healthy.is_some() || t.confirm_consecutive_unhealthy.is_some()
            {
                c.warn(
                    &format!("spec.track[{i}]"),
                    "confirmConsecutive* have no effect: the HealthCheck's own thresholds decide",
                );
            }
        }
        for (set, field) in [
            (spec.hostname.is_some(), "hostname"),
            (spec.external_dns.is_some(), "externalDNS"),
        ] {
            if set {
                c.warn(
                    &format!("spec.{field}"),
                    "has no effect in this build of routerd",
                );
            }
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &VirtualAddressSpec)], c: &mut SetChecker<'_>) {
        // One virtual router per interface, family and VRID on a node: every
        // resource of the group must agree on how VRRP runs.
        let mut groups: BTreeMap<String, (&Resource, &VirtualAddressSpec)> = BTreeMap::new();
        let mut addresses: BTreeMap<IpAddr, &Resource> = BTreeMap::new();
        for (r, spec) in items {
            if let Some(net) = spec.net() {
                if let Some(other) = addresses.get(&net.addr()) {
                    c.error(
                        r,
                        "spec.address",
                        format!("{} is already virtual address {}", net.addr(), other.id()),
                    );
                } else {
                    addresses.insert(net.addr(), r);
                }
            }
            let (Some(group), Some(vrrp)) = (spec.group(), &spec.vrrp) else {
                continue;
            };
            let Some((first, first_spec)) = groups.get(&group) else {
                groups.insert(group, (r, spec));
                continue;
            };
            let Some(fv) = &first_spec.vrrp else { continue };
            let same = (
                vrrp.priority,
                vrrp.preempt,
                vrrp.preempt_delay,
                first_spec.advert_interval() == spec.advert_interval(),
                vrrp.version,
                vrrp.accept_mode,
                &vrrp.peers,
                &vrrp.authentication,
            ) == (
                fv.priority,
                fv.preempt,
                fv.preempt_delay,
                true,
                fv.version,
                fv.accept_mode,
                &fv.peers,
                &fv.authentication,
            );
            if !same {
                c.error(
                    r,
                    "spec.vrrp",
                    format!(
                        "{} runs the same virtual router ({group}) with other VRRP settings; one virtual router has one priority, interval, version, preempt and peers per node",
                        first.id()
                    ),
                );
            }
        }
    }
}
