//! `DSLiteTunnel`: IPv4 over an IPv6 softwire to the provider's AFTR
//! (RFC 6333), an ip6tnl (ipip6) link with the IPv4 default route through it.

use std::net::Ipv6Addr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DependsOn, ValueFrom, When, check_ifname};
use super::dhcp::check_domain;
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind, Resource, SetChecker};

/// The `DSLiteTunnel` kind.
pub struct DSLiteTunnel;

/// Where the tunnel's local (B4) address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LocalAddressSource {
    /// A global address of the upstream interface.
    #[default]
    Interface,
    /// `localAddress` (or `localAddressFrom`).
    Static,
    /// `localDelegatedAddress`'s /64 with `localAddressSuffix`.
    DelegatedAddress,
}

/// How one AAAA answer is chosen when the AFTR name has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AftrSelection {
    /// The `aftrAddressOrdinal`-th answer (in sorted order); none if there are fewer.
    #[default]
    Ordinal,
    /// The ordinal wrapped by the number of answers.
    OrdinalModulo,
}

/// Spec of a `DSLiteTunnel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DSLiteTunnelSpec {
    /// The upstream (IPv6) `Interface` resource (by name).
    pub interface: String,
    /// The tunnel link's name (default: the resource name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_name: Option<String>,
    /// A fixed AFTR address.
    #[serde(default, rename = "aftrIPv6", skip_serializing_if = "Option::is_none")]
    pub aftr_ipv6: Option<Ipv6Addr>,
    /// Same as `aftrIPv6` (older name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<Ipv6Addr>,
    /// The AFTR's name, resolved to AAAA records.
    #[serde(default, rename = "aftrFQDN", skip_serializing_if = "Option::is_none")]
    pub aftr_fqdn: Option<String>,
    /// The AFTR name (or address) read from another resource, e.g. a
    /// `DHCPv6Information`'s `aftrName` (DHCPv6 option 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aftr_from: Option<ValueFrom>,
    /// Plain-DNS servers that resolve the AFTR name; without them the
    /// name goes through the `DNSForwarder` that matches it.
    #[serde(
        default,
        rename = "aftrDNSServers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aftr_dns_servers: Vec<Ipv6Addr>,
    /// Which answer to use (1-based, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aftr_address_ordinal: Option<u32>,
    /// `ordinal` (default) or `ordinalModulo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aftr_address_selection: Option<AftrSelection>,
    /// `interface` (default), `static` or `delegatedAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address_source: Option<LocalAddressSource>,
    /// A fixed local address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<Ipv6Addr>,
    /// The local address read from another resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address_from: Option<ValueFrom>,
    /// The `IPv6DelegatedAddress` whose /64 holds the local address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_delegated_address: Option<String>,
    /// Interface identifier of the local address within that /64 (default: the
    /// delegated address itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address_suffix: Option<String>,
    /// Tunnel MTU (default: the upstream link's MTU less the 40-byte IPv6
    /// header and, with an encapsulation limit, its 8-byte option: 1452 on
    /// a 1500-byte link, 1460 with `encapsulationLimit: none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Tunnel encapsulation limit (RFC 2473): `none` or 0-255 (default 4, the kernel's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encapsulation_limit: Option<String>,
    /// Route IPv4 by default through the tunnel (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<bool>,
    /// Metric of that route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_metric: Option<u32>,
    /// Set false to keep the resource but remove the tunnel and its route
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Run only while these resources are in the given state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// An encapsulation limit as the kernel takes it: `None` means no limit option.
pub fn parse_encap_limit(text: &str) -> Option<Option<u8>> {
    match text.trim() {
        "none" | "off" => Some(None),
        n => n.parse::<u8>().ok().map(Some),
    }
}

impl DSLiteTunnelSpec {
    /// The tunnel link's name.
    pub fn ifname<'a>(&'a self, resource_name: &'a str) -> &'a str {
        self.tunnel_name.as_deref().unwrap_or(resource_name)
    }

    /// The static AFTR address, if one is configured.
    pub fn static_aftr(&self) -> Option<Ipv6Addr> {
        self.aftr_ipv6.or(self.remote_address)
    }

    /// The local address source.
    pub fn local_source(&self) -> LocalAddressSource {
        self.local_address_source.unwrap_or_default()
    }

    /// The encapsulation limit (default 4, the kernel's).
    pub fn encap_limit(&self) -> Option<u8> {
        self.encapsulation_limit
            .as_deref()
            .and_then(parse_encap_limit)
            .unwrap_or(Some(4))
    }

