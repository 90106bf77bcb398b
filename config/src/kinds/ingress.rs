//! `IngressService`: a virtual address and port in front of backends. New
//! connections are DNATed (nftables) to a healthy, not drained backend;
//! health comes from `routerd-healthcheck` probes of every backend.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ValueFrom, When, check_name};
use super::healthcheck::{MIN_INTERVAL, MIN_TIMEOUT, check_hostname};
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind};
use crate::types::GoDuration;

/// The `IngressService` kind.
pub struct IngressService;

/// Transport of the listener.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ListenProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl ListenProtocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProtocol::Tcp => "tcp",
            ListenProtocol::Udp => "udp",
        }
    }
}

/// Where clients connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listen {
    /// The `Interface` (by name) the virtual address lives on.
    pub interface: String,
    /// The virtual address (normally a VirtualAddress's, or a BGP-announced one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The address, read from another resource's status (e.g. an address's `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_from: Option<ValueFrom>,
    /// `tcp` or `udp`.
    pub protocol: ListenProtocol,
    /// The port clients connect to.
    pub port: u16,
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressBackend {
    /// Its name, used by `routerctl ingress drain` and in status (default:
    /// `backend-N`, N counting from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An IP address or a host name (resolved through routerd's DNS forwarding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The address, read from another resource's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_from: Option<ValueFrom>,
    /// The backend's port.
    pub port: u16,
    /// Relative share of new connections for sourceHash and random (default 1;
    /// 0 takes none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// Probe protocol of backend health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendProbe {
    /// Not set: tcp.
    #[serde(rename = "")]
    Unset,
    /// A TCP connect to the backend's port.
    Tcp,
    /// An HTTP GET.
    Http,
    /// An HTTPS GET.
    Https,
}

/// How backends are probed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressHealthCheck {
    /// `tcp` (default), `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<BackendProbe>,
    /// HTTP path (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP Host header (default: the backend's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Statuses that count as healthy (default: any 2xx or 3xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<u16>,
    /// Text the body must contain (not checked by this build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_body: Option<String>,
    /// Time between probes of one backend (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Time a probe may take (default 2s, less than the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Consecutive successes to become healthy (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures to become unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// Accept any certificate (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_skip_verify: Option<bool>,
}

/// Default probe interval of backends.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

impl IngressHealthCheck {
    /// The effective protocol.
    pub fn protocol(&self) -> BackendProbe {
        match self.protocol {
            None | Some(BackendProbe::Unset) => BackendProbe::Tcp,
            Some(p) => p,
        }
    }

    /// The effective interval.
    pub fn interval(&self) -> Duration {
        self.interval.map_or(DEFAULT_INTERVAL, |d| d.0)
    }

    /// The effective timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .map_or(Duration::from_secs(2).min(self.interval() / 2), |d| d.0)
    }
}

/// Backend selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SelectionPolicy {
    /// Not set: failover.
    #[serde(rename = "")]
    Unset,
    /// The first healthy backend in order.
    Failover,
    /// A hash of the client's address.
    SourceHash,
    /// Random per connection.
    Random,
}

/// What happens to new connections without a healthy backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoHealthyBackends {
    /// Not set: reject.
    #[serde(rename = "")]
    Unset,
    /// Drop silently.
    Drop,
    /// TCP reset or ICMP port unreachable.
    Reject,
}

/// Selection and fallback.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressPolicy {
    /// `failover` (default), `sourceHash` or `random`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionPolicy>,
    /// `reject` (default) or `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_no_healthy_backends: Option<NoHealthyBackends>,
}

/// Hairpin mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HairpinMode {
    /// Not set: auto.
    #[serde(rename = "")]
    Unset,
    /// Masquerade every connection to the service.
    Auto,
    /// Masquerade connections leaving through `interfaces`.
    Manual,
    /// No masquerade.
    Off,
}

/// Source NAT for clients on the backends' own network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HairpinSpec {
    /// Turn hairpin NAT on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `auto` (default), `manual` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<HairpinMode>,
    /// `Interface` resources (by name) for mode manual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
}

/// Spec of an `IngressService`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressServiceSpec {
    /// Where clients connect.
    pub listen: Listen,
    /// The backends, in failover order.
    pub backends: Vec<IngressBackend>,
    /// How backends are probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<IngressHealthCheck>,
    /// Selection and fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<IngressPolicy>,
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
    /// Source NAT for hairpin traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hairpin: Option<HairpinSpec>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// Largest weight: weights repeat map slots, and the map stays small.
pub const MAX_WEIGHT: u32 = 100;

