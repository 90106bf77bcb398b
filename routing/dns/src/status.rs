//! The status snapshot, shaped for the `status` of the `DNSUpstream` and
//! `DNSForwarder` resources (camelCase, like the rest of routerd's status).

use serde::Serialize;

use crate::spec::Protocol;

/// Everything [`Forwarding::status`](crate::Forwarding::status) reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingStatus {
    /// One entry per upstream, in spec order.
    pub upstreams: Vec<UpstreamStatus>,
    /// One entry per forwarder, in spec order.
    pub forwarders: Vec<ForwarderStatus>,
}

/// The status of one `DNSUpstream`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStatus {
    /// `metadata.name`.
    pub name: String,
    /// `spec.protocol`.
    pub protocol: Protocol,
    /// Healthy (tried in its configured place) or not (tried after the healthy ones).
    pub healthy: bool,
    /// The addresses in use: the configured ones, or what `host` resolved to
    /// through the bootstrap servers (empty until first resolved).
    pub addresses: Vec<String>,
    /// The host-name address, when the upstream is given by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The last failure, kept after recovery so status says what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Round-trip time of the last answer, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rtt_ms: Option<f64>,
    /// Exchanges, lookups and probes together (cache hits are not counted).
    pub queries: u64,
    /// Failed exchanges.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Of `queries`, the active health probes.
    pub probes: u64,
}

/// The status of one `DNSForwarder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwarderStatus {
    /// `metadata.name`.
    pub name: String,
    /// The `match` suffixes, normalised (lower case, fully qualified).
    pub domains: Vec<String>,
    /// The upstreams in preference order.
    pub upstreams: Vec<String>,
    /// The upstreams in the order the next lookup would try them: healthy
    /// ones first, each group in preference order.
    pub effective_order: Vec<String>,
}
