//! The WAN-side DHCP clients (`DHCPv6PrefixDelegation`, `DHCPv6Information`,
//! `DHCPv4Client`) and the LAN-side `DHCPv6Server`.
//!
//! Field names follow the published routerd schema. The clients run as
//! managed daemons (`routerd-dhcpv6-client`, `routerd-dhcpv4-client`); what
//! they learn is their resources' status, which other resources read with
//! `*From` and `prefixDelegation`.

use std::net::{Ipv4Addr, Ipv6Addr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DependsOn, ValueFrom, When};
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::GoDuration;

/// The `DHCPv6PrefixDelegation` kind.
pub struct DHCPv6PrefixDelegation;
/// The `DHCPv6Information` kind.
pub struct DHCPv6Information;
/// The `DHCPv4Client` kind.
pub struct DHCPv4Client;
/// The `DHCPv6Server` kind.
pub struct DHCPv6Server;

/// Provider presets for prefix delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PdProfile {
    /// RFC 8415 defaults.
    Default,
    /// NTT NGN with a Hikari Denwa contract: /60, DUID-LL.
    NttNgnDirectHikariDenwa,
    /// Behind an NTT home gateway that delegates from its LAN: /60, DUID-LL.
    NttHgwLanPd,
}

/// Spec of a `DHCPv6PrefixDelegation`: ask the upstream for a prefix (IA_PD).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DHCPv6PrefixDelegationSpec {
    /// The upstream `Interface` resource (by name).
    pub interface: String,
    /// Which client implementation; this build always runs its own
    /// (`routerd-dhcpv6-client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// A fixed DUID, as hex (`00:03:00:01:...` or `000300...`); by default a
    /// DUID-LL from the interface's MAC, kept across restarts.
    #[serde(
        default,
        rename = "clientDUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_duid: Option<String>,
    /// The prefix length to hint in Solicit (the server decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    /// Provider defaults: the NTT profiles hint /60 and use DUID-LL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PdProfile>,
    /// Whether the router is degraded without this prefix (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// A fixed IAID; by default derived once and kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iaid: Option<u32>,
    /// Ask for Rapid Commit (default true): a two-message exchange where
    /// the server allows it, the usual four where it does not. Like
    /// systemd-networkd's default; without it RFC 8415 makes the client
    /// collect Advertises for a whole second before it may Request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rapid_commit: Option<bool>,
    /// Send Release when the resource is removed (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_on_removal: Option<bool>,
    /// Upper bound of the random delay before the first Solicit (RFC 8415
    /// SOL_MAX_DELAY, default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solicit_max_delay: Option<GoDuration>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl DHCPv6PrefixDelegationSpec {
    /// The prefix length to hint: configured, else the profile's.
    pub fn prefix_hint(&self) -> Option<u8> {
        self.prefix_length.or(match self.profile {
            Some(PdProfile::NttNgnDirectHikariDenwa | PdProfile::NttHgwLanPd) => Some(60),
            _ => None,
        })
    }
}

/// The bytes of a DHCPv4 client identifier as written: `xx:xx[:xx...]` hex
/// pairs, otherwise the text itself.
pub fn client_id_bytes(text: &str) -> Vec<u8> {
    let pairs: Vec<&str> = text.split(':').collect();
    let hex = pairs.len() >= 2
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()));
    if hex {
        pairs
            .iter()
            .filter_map(|p| u8::from_str_radix(p, 16).ok())
            .collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn hostname_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// Whether an IPv4 address can be leased to an interface (not 0/8,
/// 127/8, multicast, 240/4 or broadcast).
fn v4_leasable(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || first == 0
        || first >= 240)
}

