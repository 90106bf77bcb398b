//! `HealthCheck`: a probe run by `routerd-healthcheck`, whose phase other
//! resources can depend on.

use std::net::IpAddr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::When;
use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind};
use crate::types::GoDuration;

/// The `HealthCheck` kind.
pub struct HealthCheck;

/// Probe protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeProtocol {
    /// ICMP echo.
    Icmp,
    /// TCP connect.
    Tcp,
    /// DNS query over UDP.
    Dns,
    /// HTTP GET.
    Http,
}

/// Legacy probe type (`ping` is ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeType {
    /// ICMP echo.
    Ping,
}

/// Where the probe target comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetSource {
    /// `target` if given, else the default gateway.
    Auto,
    /// `target`.
    Static,
    /// The default gateway of the address family (on `interface` if given).
    DefaultGateway,
    /// The DS-Lite tunnel's AFTR.
    DsliteRemote,
}

/// Address family of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// What the check is for (informational; shown in status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckRole {
    /// The link itself.
    Link,
    /// The next hop.
    NextHop,
    /// Reachability of the internet.
    Internet,
    /// A service.
    Service,
    /// Input to a policy.
    Policy,
}

/// Spec of a `HealthCheck`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// `icmp` (default), `tcp`, `dns` or `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProbeProtocol>,
    /// `ping`: the same as protocol icmp.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub probe_type: Option<ProbeType>,
    /// Probe target: an address or a host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the target comes from (default auto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_source: Option<TargetSource>,
    /// Address family (default: from the target, else ipv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_family: Option<AddressFamily>,
    /// The `Interface` resource (by name) to probe out of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Port for tcp, http (default 80) and dns (default 53).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP path (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// DNS name to query (default `.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Time between probes (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Time a probe may take (default 2s, less than the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Consecutive successes to become Healthy (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures to become Unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// What the check is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<CheckRole>,
    /// Set false to keep the check defined but not running (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl HealthCheckSpec {
    /// The effective protocol.
    pub fn protocol(&self) -> ProbeProtocol {
        self.protocol.unwrap_or(ProbeProtocol::Icmp)
    }

    /// The effective interval.
    pub fn interval(&self) -> Duration {
        self.interval.map_or(Duration::from_secs(10), |d| d.0)
    }

    /// The effective timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .map_or(Duration::from_secs(2).min(self.interval() / 2), |d| d.0)
    }

    /// The effective target source.
    pub fn target_source(&self) -> TargetSource {
        match self.target_source {
            Some(TargetSource::Auto) | None if self.target.is_some() => TargetSource::Static,
            Some(TargetSource::Auto) | None => TargetSource::DefaultGateway,
            Some(other) => other,
        }
    }

    /// The effective port, if the protocol uses one.
    pub fn port(&self) -> Option<u16> {
        match self.protocol() {
            ProbeProtocol::Icmp => None,
            ProbeProtocol::Tcp => self.port,
            ProbeProtocol::Http => Some(self.port.unwrap_or(80)),
            ProbeProtocol::Dns => Some(self.port.unwrap_or(53)),
        }
    }
}

impl Kind for HealthCheck {
    const KIND: &'static str = "HealthCheck";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = HealthCheckSpec;

