//! DNS for routerd's own lookups: `DNSUpstream` (a server and how to reach
//! it) and `DNSForwarder` (which domains go to which upstreams).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ValueFrom, When, check_ifname};
use super::dhcp::{check_domain, check_from};
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::{GoDuration, ResourceRef};

/// The `DNSUpstream` kind.
pub struct DNSUpstream;
/// The `DNSForwarder` kind.
pub struct DNSForwarder;

/// Transport to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DnsProtocol {
    /// Plain DNS over UDP (TCP on truncation).
    Udp,
    /// Plain DNS over TCP.
    Tcp,
    /// DNS over TLS (RFC 7858).
    Dot,
    /// DNS over HTTPS (RFC 8484).
    Doh,
}

/// A `*From` source whose field must be given (bootstrap addresses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldFrom {
    /// The source resource, as `Kind/name`.
    pub resource: ResourceRef,
    /// The field to read.
    pub field: String,
    /// A missing value leaves the list shorter instead of blocking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Spec of a `DNSUpstream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DNSUpstreamSpec {
    /// `udp`, `tcp`, `dot` or `doh`.
    pub protocol: DnsProtocol,
    /// The server: an IP address, or a host name for DoT/DoH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Server addresses read from other resources, e.g. the `dnsServers` a
    /// `DHCPv6Information` or `DHCPv4Client` learned (the in-network resolver).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_from: Vec<ValueFrom>,
    /// Port (default 53, DoT 853, DoH 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// DoH path (default `/dns-query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// TLS server name for DoT/DoH when `address` is an IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
    /// Plain-DNS servers that resolve a host-name `address`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap: Vec<IpAddr>,
    /// Bootstrap servers read from other resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_from: Vec<FieldFrom>,
    /// Send queries out of this kernel interface (SO_BINDTODEVICE), e.g. to
    /// reach the ISP's resolver over the WAN whatever the routing table says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_interface: Option<String>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl Kind for DNSUpstream {
    const KIND: &'static str = "DNSUpstream";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DNSUpstreamSpec;

    fn check(spec: &DNSUpstreamSpec, c: &mut Checker<'_>) {
        let encrypted = matches!(spec.protocol, DnsProtocol::Dot | DnsProtocol::Doh);
        match &spec.address {
            None if spec.address_from.is_empty() => {
                c.error("spec", "an upstream needs an address or addressFrom")
            }
            Some(a) if a.parse::<IpAddr>().is_err() => {
                if !encrypted {
                    c.error(
                        "spec.address",
                        format!(
                            "`{a}` is not an IP address (host names are for dot and doh upstreams)"
                        ),
                    );
                } else if let Err(e) = check_domain(a) {
                    c.error("spec.address", e);
                }
            }
            _ => {}
        }
        if spec.path.is_some() && spec.protocol != DnsProtocol::Doh {
            c.error("spec.path", "path is for doh upstreams");
        }
        if let Some(p) = &spec.path
            && !p.starts_with('/')
        {
            c.error("spec.path", format!("`{p}` must start with /"));
        }
        if spec.tls_name.is_some() && !encrypted {
            c.error("spec.tlsName", "tlsName is for dot and doh upstreams");
        }
        let by_ip = spec
            .address
            .as_deref()
            .is_none_or(|a| a.parse::<IpAddr>().is_ok());
        if encrypted && by_ip && spec.tls_name.is_none() {
            c.error(
                "spec.tlsName",
                "a dot or doh upstream given by IP address needs tlsName: the name its certificate must carry",
            );
        }
        // A warning: published examples name DoH servers without bootstrap
        // (the Go routerd used the host's resolver). routerd never does, so
        // such an upstream waits, Pending, until it has bootstrap servers.
        if encrypted && !by_ip && spec.bootstrap.is_empty() && spec.bootstrap_from.is_empty() {
            c.warn(
                "spec.bootstrap",
                "an upstream given by host name needs bootstrap (or bootstrapFrom): plain-DNS servers that resolve it; routerd never uses the host's resolver, so it stays unused until then",
            );
        }
        if spec.port == Some(0) {
            c.error("spec.port", "port 0 is not a destination (1..=65535)");
        }
        if let Some(ifname) = &spec.source_interface
            && let Err(e) = check_ifname(ifname)
        {
            c.error("spec.sourceInterface", e);
        }
        check_from("spec.addressFrom", &spec.address_from, c);
        for (i, f) in spec.bootstrap_from.iter().enumerate() {
            c.reference_to(&format!("spec.bootstrapFrom[{i}].resource"), &f.resource);
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}

/// Active health checking of a forwarder's upstreams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwarderHealth {
    /// Time between active probes; without it health is judged from real
    /// lookups alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Time a probe may take (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Consecutive failures before an upstream is unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_threshold: Option<u32>,
    /// Consecutive successes before it is healthy again (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_threshold: Option<u32>,
}

