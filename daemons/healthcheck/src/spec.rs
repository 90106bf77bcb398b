//! The `HealthCheck` probe definition routerd writes to the config file.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a probe definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file that failed.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The config file is not a valid probe definition (syntax or unknown field).
    #[error("cannot parse config {path}: {source}")]
    Parse {
        /// The file that failed.
        path: String,
        /// What serde complained about.
        source: serde_json::Error,
    },
    /// A field has a value that cannot work; the message names the field.
    #[error("invalid health check {name:?}: {message}")]
    Invalid {
        /// The check's name (possibly empty, when that is the problem).
        name: String,
        /// Which field is wrong and why.
        message: String,
    },
}

/// Which probe to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Protocol {
    /// ICMP / ICMPv6 echo on a raw socket.
    Icmp,
    /// A TCP handshake.
    Tcp,
    /// An HTTP/1.1 GET over plain TCP.
    Http,
    /// A DNS query over UDP.
    Dns,
}

impl Protocol {
    /// The lowercase name used in JSON, spans and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Icmp => "icmp",
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
            Protocol::Dns => "dns",
        }
    }
}

/// Where the probe's destination comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetSource {
    /// The `target` field.
    Static,
    /// The kernel's default gateway for the address family.
    DefaultGateway,
    /// `static` when `target` is set, `defaultGateway` otherwise.
    #[default]
    Auto,
}

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AddressFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            AddressFamily::Ipv4
        } else {
            AddressFamily::Ipv6
        }
    }
}

/// One health check, as routerd writes it (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeSpec {
    /// The resource name; also part of event topics.
    pub name: String,
    /// Which probe to run.
    pub protocol: Protocol,
    /// An IP literal or a hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the destination comes from.
    #[serde(default)]
    pub target_source: TargetSource,
    /// Restricts the target to one family; inferred from a literal target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_family: Option<AddressFamily>,
    /// TCP/UDP port (tcp: required, http: 80, dns: 53).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP request path (default "/").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP statuses that count as success (default: any 2xx or 3xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<u16>,
    /// HTTP Host header (default: the target's name or address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// DNS name to query (default ".", asked as NS; other names as A).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Time between probe starts.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// How long one probe may take; must be shorter than the interval.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Consecutive successes that make the check healthy.
    #[serde(default = "default_healthy_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failures that make the check unhealthy.
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: u32,
    /// Kernel interface name the probe is bound to (SO_BINDTODEVICE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_interface: Option<String>,
    /// Local address the probe is sent from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    /// A disabled check sends nothing and stays Unknown.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_interval_ms() -> u64 {
    10_000
}
fn default_timeout_ms() -> u64 {
    2_000
}
fn default_healthy_threshold() -> u32 {
    2
}
fn default_unhealthy_threshold() -> u32 {
    3
}
fn default_enabled() -> bool {
    true
}

/// Below this a check is a flood, not a health check.
const MIN_INTERVAL_MS: u64 = 100;
const MIN_TIMEOUT_MS: u64 = 10;
/// The kernel's IFNAMSIZ less the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