/// Parses a DUID written as hex, with or without `:` separators.
pub fn parse_duid(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

fn check_interface(interface: &str, c: &mut Checker<'_>) {
    c.reference_one_of("spec.interface", INTERFACE_KINDS, interface);
}

fn check_when(when: Option<&When>, c: &mut Checker<'_>) {
    if let Some(when) = when {
        when.check("spec.when", c);
    }
}

fn check_depends(depends_on: &[DependsOn], c: &mut Checker<'_>) {
    for (i, dep) in depends_on.iter().enumerate() {
        c.reference_to(&format!("spec.dependsOn[{i}].resource"), &dep.resource);
    }
}

pub(crate) fn check_from(path: &str, from: &[ValueFrom], c: &mut Checker<'_>) {
    for (i, f) in from.iter().enumerate() {
        c.reference_to(&format!("{path}[{i}].resource"), &f.resource);
    }
}

impl Kind for DHCPv6PrefixDelegation {
    const KIND: &'static str = "DHCPv6PrefixDelegation";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DHCPv6PrefixDelegationSpec;

    fn check(spec: &DHCPv6PrefixDelegationSpec, c: &mut Checker<'_>) {
        check_interface(&spec.interface, c);
        if let Some(len) = spec.prefix_length
            && !(1..=128).contains(&len)
        {
            c.error("spec.prefixLength", "a prefix length of 1-128");
        } else if spec.prefix_length.is_some_and(|l| l > 64) {
            c.warn(
                "spec.prefixLength",
                "a delegated prefix longer than /64 cannot number a LAN with SLAAC",
            );
        }
        if let Some(duid) = &spec.client_duid
            && parse_duid(duid).is_none_or(|b| b.len() < 2 || b.len() > 130)
        {
            c.error(
                "spec.clientDUID",
                format!(
                    "`{duid}` is not a DUID: 2-130 bytes of hex, e.g. 00:03:00:01:52:54:00:12:34:56"
                ),
            );
        }
        if let Some(client) = &spec.client
            && !client.is_empty()
            && client != "routerd"
        {
            c.warn(
                "spec.client",
                format!("client `{client}` is ignored: this build runs its own DHCPv6 client"),
            );
        }
        if spec
            .solicit_max_delay
            .is_some_and(|d| d.0 > std::time::Duration::from_secs(60))
        {
            c.error("spec.solicitMaxDelay", "at most 60s");
        }
        check_when(spec.when.as_ref(), c);
    }

    fn check_all(items: &[(&Resource, &DHCPv6PrefixDelegationSpec)], c: &mut SetChecker<'_>) {
        // One client per interface: two would fight over UDP port 546.
        for (i, (r, spec)) in items.iter().enumerate() {
            if let Some((other, _)) = items[..i]
                .iter()
                .find(|(_, o)| o.interface == spec.interface)
            {
                c.error(
                    r,
                    "spec.interface",
                    format!(
                        "interface `{}` already has a prefix delegation, {}",
                        spec.interface,
                        other.id()
                    ),
                );
            }
        }
    }
}

/// What an Information-request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InformationOption {
    /// DNS recursive name servers (option 23).
    DnsServers,
    /// Domain search list (option 24).
    DomainSearch,
    /// SNTP servers (option 31).
    SntpServers,
    /// The DS-Lite AFTR name (option 64).
    AftrName,
    /// NTP servers (option 56).
    NtpServers,
}

/// Spec of a `DHCPv6Information`: stateless configuration (Information-request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DHCPv6InformationSpec {
    /// The upstream `Interface` resource (by name).
    pub interface: String,
    /// Options to ask for (default: DNS servers, domain search, SNTP, AFTR name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request: Vec<InformationOption>,
    /// Run only while these resources are in the given state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl Kind for DHCPv6Information {
    const KIND: &'static str = "DHCPv6Information";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DHCPv6InformationSpec;

    fn check(spec: &DHCPv6InformationSpec, c: &mut Checker<'_>) {
        check_interface(&spec.interface, c);
        if !spec.request.is_empty() {
            c.warn(
                "spec.request",
                "not used: this build always asks for DNS servers, domain search, SNTP servers and the AFTR name",
            );
        }
        check_depends(&spec.depends_on, c);
        check_when(spec.when.as_ref(), c);
    }

    fn check_all(items: &[(&Resource, &DHCPv6InformationSpec)], c: &mut SetChecker<'_>) {
        for (i, (r, spec)) in items.iter().enumerate() {
            if let Some((other, _)) = items[..i]
                .iter()
                .find(|(_, o)| o.interface == spec.interface)
            {
                c.error(
                    r,
                    "spec.interface",
                    format!(
                        "interface `{}` already asks for information through {}",
                        spec.interface,
                        other.id()
                    ),
                );
            }
        }
    }
}

