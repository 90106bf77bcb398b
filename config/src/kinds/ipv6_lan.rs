//! The LAN side of a delegated prefix: `IPv6DelegatedAddress` (a subnet of
//! the delegated prefix numbered onto a LAN interface) and
//! `IPv6RouterAdvertisement` (routerd's own RA sender).

use std::net::Ipv6Addr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DependsOn, ValueFrom, When};
use super::dhcp::{check_domain, check_from};
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::{GoDuration, Ipv6Prefix};

/// The `IPv6DelegatedAddress` kind.
pub struct IPv6DelegatedAddress;
/// The `IPv6RouterAdvertisement` kind.
pub struct IPv6RouterAdvertisement;

/// Spec of an `IPv6DelegatedAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPv6DelegatedAddressSpec {
    /// The `DHCPv6PrefixDelegation` (by name) that supplies the prefix.
    pub prefix_delegation: String,
    /// The LAN `Interface` resource (by name) that gets the address.
    pub interface: String,
    /// The interface identifier, ORed into the selected /64, e.g. `::1`.
    pub address_suffix: String,
    /// Which /64 of the delegated prefix, in hex as in an address (`0`,
    /// `a`, `1f`); default 0.
    #[serde(default, rename = "subnetID", skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// Prefix length of the installed address (default 64; 128 installs no
    /// on-link route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    /// Advertise the /64 in router advertisements on the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<bool>,
    /// Run a router advertisement sender on the interface even without an
    /// `IPv6RouterAdvertisement` resource there (implies `announce`).
    #[serde(default, rename = "sendRA", skip_serializing_if = "Option::is_none")]
    pub send_ra: Option<bool>,
    /// Install only while these resources are in the given state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl IPv6DelegatedAddressSpec {
    /// The subnet number, if `subnetID` is valid hex of at most 64 bits.
    pub fn subnet(&self) -> Option<u64> {
        let text = self.subnet_id.as_deref().unwrap_or("0");
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if digits.is_empty() || digits.len() > 16 {
            return None;
        }
        u64::from_str_radix(digits, 16).ok()
    }

    /// The interface identifier, if `addressSuffix` is an IPv6 address
    /// whose upper 64 bits are zero.
    pub fn suffix(&self) -> Option<Ipv6Addr> {
        let text = self.address_suffix.trim();
        let addr: Ipv6Addr = text.parse().ok()?;
        (u128::from(addr) >> 64 == 0).then_some(addr)
    }

    /// The installed prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_length.unwrap_or(64)
    }

    /// Whether the /64 goes into router advertisements.
    pub fn announced(&self) -> bool {
        self.announce == Some(true) || self.send_ra == Some(true)
    }
}

impl Kind for IPv6DelegatedAddress {
    const KIND: &'static str = "IPv6DelegatedAddress";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = IPv6DelegatedAddressSpec;

    fn check(spec: &IPv6DelegatedAddressSpec, c: &mut Checker<'_>) {
        c.reference(
            "spec.prefixDelegation",
            "DHCPv6PrefixDelegation",
            &spec.prefix_delegation,
        );
        c.reference_one_of("spec.interface", INTERFACE_KINDS, &spec.interface);
        match spec.suffix() {
            None => c.error(
                "spec.addressSuffix",
                format!(
                    "`{}` is not an interface identifier: an IPv6 address within ::/64, e.g. ::1",
                    spec.address_suffix
                ),
            ),
            Some(s) if s.is_unspecified() && spec.prefix_len() == 128 => c.error(
                "spec.addressSuffix",
                "the suffix :: with /128 gives the subnet-router anycast address",
            ),
            Some(_) => {}
        }
        if spec.subnet().is_none() {
            c.error(
                "spec.subnetID",
                format!(
                    "`{}` is not a subnet number: hex digits as in an address, e.g. 0, a, 1f",
                    spec.subnet_id.as_deref().unwrap_or_default()
                ),
            );
        }
        if let Some(len) = spec.prefix_length
            && !(64..=128).contains(&len)
        {
            c.error(
                "spec.prefixLength",
                "64 (a LAN subnet) up to 128 (the address alone)",
            );
        }
        for (i, dep) in spec.depends_on.iter().enumerate() {
            c.reference_to(&format!("spec.dependsOn[{i}].resource"), &dep.resource);
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &IPv6DelegatedAddressSpec)], c: &mut SetChecker<'_>) {
        // Two resources taking the same /64 of one delegation onto two
        // interfaces would put one subnet on two links.
        for (i, (r, spec)) in items.iter().enumerate() {
            if let Some((other, _)) = items[..i].iter().find(|(_, o)| {
                o.prefix_delegation == spec.prefix_delegation
                    && o.subnet() == spec.subnet()
                    && o.interface != spec.interface
            }) {
                c.error(
                    r,
                    "spec.subnetID",
                    format!(
                        "subnet {} of {} is already numbered onto another interface by {}",
                        spec.subnet_id.as_deref().unwrap_or("0"),
                        spec.prefix_delegation,
                        other.id()
                    ),
                );
            }
        }
    }
}