    /// The tunnel MTU over an upstream link of `link_mtu`: configured, or
    /// what fits without fragmenting the outer packet.
    pub fn mtu(&self, link_mtu: u32) -> u32 {
        self.mtu.unwrap_or_else(|| {
            let option = if self.encap_limit().is_some() { 8 } else { 0 };
            link_mtu.saturating_sub(40 + option).max(1280)
        })
    }
}

impl Kind for DSLiteTunnel {
    const KIND: &'static str = "DSLiteTunnel";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DSLiteTunnelSpec;

    fn check(spec: &DSLiteTunnelSpec, c: &mut Checker<'_>) {
        c.reference_one_of("spec.interface", INTERFACE_KINDS, &spec.interface);
        // A warning, not an error: published examples use names longer than
        // Linux allows (they were written for other kernels too); such a
        // tunnel loads, and its status says why it cannot be created.
        if let Some(name) = &spec.tunnel_name
            && let Err(e) = check_ifname(name)
        {
            c.warn(
                "spec.tunnelName",
                format!("{e}: the tunnel cannot be created on Linux"),
            );
        }
        let sources = [
            spec.static_aftr().is_some(),
            spec.aftr_fqdn.is_some(),
            spec.aftr_from.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            0 => c.error(
                "spec",
                "say where the AFTR is: aftrIPv6, aftrFQDN or aftrFrom",
            ),
            1 => {}
            _ => c.error(
                "spec.aftrFQDN",
                "give one of aftrIPv6, aftrFQDN and aftrFrom",
            ),
        }
        if spec.aftr_ipv6.is_some() && spec.remote_address.is_some() {
            c.error(
                "spec.remoteAddress",
                "give either aftrIPv6 or remoteAddress",
            );
        }
        if let Some(a) = spec.static_aftr()
            && (a.is_unspecified() || a.is_multicast() || a.is_loopback())
        {
            c.error("spec.aftrIPv6", format!("{a} cannot be an AFTR"));
        }
        if let Some(name) = &spec.aftr_fqdn
            && let Err(e) = check_domain(name)
        {
            c.error("spec.aftrFQDN", e);
        }
        if let Some(from) = &spec.aftr_from {
            c.reference_to("spec.aftrFrom.resource", &from.resource);
        }
        if spec.aftr_address_ordinal == Some(0) {
            c.error("spec.aftrAddressOrdinal", "ordinals start at 1");
        }
        match spec.local_source() {
            LocalAddressSource::Static => {
                if spec.local_address.is_none() && spec.local_address_from.is_none() {
                    c.error(
                        "spec.localAddress",
                        "localAddressSource static needs localAddress or localAddressFrom",
                    );
                }
            }
            LocalAddressSource::DelegatedAddress => match &spec.local_delegated_address {
                None => c.error(
                    "spec.localDelegatedAddress",
                    "localAddressSource delegatedAddress needs localDelegatedAddress",
                ),
                Some(name) => {
                    c.reference("spec.localDelegatedAddress", "IPv6DelegatedAddress", name)
                }
            },
            LocalAddressSource::Interface => {}
        }
        if let Some(from) = &spec.local_address_from {
            c.reference_to("spec.localAddressFrom.resource", &from.resource);
        }
        if let Some(s) = &spec.local_address_suffix
            && s.parse::<Ipv6Addr>()
                .map_or(true, |a| u128::from(a) >> 64 != 0)
        {
            c.error(
                "spec.localAddressSuffix",
                format!(
                    "`{s}` is not an interface identifier: an IPv6 address within ::/64, e.g. ::100"
                ),
            );
        }
        if let Some(mtu) = spec.mtu
            && !(1280..=65535).contains(&mtu)
        {
            c.error("spec.mtu", "a tunnel MTU of 1280-65535");
        }
        if let Some(limit) = &spec.encapsulation_limit
            && parse_encap_limit(limit).is_none()
        {
            c.error(
                "spec.encapsulationLimit",
                format!("`{limit}` is not an encapsulation limit: none, or 0-255"),
            );
        }
        for (i, dep) in spec.depends_on.iter().enumerate() {
            c.reference_to(&format!("spec.dependsOn[{i}].resource"), &dep.resource);
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &DSLiteTunnelSpec)], c: &mut SetChecker<'_>) {
        for (i, (r, spec)) in items.iter().enumerate() {
            let name = spec.ifname(&r.name);
            if let Some((other, _)) = items[..i].iter().find(|(o, os)| os.ifname(&o.name) == name) {
                c.error(
                    r,
                    "spec.tunnelName",
                    format!("tunnel `{name}` is already defined by {}", other.id()),
                );
            }
        }
    }
}