/// Spec of a `DHCPv4Client`: an address, routes and DNS servers from DHCP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DHCPv4ClientSpec {
    /// The upstream `Interface` resource (by name).
    pub interface: String,
    /// Vendor class identifier (option 60).
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    /// Client identifier (option 61): hex bytes `01:52:54:...` or text.
    #[serde(default, rename = "clientID", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Host name to send (option 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The address to ask for first (option 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_address: Option<Ipv4Addr>,
    /// Metric of the default route and the classless static routes
    /// (default: the kernel's IPv4 default, 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_metric: Option<u32>,
    /// Offer the learned DNS servers to DNSUpstream `addressFrom` (default
    /// true); routerd never writes /etc/resolv.conf on its own.
    #[serde(default, rename = "useDNS", skip_serializing_if = "Option::is_none")]
    pub use_dns: Option<bool>,
    /// Install the default route and classless static routes (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_routes: Option<bool>,
    /// Send Release when the resource is removed (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_on_removal: Option<bool>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl Kind for DHCPv4Client {
    const KIND: &'static str = "DHCPv4Client";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DHCPv4ClientSpec;

    fn check(spec: &DHCPv4ClientSpec, c: &mut Checker<'_>) {
        check_interface(&spec.interface, c);
        // These match what routerd-dhcpv4-client accepts (its
        // Dhcpv4Spec::load); actors/tests/dhcp_parity.rs holds both to it.
        if let Some(a) = spec.requested_address
            && !v4_leasable(a)
        {
            c.error(
                "spec.requestedAddress",
                format!("{a} cannot be leased to an interface"),
            );
        }
        if let Some(h) = &spec.hostname
            && !hostname_ok(h)
        {
            c.error(
                "spec.hostname",
                format!("`{h}` is not a host name: letters, digits and `-` in dot-separated labels of 1-63, at most 253 in all"),
            );
        }
        if let Some(id) = &spec.client_id
            && !(2..=255).contains(&client_id_bytes(id).len())
        {
            c.error(
                "spec.clientID",
                "a client identifier of 2-255 bytes (RFC 2132 §9.14): hex as 01:52:54:00:12:34:56, or text",
            );
        }
        if spec
            .class_id
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.len() > 255)
        {
            c.error("spec.classID", "a vendor class identifier of 1-255 bytes");
        }
        if spec.use_dns == Some(false) {
            c.warn(
                "spec.useDNS",
                "routerd never writes /etc/resolv.conf; the learned DNS servers are in the status for DNSUpstream addressFrom whatever useDNS says",
            );
        }
        check_when(spec.when.as_ref(), c);
    }

    fn check_all(items: &[(&Resource, &DHCPv4ClientSpec)], c: &mut SetChecker<'_>) {
        for (i, (r, spec)) in items.iter().enumerate() {
            if let Some((other, _)) = items[..i]
                .iter()
                .find(|(_, o)| o.interface == spec.interface)
            {
                c.error(
                    r,
                    "spec.interface",
                    format!(
                        "interface `{}` already has a DHCPv4 client, {}",
                        spec.interface,
                        other.id()
                    ),
                );
            }
        }
    }
}

/// How the DHCPv6 server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Dhcpv6Mode {
    /// Information-request only: DNS, domains, SNTP (RFC 8415 §6.1).
    #[default]
    Stateless,
    /// Addresses from `addressPool` (not in this build).
    Stateful,
    /// Both (not in this build).
    Both,
    /// No DHCPv6 at all; router advertisements only.
    RaOnly,
}