/// Default router preference (RFC 4191).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouterPreference {
    /// Medium (also what an empty string means).
    #[default]
    #[serde(alias = "")]
    Medium,
    /// Low.
    Low,
    /// High.
    High,
}

/// Spec of an `IPv6RouterAdvertisement`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IPv6RouterAdvertisementSpec {
    /// The LAN `Interface` resource (by name).
    pub interface: String,
    /// A static prefix to advertise, e.g. `2001:db8:1::/64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Ipv6Prefix>,
    /// A prefix read from another resource (an address with its length,
    /// e.g. `IPv6DelegatedAddress/lan-v6` field `address`: its /64 is advertised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_from: Option<ValueFrom>,
    /// Recursive DNS servers (RDNSS, RFC 8106).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdnss: Vec<Ipv6Addr>,
    /// RDNSS read from other resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdnss_from: Vec<ValueFrom>,
    /// DNS search list (DNSSL, RFC 8106).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnssl: Vec<String>,
    /// DNSSL read from other resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnssl_from: Vec<ValueFrom>,
    /// Managed flag: addresses from DHCPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m_flag: Option<bool>,
    /// Other-configuration flag: DNS and more from DHCPv6 Information-request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o_flag: Option<bool>,
    /// Link MTU option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Default router preference: low, medium (default) or high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prf_preference: Option<RouterPreference>,
    /// Preferred lifetime of the prefixes (default 30m; never more than the
    /// delegation's own remaining lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lifetime: Option<GoDuration>,
    /// Valid lifetime of the prefixes (default 1h30m; never more than the
    /// delegation's own remaining lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_lifetime: Option<GoDuration>,
    /// Router lifetime (default 3 × maxInterval, at most 9000s; 0 says
    /// "not a default router").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_lifetime: Option<GoDuration>,
    /// Longest time between unsolicited advertisements (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<GoDuration>,
    /// Shortest time between unsolicited advertisements (default a third of maxInterval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval: Option<GoDuration>,
    /// radvd's config file (not used: routerd sends RAs itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// radvd's pid file (not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    /// Advertise only while these resources are in the given state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// RFC 4861 §6.2.1 bounds, and the defaults routerd uses.
pub mod ra_defaults {
    use std::time::Duration;

    /// MaxRtrAdvInterval default.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(600);
    /// Smallest MaxRtrAdvInterval accepted (RFC 4861 says 4 s; labs go lower).
    pub const MAX_INTERVAL_FLOOR: Duration = Duration::from_secs(1);
    /// Largest MaxRtrAdvInterval.
    pub const MAX_INTERVAL_CEIL: Duration = Duration::from_secs(1800);
    /// Largest router lifetime.
    pub const ROUTER_LIFETIME_CEIL: Duration = Duration::from_secs(9000);
    /// Default preferred lifetime of advertised prefixes (RFC 9096 ND_PREFERRED_LIMIT 2700 s is the cap).
    pub const PREFERRED: Duration = Duration::from_secs(1800);
    /// Default valid lifetime of advertised prefixes (RFC 9096 ND_VALID_LIMIT 5400 s).
    pub const VALID: Duration = Duration::from_secs(5400);
}

impl IPv6RouterAdvertisementSpec {
    /// MaxRtrAdvInterval.
    pub fn max_interval(&self) -> Duration {
        self.max_interval.map_or(ra_defaults::MAX_INTERVAL, |d| d.0)
    }

    /// MinRtrAdvInterval.
    pub fn min_interval(&self) -> Duration {
        self.min_interval
            .map_or(self.max_interval().mul_f64(0.33), |d| d.0)
    }

    /// Router lifetime.
    pub fn router_lifetime(&self) -> Duration {
        self.router_lifetime.map_or(
            (self.max_interval() * 3).min(ra_defaults::ROUTER_LIFETIME_CEIL),
            |d| d.0,
        )
    }

    /// Preferred lifetime of the prefixes.
    pub fn preferred_lifetime(&self) -> Duration {
        self.preferred_lifetime
            .map_or(ra_defaults::PREFERRED, |d| d.0)
    }

    /// Valid lifetime of the prefixes.
    pub fn valid_lifetime(&self) -> Duration {
        self.valid_lifetime.map_or(ra_defaults::VALID, |d| d.0)
    }
}

impl Kind for IPv6RouterAdvertisement {
    const KIND: &'static str = "IPv6RouterAdvertisement";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = IPv6RouterAdvertisementSpec;