impl IngressServiceSpec {
    /// The listen address, when written as one.
    pub fn listen_address(&self) -> Option<IpAddr> {
        self.listen.address.as_deref()?.parse().ok()
    }

    /// Backend `i`'s name (its own, or `backend-{i+1}`).
    pub fn backend_name(&self, i: usize) -> String {
        self.backends
            .get(i)
            .and_then(|b| b.name.clone())
            .unwrap_or_else(|| format!("backend-{}", i + 1))
    }

    /// The health check settings (defaults when absent).
    pub fn health(&self) -> IngressHealthCheck {
        self.health_check.clone().unwrap_or_default()
    }

    /// The effective selection.
    pub fn selection(&self) -> SelectionPolicy {
        match self.policy.as_ref().and_then(|p| p.selection) {
            None | Some(SelectionPolicy::Unset) => SelectionPolicy::Failover,
            Some(s) => s,
        }
    }

    /// Whether new connections without a backend are dropped (else rejected).
    pub fn drops_without_backends(&self) -> bool {
        self.policy.as_ref().and_then(|p| p.on_no_healthy_backends) == Some(NoHealthyBackends::Drop)
    }

    /// The hairpin interfaces (`Interface` names; empty: all), or `None`
    /// when hairpin NAT is off.
    pub fn hairpin(&self) -> Option<Vec<String>> {
        let h = self.hairpin.as_ref()?;
        match (h.enabled, h.mode) {
            (Some(false), _) | (_, Some(HairpinMode::Off)) => None,
            (None, None | Some(HairpinMode::Unset)) => None,
            (_, Some(HairpinMode::Manual)) => Some(h.interfaces.clone()),
            _ => Some(Vec::new()),
        }
    }
}

impl Kind for IngressService {
    const KIND: &'static str = "IngressService";
    const API_VERSION: &'static str = "firewall.routerd.net/v1alpha1";
    type Spec = IngressServiceSpec;