/// Where the DNS servers handed out come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DnsSource {
    /// The router's own address on the interface (its delegated address
    /// when `delegatedAddress` names one).
    #[default]
    #[serde(rename = "self")]
    SelfAddress,
    /// `dnsServers` and `dnsServerFrom`.
    Static,
    /// No DNS option.
    None,
}

/// A stateful address pool (accepted for compatibility; not served by this build).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressPool {
    /// First address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Ipv6Addr>,
    /// Last address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Ipv6Addr>,
    /// Lease time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<GoDuration>,
}

/// Server implementations the published schema names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerImpl {
    /// dnsmasq (this build answers natively instead).
    Dnsmasq,
}

/// Who answers on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerRole {
    /// This router answers.
    Server,
    /// Another server on the link answers (nothing runs here).
    Transit,
}

/// Spec of a `DHCPv6Server`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DHCPv6ServerSpec {
    /// The LAN `Interface` resource (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// `stateless` (default), `stateful`, `both` or `ra-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Dhcpv6Mode>,
    /// `self` (default), `static` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_source: Option<DnsSource>,
    /// DNS servers for `dnsSource: static`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<Ipv6Addr>,
    /// DNS servers read from other resources (e.g. a DHCPv6Information's `dnsServers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_server_from: Vec<ValueFrom>,
    /// Domain search list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_search: Vec<String>,
    /// Domain search list read from other resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_search_from: Vec<ValueFrom>,
    /// SNTP servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sntp_servers: Vec<Ipv6Addr>,
    /// SNTP servers read from other resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sntp_server_from: Vec<ValueFrom>,
    /// The `IPv6DelegatedAddress` whose address is "self" for `dnsSource: self`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_address: Option<String>,
    /// Stateful pool (not served by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_pool: Option<AddressPool>,
    /// Stateful lease time (not used by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<GoDuration>,
    /// Rapid Commit for stateful service (not used by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rapid_commit: Option<bool>,
    /// Whether to advertise a default route (RA router lifetime); the
    /// IPv6RouterAdvertisement resource decides in this build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<bool>,
    /// `server` (default) or `transit`: another server answers on the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ServerRole>,
    /// Implementation; this build always answers natively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerImpl>,
    /// Extra interfaces to answer on (besides `interface`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen_interfaces: Vec<String>,
    /// Whether routerd manages the server (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Log every exchange as an event.
    #[serde(default, rename = "logDHCP", skip_serializing_if = "Option::is_none")]
    pub log_dhcp: Option<bool>,
    /// dnsmasq's config file (not used by the native server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// dnsmasq's lease file (not used by the native server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_file: Option<String>,
    /// dnsmasq's pid file (not used by the native server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    /// A SelfAddressPolicy for `dnsSource: self` (not in this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_address_policy: Option<String>,
    /// Days to keep a stateful lease sticky (not used by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_hold_days: Option<u32>,
    /// Run only while these resources are in the given state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl DHCPv6ServerSpec {
    /// The effective mode.
    pub fn mode(&self) -> Dhcpv6Mode {
        self.mode.unwrap_or_default()
    }

    /// Whether this router answers at all.
    pub fn serves(&self) -> bool {
        self.managed != Some(false)
            && self.role != Some(ServerRole::Transit)
            && self.mode() != Dhcpv6Mode::RaOnly
    }
}

impl Kind for DHCPv6Server {
    const KIND: &'static str = "DHCPv6Server";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DHCPv6ServerSpec;

    fn check_all(items: &[(&Resource, &DHCPv6ServerSpec)], c: &mut SetChecker<'_>) {
        // One server per link: two would both answer every request.
        let links = |s: &DHCPv6ServerSpec| -> Vec<String> {
            if !s.serves() {
                return Vec::new();
            }
            s.interface
                .iter()
                .chain(s.listen_interfaces.iter())
                .cloned()
                .collect()
        };
        for (i, (r, spec)) in items.iter().enumerate() {
            for link in links(spec) {
                if let Some((other, _)) = items[..i].iter().find(|(_, o)| links(o).contains(&link))
                {
                    c.error(
                        r,
                        "spec.interface",
                        format!(
                            "interface `{link}` already has a DHCPv6 server, {}",
                            other.id()
                        ),
                    );
                }
            }
        }
    }