/// Spec of a `DNSForwarder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DNSForwarderSpec {
    /// Domains forwarded (suffix match; `.` is every name). The longest
    /// matching forwarder wins.
    #[serde(rename = "match")]
    pub match_domains: Vec<String>,
    /// Upstreams in order of preference, as `DNSUpstream/name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<ResourceRef>,
    /// The `DNSResolver` that serves this forwarding to clients (not in this
    /// build: routerd forwards for its own lookups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<ResourceRef>,
    /// Local zones answered instead of forwarding (not in this build).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zone_refs: Vec<ResourceRef>,
    /// Upstream health checking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ForwarderHealth>,
    /// Validate DNSSEC (not in this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec_validate: Option<bool>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl Kind for DNSForwarder {
    const KIND: &'static str = "DNSForwarder";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = DNSForwarderSpec;

    fn check_all(items: &[(&Resource, &DNSForwarderSpec)], c: &mut SetChecker<'_>) {
        // The longest matching suffix picks the forwarder: the same suffix
        // twice would leave the choice to order.
        let norm = |d: &str| d.trim_end_matches('.').to_ascii_lowercase();
        for (i, (r, spec)) in items.iter().enumerate() {
            for (j, domain) in spec.match_domains.iter().enumerate() {
                let d = norm(domain);
                if let Some((other, _)) = items[..i]
                    .iter()
                    .find(|(_, o)| o.match_domains.iter().any(|m| norm(m) == d))
                {
                    c.error(
                        r,
                        &format!("spec.match[{j}]"),
                        format!("`{domain}` is already forwarded by {}", other.id()),
                    );
                }
            }
        }
    }

    fn check(spec: &DNSForwarderSpec, c: &mut Checker<'_>) {
        if spec.match_domains.is_empty() {
            c.error(
                "spec.match",
                "name at least one domain (`.` for every name)",
            );
        }
        for (i, d) in spec.match_domains.iter().enumerate() {
            if let Err(e) = check_domain(d) {
                c.error(&format!("spec.match[{i}]"), e);
            }
        }
        // A zone-only forwarder fails on its zoneRefs (DNSZone is not in
        // this build) rather than here.
        if spec.upstreams.is_empty() && spec.zone_refs.is_empty() {
            c.error("spec.upstreams", "a forwarder needs upstreams");
        }
        for (i, u) in spec.upstreams.iter().enumerate() {
            let path = format!("spec.upstreams[{i}]");
            if u.kind == "DNSUpstream" {
                c.reference_to(&path, u);
            } else {
                c.error(&path, format!("`{u}` is not a DNSUpstream"));
            }
        }
        if let Some(r) = &spec.resolver {
            c.reference_to("spec.resolver", r);
        }
        for (i, z) in spec.zone_refs.iter().enumerate() {
            c.reference_to(&format!("spec.zoneRefs[{i}]"), z);
        }
        if spec.dnssec_validate == Some(true) {
            c.warn(
                "spec.dnssecValidate",
                "DNSSEC validation is not implemented by this build: answers are not validated",
            );
        }
        if let Some(h) = &spec.healthcheck {
            if h.fail_threshold == Some(0) || h.pass_threshold == Some(0) {
                c.error("spec.healthcheck", "thresholds are at least 1");
            }
            if let (Some(i), Some(t)) = (h.interval, h.timeout)
                && t.0 >= i.0
            {
                c.error(
                    "spec.healthcheck.timeout",
                    "the timeout must be shorter than the interval",
                );
            }
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}
