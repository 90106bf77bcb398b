//! What the integrator hands in: one [`UpstreamSpec`] per `DNSUpstream`, one
//! [`ForwarderSpec`] per `DNSForwarder`, already resolved from the config
//! (`addressFrom`/`bootstrapFrom` turned into plain addresses, durations parsed).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How routerd talks to an upstream (`DNSUpstream.spec.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain DNS over UDP, retried over TCP when the answer is truncated.
    #[default]
    Udp,
    /// Plain DNS over TCP only.
    Tcp,
    /// DNS over TLS (RFC 7858), port 853 by default.
    Dot,
    /// DNS over HTTPS (RFC 8484, HTTP/2), port 443 by default.
    Doh,
}

impl Protocol {
    /// The port used when the spec names none.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Udp | Protocol::Tcp => 53,
            Protocol::Dot => 853,
            Protocol::Doh => 443,
        }
    }

    /// Whether the protocol runs over TLS and so needs a name to verify.
    pub fn is_encrypted(self) -> bool {
        matches!(self, Protocol::Dot | Protocol::Doh)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Dot => "dot",
            Protocol::Doh => "doh",
        })
    }
}

/// One `DNSUpstream`: a resolver routerd may ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// `metadata.name`; forwarders refer to it as `DNSUpstream/<name>`.
    pub name: String,
    /// `spec.protocol`.
    pub protocol: Protocol,
    /// IP addresses to connect to, in preference order: `spec.address` when it
    /// is an IP, plus whatever `addressFrom` resolved to.
    pub addresses: Vec<IpAddr>,
    /// `spec.address` when it is a host name (DoT/DoH only). Resolved through
    /// `bootstrap` when `addresses` is empty; it is also the default TLS name.
    pub host: Option<String>,
    /// `spec.port`; the protocol's default when `None`.
    pub port: Option<u16>,
    /// `spec.tlsName`: the name the server's certificate must carry (DoT/DoH).
    /// Needed when the upstream is given by IP address only.
    pub tls_name: Option<String>,
    /// `spec.path` for DoH; `/dns-query` when `None`.
    pub path: Option<String>,
    /// `spec.bootstrap` (+ `bootstrapFrom`): plain-DNS servers used to resolve
    /// `host`. routerd never falls back to the system resolver.
    pub bootstrap: Vec<IpAddr>,
    /// `spec.sourceInterface`: every socket to this upstream (and to its
    /// bootstrap servers) is bound to this device with `SO_BINDTODEVICE`.
    pub source_interface: Option<String>,
    /// Extra trust anchors for DoT/DoH, PEM certificates, trusted in addition
    /// to the public (webpki) roots: for a resolver with a private CA.
    pub ca_pem: Option<String>,
}

/// One `DNSForwarder`: which names go to which upstreams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwarderSpec {
    /// `metadata.name`.
    pub name: String,
    /// `spec.match`: domain suffixes; `"."` covers every name. The forwarder
    /// with the longest matching suffix answers a query.
    pub domains: Vec<String>,
    /// `spec.upstreams` in preference order, as `DNSUpstream/<name>` or `<name>`.
    pub upstreams: Vec<String>,
    /// `spec.healthcheck`.
    pub health: Option<HealthSpec>,
}

/// `DNSForwarder.spec.healthcheck`: how an upstream's health is judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSpec {
    /// Probe each upstream this often; `None` means passive only (health is
    /// judged from real lookups alone).
    pub interval: Option<Duration>,
    /// How long a probe may take; the query timeout when `None`.
    pub timeout: Option<Duration>,
    /// Consecutive failures that make a healthy upstream unhealthy (default 3).
    pub fail_threshold: Option<u32>,
    /// Consecutive successes that make an unhealthy upstream healthy (default 2).
    pub pass_threshold: Option<u32>,
    /// The name a probe asks for (type A); the root's NS records when `None`.
    /// Not in the Go schema: useful for resolvers that refuse `. NS`, such as
    /// a dnsmasq without upstream servers.
    pub probe_name: Option<String>,
}

/// Knobs of the whole [`Forwarding`](crate::Forwarding) that the config kinds
/// do not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingOptions {
    /// How long one address of one upstream may take to answer before routerd
    /// moves on (the next address, then the next upstream).
    pub query_timeout: Duration,
    /// Most answers kept in the cache.
    pub cache_entries: usize,
    /// Longest time a positive answer is cached, whatever its TTL says.
    pub max_ttl: Duration,
    /// Longest time NXDOMAIN/NODATA is cached (from the SOA's negative TTL).
    pub max_negative_ttl: Duration,
    /// The port bootstrap servers are asked on: 53. `bootstrap` lists bare
    /// addresses, so another port is only for tests and unusual networks.
    pub bootstrap_port: u16,
}

impl Default for ForwardingOptions {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(2),
            cache_entries: 512,
            max_ttl: Duration::from_secs(86_400),
            max_negative_ttl: Duration::from_secs(900),
            bootstrap_port: 53,
        }
    }
}

/// Default `failThreshold`.
pub(crate) const DEFAULT_FAIL_THRESHOLD: u32 = 3;
/// Default `passThreshold`.
pub(crate) const DEFAULT_PASS_THRESHOLD: u32 = 2;
/// Default DoH path (RFC 8484 §4.1 example, what every public resolver uses).
pub(crate) const DEFAULT_DOH_PATH: &str = "/dns-query";