    // These rules match what routerd-healthcheck accepts (its
    // ProbeSpec::validate); a config that passes here must never be refused
    // by the daemon (actors has a test that holds both to that).
    fn check(spec: &HealthCheckSpec, c: &mut Checker<'_>) {
        if let Some(interface) = &spec.interface {
            c.reference_one_of("spec.interface", INTERFACE_KINDS, interface);
        }
        let protocol = spec.protocol();
        if spec.probe_type.is_some() && protocol != ProbeProtocol::Icmp {
            c.error(
                "spec.type",
                "type: ping is an ICMP probe and contradicts the protocol",
            );
        }
        match (protocol, spec.port) {
            (_, Some(0)) => c.error("spec.port", "port 0 is not a destination (1..=65535)"),
            (ProbeProtocol::Icmp, Some(_)) => c.error("spec.port", "an icmp probe takes no port"),
            (ProbeProtocol::Tcp, None) => {
                c.error("spec.port", "a tcp probe needs a port (1..=65535)")
            }
            _ => {}
        }
        match spec.target_source() {
            TargetSource::Static if spec.target.is_none() => c.error("spec.target", "targetSource static needs a target"),
            TargetSource::DsliteRemote => match &spec.interface {
                Some(tunnel) => c.reference("spec.interface", "DSLiteTunnel", tunnel),
                None => c.error(
                    "spec.interface",
                    "targetSource dsliteRemote probes a DSLiteTunnel's AFTR: name the tunnel in interface",
                ),
            },
            TargetSource::DefaultGateway if spec.target.is_some() => {
                c.warn("spec.target", "ignored: targetSource defaultGateway probes the default gateway")
            }
            _ => {}
        }
        if let (Some(target), TargetSource::Static) = (&spec.target, spec.target_source()) {
            check_target(target, spec.address_family, spec.interface.is_some(), c);
        }
        if let Some(path) = &spec.path {
            if protocol != ProbeProtocol::Http {
                c.error("spec.path", "path applies only to http probes");
            } else if !path.starts_with('/')
                || path.chars().any(|ch| ch.is_whitespace() || ch.is_control())
            {
                c.error(
                    "spec.path",
                    format!("`{path}` is not an HTTP path (like /healthz)"),
                );
            }
        }
        if let Some(query) = &spec.query {
            if protocol != ProbeProtocol::Dns {
                c.error("spec.query", "query applies only to dns probes");
            } else if query != "."
                && let Err(why) = check_hostname(query)
            {
                c.error("spec.query", format!("`{query}` is not a DNS name: {why}"));
            }
        }
        if spec.interval() < MIN_INTERVAL {
            c.error(
                "spec.interval",
                format!("the interval must be at least {MIN_INTERVAL:?}"),
            );
        }
        if spec.timeout() < MIN_TIMEOUT {
            c.error(
                "spec.timeout",
                format!("the timeout must be at least {MIN_TIMEOUT:?}"),
            );
        } else if spec.timeout() >= spec.interval() {
            c.error(
                if spec.timeout.is_some() {
                    "spec.timeout"
                } else {
                    "spec.interval"
                },
                format!(
                    "the timeout ({:?}) must be shorter than the interval ({:?})",
                    spec.timeout(),
                    spec.interval()
                ),
            );
        }
        for (field, value) in [
            ("healthyThreshold", spec.healthy_threshold),
            ("unhealthyThreshold", spec.unhealthy_threshold),
        ] {
            if let Some(v) = value
                && !(1..=100).contains(&v)
            {
                c.error(
                    &format!("spec.{field}"),
                    format!("{v} is out of range (1..=100)"),
                );
            }
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}

/// Shortest probe interval: faster probing is a flood, not a health check.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Shortest probe timeout.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// RFC 1035 lengths with letters, digits, `-` and `_` in labels (no label
/// starts or ends with `-`); one trailing dot allowed.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err("empty name".into());
    }
    if trimmed.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("labels must be 1 to 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
        if !label
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(format!(
                "label `{label}` has characters other than letters, digits, `-` and `_`"
            ));
        }
    }
    Ok(())
}

fn check_target(
    target: &str,
    family: Option<AddressFamily>,
    has_interface: bool,
    c: &mut Checker<'_>,
) {
    match target.parse::<IpAddr>() {
        Ok(addr) => {
            let mismatch = matches!(
                (addr, family),
                (IpAddr::V4(_), Some(AddressFamily::Ipv6))
                    | (IpAddr::V6(_), Some(AddressFamily::Ipv4))
            );
            if mismatch {
                c.error(
                    "spec.addressFamily",
                    format!("target {addr} is not of this address family"),
                );
            }
            if addr.is_unspecified() || addr.is_multicast() {
                c.error("spec.target", format!("{addr} cannot be probed"));
            }
            let link_local = matches!(addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if link_local && !has_interface {
                c.error(
                    "spec.target",
                    format!("link-local target {addr} needs an interface to say which link"),
                );
            }
        }
        Err(_) => {
            if let Err(why) = check_hostname(target) {
                c.error(
                    "spec.target",
                    format!("`{target}` is neither an IP address nor a host name: {why}"),
                );
            }
        }
    }
}