impl ProbeSpec {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
            path: display.clone(),
            source,
        })?;
        let spec: ProbeSpec =
            serde_json::from_slice(&bytes).map_err(|source| SpecError::Parse {
                path: display,
                source,
            })?;
        spec.validate()?;
        Ok(spec)
    }

    /// `targetSource` with `auto` resolved.
    pub fn effective_target_source(&self) -> TargetSource {
        match (self.target_source, &self.target) {
            (TargetSource::Auto, Some(_)) => TargetSource::Static,
            (TargetSource::Auto, None) => TargetSource::DefaultGateway,
            (other, _) => other,
        }
    }

    /// The family the probe is restricted to, if any: explicit, from a literal
    /// target or from the source address. `None` lets a hostname use any family.
    pub fn family(&self) -> Option<AddressFamily> {
        self.address_family
            .or_else(|| self.target_ip().map(|ip| AddressFamily::of(&ip)))
            .or_else(|| self.source_address.as_ref().map(AddressFamily::of))
    }

    /// The target when it is an IP literal.
    pub fn target_ip(&self) -> Option<IpAddr> {
        self.target.as_deref().and_then(|t| t.parse().ok())
    }

    /// The destination port, with the protocol's default applied.
    pub fn effective_port(&self) -> Option<u16> {
        match self.protocol {
            Protocol::Icmp => None,
            Protocol::Tcp => self.port,
            Protocol::Http => Some(self.port.unwrap_or(80)),
            Protocol::Dns => Some(self.port.unwrap_or(53)),
        }
    }

    /// The HTTP path, default "/".
    pub fn http_path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }

    /// The DNS name to query, default ".".
    pub fn dns_query(&self) -> &str {
        self.query.as_deref().unwrap_or(".")
    }

    /// Time between probe starts.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Deadline of one probe.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Whether two specs probe the same thing the same way (thresholds,
    /// timing and `enabled` aside): when this changes, old streaks mean nothing.
    pub fn same_probe(&self, other: &ProbeSpec) -> bool {
        self.protocol == other.protocol
            && self.target == other.target
            && self.effective_target_source() == other.effective_target_source()
            && self.family() == other.family()
            && self.effective_port() == other.effective_port()
            && self.path == other.path
            && self.expected_status == other.expected_status
            && self.host == other.host
            && self.query == other.query
            && self.source_interface == other.source_interface
            && self.source_address == other.source_address
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.check().map_err(|message| SpecError::Invalid {
            name: self.name.clone(),
            message,
        })
    }

    fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        self.check_target()?;
        self.check_protocol_fields()?;
        self.check_timing()?;
        self.check_source()
    }

    fn check_target(&self) -> Result<(), String> {
        match (self.target_source, &self.target) {
            (TargetSource::Static, None) => {
                return Err("targetSource static needs a target".into());
            }
            (TargetSource::DefaultGateway, Some(_)) => {
                return Err("targetSource defaultGateway takes no target".into());
            }
            _ => {}
        }
        let Some(target) = &self.target else {
            return Ok(());
        };
        match target.parse::<IpAddr>() {
            Ok(ip) => {
                if let Some(family) = self.address_family
                    && family != AddressFamily::of(&ip)
                {
                    return Err(format!(
                        "target {ip} is not in addressFamily {}",
                        family_name(family)
                    ));
                }
                if ip.is_unspecified() || ip.is_multicast() {
                    return Err(format!("target {ip} is not a unicast address"));
                }
                if is_ipv6_link_local(&ip) && self.source_interface.is_none() {
                    return Err(format!(
                        "link-local target {ip} needs sourceInterface to pick the link"
                    ));
                }
                Ok(())
            }
            Err(_) => check_hostname(target).map_err(|why| format!("target {target:?}: {why}")),
        }
    }

    fn check_protocol_fields(&self) -> Result<(), String> {
        if self.port == Some(0) {
            return Err("port 0 is not a destination".into());
        }
        match self.protocol {
            Protocol::Icmp if self.port.is_some() => {
                return Err("port does not apply to icmp".into());
            }
            Protocol::Tcp if self.port.is_none() => {
                return Err("tcp needs a port".into());
            }
            _ => {}
        }
        if let Some(path) = &self.path {
            if self.protocol != Protocol::Http {
                return Err("path only applies to http".into());
            }
            if !path.starts_with('/') {
                return Err(format!("path {path:?} must start with '/'"));
            }
            // The path goes verbatim into the request line.
            if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "path {path:?} contains whitespace or control characters"
                ));
            }
        }
        if !self.expected_status.is_empty() && self.protocol != Protocol::Http {
            return Err("expectedStatus only applies to http".into());
        }
        if let Some(code) = self
            .expected_status
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(format!("expectedStatus {code} is not an HTTP status"));
        }
        if let Some(host) = &self.host {
            if self.protocol != Protocol::Http {
                return Err("host only applies to http".into());
            }
            // The host goes verbatim into a header line.
            if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "host {host:?} is empty or contains whitespace or control characters"
                ));
            }
        }
        if let Some(query) = &self.query {
            if self.protocol != Protocol::Dns {
                return Err("query only applies to dns".into());
            }
            if query != "." {
                check_hostname(query).map_err(|why| format!("query {query:?}: {why}"))?;
            }
        }
        Ok(())
    }

    fn check_timing(&self) -> Result<(), String> {
        if self.interval_ms < MIN_INTERVAL_MS {
            return Err(format!("intervalMs must be at least {MIN_INTERVAL_MS}"));
        }
        if self.timeout_ms < MIN_TIMEOUT_MS {
            return Err(format!("timeoutMs must be at least {MIN_TIMEOUT_MS}"));
        }
        if self.timeout_ms >= self.interval_ms {
            return Err(format!(
                "timeoutMs ({}) must be less than intervalMs ({})",
                self.timeout_ms, self.interval_ms
            ));
        }
        if self.healthy_threshold == 0 || self.unhealthy_threshold == 0 {
            return Err("healthyThreshold and unhealthyThreshold must be at least 1".into());
        }
        Ok(())
    }

    fn check_source(&self) -> Result<(), String> {
        if let Some(ifname) = &self.source_interface
            && (ifname.is_empty()
                || ifname.len() > MAX_IFNAME_LEN
                || ifname.contains(['/', ':'])
                || ifname.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!(
                "sourceInterface {ifname:?} is not a kernel interface name"
            ));
        }
        if let Some(source) = &self.source_address {
            if source.is_multicast() {
                return Err(format!("sourceAddress {source} is multicast"));
            }
            if let Some(family) = self
                .address_family
                .or_else(|| self.target_ip().map(|ip| AddressFamily::of(&ip)))
                && family != AddressFamily::of(source)
            {
                return Err(format!(
                    "sourceAddress {source} is not in the probe's family {}",
                    family_name(family)
                ));
            }
        }
        Ok(())
    }
}

fn family_name(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Ipv4 => "ipv4",
        AddressFamily::Ipv6 => "ipv6",
    }
}

fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Names end up in event topics (`routerd.healthcheck.<name>.healthy`), so dots
/// and anything a topic filter might treat specially are out.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("name must be 1 to 63 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "name {name:?} may only contain letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// RFC 1035 §2.3.4 lengths with RFC 1123 letters-digits-hyphen labels
/// (underscores allowed, as in service names); a trailing dot is accepted.
pub(crate) fn check_hostname(name: &str) -> Result<(), String> {
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
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "label {label:?} has characters other than letters, digits, '-' and '_'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