    fn check(spec: &DHCPv6ServerSpec, c: &mut Checker<'_>) {
        match &spec.interface {
            Some(interface) => check_interface(interface, c),
            None if spec.serves() => c.error("spec.interface", "the server needs an interface"),
            None => {}
        }
        for (i, name) in spec.listen_interfaces.iter().enumerate() {
            c.reference_one_of(
                &format!("spec.listenInterfaces[{i}]"),
                INTERFACE_KINDS,
                name,
            );
        }
        if matches!(spec.mode(), Dhcpv6Mode::Stateful | Dhcpv6Mode::Both) {
            c.error(
                "spec.mode",
                "stateful DHCPv6 (address leases) is not implemented by this build; use stateless with SLAAC",
            );
        }
        let source = spec.dns_source.unwrap_or_default();
        if source != DnsSource::Static
            && (!spec.dns_servers.is_empty() || !spec.dns_server_from.is_empty())
        {
            c.warn(
                "spec.dnsServers",
                "dnsServers and dnsServerFrom are used only with dnsSource: static",
            );
        }
        if let Some(da) = &spec.delegated_address {
            c.reference("spec.delegatedAddress", "IPv6DelegatedAddress", da);
        }
        if spec.self_address_policy.is_some() {
            c.warn(
                "spec.selfAddressPolicy",
                "SelfAddressPolicy is not implemented by this build: the router's address on the interface is used",
            );
        }
        let dnsmasq_fields = [
            ("spec.server", spec.server.is_some()),
            ("spec.configPath", spec.config_path.is_some()),
            ("spec.leaseFile", spec.lease_file.is_some()),
            ("spec.pidFile", spec.pid_file.is_some()),
            ("spec.logDHCP", spec.log_dhcp.is_some()),
        ];
        if let Some((path, _)) = dnsmasq_fields.iter().find(|(_, set)| *set) {
            c.warn(
                path,
                "this build answers DHCPv6 natively: server, configPath, leaseFile, pidFile and logDHCP are ignored (its counters are in the status)",
            );
        }
        check_from("spec.dnsServerFrom", &spec.dns_server_from, c);
        check_from("spec.domainSearchFrom", &spec.domain_search_from, c);
        check_from("spec.sntpServerFrom", &spec.sntp_server_from, c);
        for (i, d) in spec.domain_search.iter().enumerate() {
            if let Err(e) = check_domain(d) {
                c.error(&format!("spec.domainSearch[{i}]"), e);
            }
        }
        check_depends(&spec.depends_on, c);
        check_when(spec.when.as_ref(), c);
    }
}

/// Checks a DNS domain name as written in config (`example.net`, `.` for the root).
pub fn check_domain(name: &str) -> Result<(), String> {
    if name == "." {
        return Ok(());
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(format!("`{name}` is not a domain name"));
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(format!("`{name}` is not a domain name (an empty label)"));
        }
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "`{name}` is not a domain name (label `{label}`: letters, digits and `-`, 1-63 each)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duids_parse_with_or_without_separators() {
        assert_eq!(parse_duid("00:03:00:01"), Some(vec![0, 3, 0, 1]));
        assert_eq!(parse_duid("00030001"), Some(vec![0, 3, 0, 1]));
        assert_eq!(parse_duid("0003001"), None);
        assert_eq!(parse_duid("zz"), None);
        assert_eq!(parse_duid(""), None);
    }

    #[test]
    fn domains() {
        assert!(check_domain("example.net").is_ok());
        assert!(check_domain("gw.transix.jp.").is_ok());
        assert!(check_domain(".").is_ok());
        assert!(check_domain("bad..name").is_err());
        assert!(check_domain("-x.example").is_err());
    }
}