    fn check(spec: &IPv6RouterAdvertisementSpec, c: &mut Checker<'_>) {
        c.reference_one_of("spec.interface", INTERFACE_KINDS, &spec.interface);
        if spec.prefix.is_some() && spec.prefix_from.is_some() {
            c.error(
                "spec.prefixFrom",
                "give either prefix or prefixFrom, not both",
            );
        }
        if let Some(p) = &spec.prefix
            && p.0.prefix_len() != 64
        {
            c.warn(
                "spec.prefix",
                format!(
                    "{} is not a /64: hosts autoconfigure addresses (SLAAC) only from /64s; it is advertised on-link only",
                    p.0
                ),
            );
        }
        if let Some(from) = &spec.prefix_from {
            c.reference_to("spec.prefixFrom.resource", &from.resource);
        }
        check_from("spec.rdnssFrom", &spec.rdnss_from, c);
        check_from("spec.dnsslFrom", &spec.dnssl_from, c);
        for (i, d) in spec.dnssl.iter().enumerate() {
            if let Err(e) = check_domain(d) {
                c.error(&format!("spec.dnssl[{i}]"), e);
            }
        }
        for (i, a) in spec.rdnss.iter().enumerate() {
            if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
                c.error(
                    &format!("spec.rdnss[{i}]"),
                    format!("{a} cannot be a DNS server"),
                );
            }
        }
        if let Some(mtu) = spec.mtu
            && !(1280..=65535).contains(&mtu)
        {
            c.error("spec.mtu", "an IPv6 link MTU of 1280-65535");
        }
        let max = spec.max_interval();
        if !(ra_defaults::MAX_INTERVAL_FLOOR..=ra_defaults::MAX_INTERVAL_CEIL).contains(&max) {
            c.error(
                "spec.maxInterval",
                "1s to 30m (RFC 4861 §6.2.1: 4s to 1800s)",
            );
        }
        let min = spec.min_interval();
        if spec.min_interval.is_some()
            && (min < Duration::from_millis(30) || min > max.mul_f64(0.75))
        {
            c.error(
                "spec.minInterval",
                "at least 30ms and at most 0.75 × maxInterval (RFC 4861 §6.2.1)",
            );
        }
        let lifetime = spec.router_lifetime();
        if !lifetime.is_zero() && (lifetime < max || lifetime > ra_defaults::ROUTER_LIFETIME_CEIL) {
            c.error(
                "spec.routerLifetime",
                "0, or between maxInterval and 9000s (RFC 4861 §6.2.1)",
            );
        }
        if spec.preferred_lifetime() > spec.valid_lifetime() {
            c.error(
                "spec.preferredLifetime",
                "the preferred lifetime cannot exceed the valid lifetime",
            );
        }
        if spec.config_path.is_some() || spec.pid_file.is_some() {
            c.warn(
                "spec.configPath",
                "configPath and pidFile are radvd settings; routerd sends router advertisements itself and ignores them",
            );
        }
        for (i, dep) in spec.depends_on.iter().enumerate() {
            c.reference_to(&format!("spec.dependsOn[{i}].resource"), &dep.resource);
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &IPv6RouterAdvertisementSpec)], c: &mut SetChecker<'_>) {
        for (i, (r, spec)) in items.iter().enumerate() {
            if let Some((other, _)) = items[..i]
                .iter()
                .find(|(_, o)| o.interface == spec.interface)
            {
                c.error(
                    r,
                    "spec.interface",
                    format!(
                        "interface `{}` already has router advertisements from {}; one sender per link",
                        spec.interface,
                        other.id()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnet: Option<&str>, suffix: &str) -> IPv6DelegatedAddressSpec {
        IPv6DelegatedAddressSpec {
            prefix_delegation: "wan-pd".into(),
            interface: "lan".into(),
            address_suffix: suffix.into(),
            subnet_id: subnet.map(str::to_string),
            prefix_length: None,
            announce: None,
            send_ra: None,
            depends_on: Vec::new(),
            when: None,
        }
    }

    #[test]
    fn subnet_ids_are_hex_and_suffixes_stay_in_the_lower_half() {
        assert_eq!(spec(None, "::1").subnet(), Some(0));
        assert_eq!(spec(Some("1f"), "::1").subnet(), Some(0x1f));
        assert_eq!(spec(Some("0x10"), "::1").subnet(), Some(0x10));
        assert_eq!(spec(Some("g"), "::1").subnet(), None);
        assert_eq!(spec(None, "::1").suffix(), Some(Ipv6Addr::LOCALHOST));
        assert_eq!(spec(None, "2001:db8::1").suffix(), None);
        assert_eq!(spec(None, "nonsense").suffix(), None);
    }
}