    fn check(spec: &IngressServiceSpec, c: &mut Checker<'_>) {
        let l = &spec.listen;
        c.reference_one_of("spec.listen.interface", INTERFACE_KINDS, &l.interface);
        if l.port == 0 {
            c.error(
                "spec.listen.port",
                "port 0 is not a listen port (1..=65535)",
            );
        }
        let listen_family = match (&l.address, &l.address_from) {
            (Some(_), Some(_)) => {
                c.error(
                    "spec.listen.addressFrom",
                    "give address or addressFrom, not both",
                );
                None
            }
            (None, None) => {
                c.error(
                    "spec.listen",
                    "give the virtual address (address or addressFrom)",
                );
                None
            }
            (Some(text), None) => match text.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() || a.is_multicast() || a.is_loopback() => {
                    c.error(
                        "spec.listen.address",
                        format!("{a} cannot be a service address"),
                    );
                    None
                }
                Ok(a) => Some(a.is_ipv6()),
                Err(_) => {
                    c.error(
                        "spec.listen.address",
                        format!("`{text}` is not an IP address (without a prefix length), like 192.0.2.10"),
                    );
                    None
                }
            },
            (None, Some(from)) => {
                c.reference_to("spec.listen.addressFrom.resource", &from.resource);
                None
            }
        };
        if spec.backends.is_empty() {
            c.error(
                "spec.backends",
                "an ingress service needs at least one backend",
            );
        }
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (i, b) in spec.backends.iter().enumerate() {
            let path = format!("spec.backends[{i}]");
            let name = spec.backend_name(i);
            if let Some(n) = &b.name
                && let Err(e) = check_name(n)
            {
                c.error(&format!("{path}.name"), e);
            }
            if let Some(first) = names.insert(name.clone(), i) {
                c.error(
                    &format!("{path}.name"),
                    format!("backend `{name}` is already spec.backends[{first}]; names must be unique (drains name them)"),
                );
            }
            if b.port == 0 {
                c.error(
                    &format!("{path}.port"),
                    "port 0 is not a destination (1..=65535)",
                );
            }
            if let Some(w) = b.weight
                && w > MAX_WEIGHT
            {
                c.error(
                    &format!("{path}.weight"),
                    format!("{w} is more than {MAX_WEIGHT}: weights are relative shares"),
                );
            }
            match (&b.address, &b.address_from) {
                (Some(_), Some(_)) => c.error(
                    &format!("{path}.addressFrom"),
                    "give address or addressFrom, not both",
                ),
                (None, None) => c.error(
                    &format!("{path}.address"),
                    "a backend needs an address (an IP or a host name) or addressFrom",
                ),
                (Some(text), None) => match text.parse::<IpAddr>() {
                    Ok(a) if a.is_unspecified() || a.is_multicast() => c.error(
                        &format!("{path}.address"),
                        format!("{a} cannot be a backend"),
                    ),
                    Ok(a) if listen_family.is_some_and(|v6| v6 != a.is_ipv6()) => c.error(
                        &format!("{path}.address"),
                        format!(
                            "{a} is not of the listen address's family: DNAT does not translate between IPv4 and IPv6"
                        ),
                    ),
                    Ok(_) => {}
                    Err(_) => {
                        if let Err(why) = check_hostname(text) {
                            c.error(
                                &format!("{path}.address"),
                                format!("`{text}` is neither an IP address nor a host name: {why}"),
                            );
                        }
                    }
                },
                (None, Some(from)) => {
                    c.reference_to(&format!("{path}.addressFrom.resource"), &from.resource)
                }
            }
        }
        if let Some(h) = &spec.health_check {
            check_health(h, c);
        }
        if let Some(h) = &spec.hairpin {
            if h.mode == Some(HairpinMode::Manual) && h.interfaces.is_empty() {
                c.error(
                    "spec.hairpin.interfaces",
                    "mode manual masquerades on the interfaces listed here; list at least one",
                );
            }
            for (i, name) in h.interfaces.iter().enumerate() {
                c.reference_one_of(
                    &format!("spec.hairpin.interfaces[{i}]"),
                    INTERFACE_KINDS,
                    name,
                );
            }
            if !h.interfaces.is_empty() && h.mode != Some(HairpinMode::Manual) {
                c.warn(
                    "spec.hairpin.interfaces",
                    "used only with mode manual; auto masquerades every connection to the service",
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
}

fn check_health(h: &IngressHealthCheck, c: &mut Checker<'_>) {
    let protocol = h.protocol();
    let http = matches!(protocol, BackendProbe::Http | BackendProbe::Https);
    for (set, field) in [
        (h.path.is_some(), "path"),
        (h.host.is_some(), "host"),
        (!h.expected_status.is_empty(), "expectedStatus"),
        (h.expected_body.is_some(), "expectedBody"),
    ] {
        if set && !http {
            c.error(
                &format!("spec.healthCheck.{field}"),
                format!("{field} applies to http and https probes only"),
            );
        }
    }
    if let Some(path) = &h.path
        && (!path.starts_with('/') || path.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
    {
        c.error(
            "spec.healthCheck.path",
            format!("`{path}` is not an HTTP path (like /readyz)"),
        );
    }
    if let Some(host) = &h.host
        && let Err(why) = check_hostname(host)
        && host.parse::<IpAddr>().is_err()
    {
        c.error(
            "spec.healthCheck.host",
            format!("`{host}` is not a host name: {why}"),
        );
    }
    for (i, s) in h.expected_status.iter().enumerate() {
        if !(100..=599).contains(s) {
            c.error(
                &format!("spec.healthCheck.expectedStatus[{i}]"),
                format!("{s} is not an HTTP status (100..=599)"),
            );
        }
    }
    if protocol == BackendProbe::Https {
        c.warn(
            "spec.healthCheck.protocol",
            "this build of routerd-healthcheck speaks no TLS: https backends are probed with a TCP connect to their port (status says so)",
        );
    }
    if h.expected_body.is_some() {
        c.warn(
            "spec.healthCheck.expectedBody",
            "not checked by this build: the status code decides",
        );
    }
    if h.tls_skip_verify.is_some() && protocol != BackendProbe::Https {
        c.warn(
            "spec.healthCheck.tlsSkipVerify",
            "applies to https probes only",
        );
    }
    if h.interval() < MIN_INTERVAL {
        c.error(
            "spec.healthCheck.interval",
            format!("the interval must be at least {MIN_INTERVAL:?}"),
        );
    }
    if h.timeout() < MIN_TIMEOUT {
        c.error(
            "spec.healthCheck.timeout",
            format!("the timeout must be at least {MIN_TIMEOUT:?}"),
        );
    } else if h.timeout() >= h.interval() {
        c.error(
            if h.timeout.is_some() {
                "spec.healthCheck.timeout"
            } else {
                "spec.healthCheck.interval"
            },
            format!(
                "the timeout ({:?}) must be shorter than the interval ({:?})",
                h.timeout(),
                h.interval()
            ),
        );
    }
    for (field, value) in [
        ("healthyThreshold", h.healthy_threshold),
        ("unhealthyThreshold", h.unhealthy_threshold),
    ] {
        if let Some(v) = value
            && !(1..=100).contains(&v)
        {
            c.error(
                &format!("spec.healthCheck.{field}"),
                format!("{v} is out of range (1..=100)"),
            );
        }
    }
}
