//! What can go wrong: a spec that does not validate, a name no forwarder
//! covers, or every upstream of the chosen forwarder failing.

use std::fmt;

use hickory_resolver::proto::rr::RecordType;
use thiserror::Error;

use crate::spec::Protocol;

/// Errors from building a [`Forwarding`](crate::Forwarding) or from a lookup.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DnsError {
    /// A `DNSUpstream` does not validate.
    #[error("DNSUpstream/{upstream}: {problem}")]
    InvalidUpstream {
        /// The upstream's name.
        upstream: String,
        /// What is wrong with it.
        problem: UpstreamProblem,
    },
    /// A `DNSForwarder` does not validate.
    #[error("DNSForwarder/{forwarder}: {problem}")]
    InvalidForwarder {
        /// The forwarder's name.
        forwarder: String,
        /// What is wrong with it.
        problem: ForwarderProblem,
    },
    /// A [`ForwardingOptions`](crate::ForwardingOptions) value is unusable.
    #[error("invalid forwarding options: {0}")]
    InvalidOptions(String),
    /// The name given to a lookup is not a domain name.
    #[error("cannot look up {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it is not a name.
        reason: String,
    },
    /// No forwarder's `match` covers the name.
    #[error("no DNSForwarder matches {name} (a forwarder matching \".\" covers every name)")]
    NoForwarder {
        /// The name looked up.
        name: String,
    },
    /// The forwarder that covers the name has no upstreams (for example one
    /// that only serves local zones): routerd has nobody to ask.
    #[error("DNSForwarder/{forwarder} matches {name} but has no upstreams to ask")]
    NoUpstreams {
        /// The forwarder chosen.
        forwarder: String,
        /// The name looked up.
        name: String,
    },
    /// Every upstream of the forwarder failed; each attempt is listed.
    #[error(
        "DNSForwarder/{forwarder}: every upstream failed for {name} {record_type}: {}",
        Attempts(attempts)
    )]
    AllUpstreamsFailed {
        /// The forwarder chosen.
        forwarder: String,
        /// The name looked up.
        name: String,
        /// The record type asked for.
        record_type: RecordType,
        /// One entry per upstream tried, in the order tried.
        attempts: Vec<Attempt>,
    },
}

/// One failed attempt at one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The upstream's name.
    pub upstream: String,
    /// Why it did not answer.
    pub error: UpstreamError,
}

struct Attempts<'a>(&'a [Attempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", a.upstream, a.error)?;
        }
        Ok(())
    }
}

/// Why a `DNSUpstream` does not validate.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UpstreamProblem {
    /// `metadata.name` is empty.
    #[error("the name is empty")]
    EmptyName,
    /// Two upstreams share a name.
    #[error("another DNSUpstream has the same name")]
    Duplicate,
    /// Neither an IP address nor a host name.
    #[error(
        "no address: give an IP address (or, for dot/doh, a host name with bootstrap addresses)"
    )]
    NoAddress,
    /// UDP/TCP upstreams are given by IP address: resolving a plain-DNS
    /// server's name through another plain-DNS server gains nothing.
    #[error(
        "address {host:?} is a host name, which only dot and doh accept; give udp and tcp upstreams an IP address"
    )]
    HostNameForPlainDns {
        /// The host name given.
        host: String,
    },
    /// A host-name address needs bootstrap servers to resolve it.
    #[error(
        "address {host:?} is a host name but no bootstrap addresses are given to resolve it (routerd never uses the system resolver)"
    )]
    NoBootstrap {
        /// The host name given.
        host: String,
    },
    /// The host-name address is not a valid name.
    #[error("address {host:?} is not a valid host name: {reason}")]
    InvalidHost {
        /// The host name given.
        host: String,
        /// Why it is invalid.
        reason: String,
    },
    /// DoT/DoH to a bare IP address without `tlsName`: nothing to verify the
    /// certificate against.
    #[error(
        "{protocol} to an IP address needs tlsName, the name on the server's certificate (an IP literal is fine for certificates with IP addresses)"
    )]
    NoTlsName {
        /// The upstream's protocol.
        protocol: Protocol,
    },
    /// `tlsName` is neither a DNS name nor an IP address.
    #[error("tlsName {name:?} is neither a DNS name nor an IP address")]
    InvalidTlsName {
        /// The name given.
        name: String,
    },
    /// The DoH path does not start with `/`.
    #[error("path {path:?} must start with '/'")]
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// Port 0.
    #[error("port 0 is not a port")]
    PortZero,
    /// The extra CA certificates do not parse.
    #[error("CA certificates: {reason}")]
    InvalidCa {
        /// Why they were refused.
        reason: String,
    },
    /// rustls refused to set up a client (no usable protocol versions).
    #[error("TLS setup: {reason}")]
    Tls {
        /// rustls's reason.
        reason: String,
    },
    /// `sourceInterface` is not a possible Linux interface name.
    #[error(
        "sourceInterface {name:?} is not an interface name (1 to 15 bytes, no '/', ':' or whitespace)"
    )]
    InvalidInterface {
        /// The name given.
        name: String,
    },
    /// `sourceInterface` needs `SO_BINDTODEVICE`, which only Linux has.
    #[error("sourceInterface is only supported on Linux (SO_BINDTODEVICE)")]
    InterfaceUnsupported,
}

/// Why a `DNSForwarder` does not validate.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ForwarderProblem {
    /// `metadata.name` is empty.
    #[error("the name is empty")]
    EmptyName,
    /// Two forwarders share a name.
    #[error("another DNSForwarder has the same name")]
    Duplicate,
    /// `match` is empty.
    #[error("match is empty: list domain suffixes, or \".\" for every name")]
    NoDomains,
    /// A `match` entry is not a domain name.
    #[error("match entry {domain:?} is not a domain: {reason}")]
    InvalidDomain {
        /// The entry.
        domain: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The same suffix in two forwarders: which one answers would be arbitrary.
    #[error("match entry {domain:?} is also matched by DNSForwarder/{other}")]
    DuplicateDomain {
        /// The suffix.
        domain: String,
        /// The other forwarder that lists it.
        other: String,
    },
    /// An entry of `upstreams` names another kind.
    #[error("upstream reference {reference:?} must be DNSUpstream/<name>")]
    WrongKind {
        /// The reference.
        reference: String,
    },
    /// An entry of `upstreams` names no known upstream.
    #[error("upstream {upstream:?} does not exist")]
    UnknownUpstream {
        /// The name referred to.
        upstream: String,
    },
    /// The same upstream twice in one list.
    #[error("upstream {upstream:?} is listed twice")]
    RepeatedUpstream {
        /// The name listed twice.
        upstream: String,
    },
    /// `healthcheck` has a zero threshold, interval or timeout.
    #[error("healthcheck: {reason}")]
    InvalidHealth {
        /// What is zero.
        reason: String,
    },
}

/// Why one upstream did not answer. Each of these makes the forwarder move on
/// to its next upstream and counts against the upstream's health.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer within the query timeout.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made or broke (refused, unreachable, reset).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The TLS handshake or certificate check failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP/2 exchange of DoH failed (including non-2xx statuses).
    #[error("HTTP: {0}")]
    Http(String),
    /// The upstream answered SERVFAIL.
    #[error("server failure (SERVFAIL)")]
    ServFail,
    /// The upstream answered REFUSED.
    #[error("refused (REFUSED)")]
    Refused,
    /// The upstream answered another error code (FORMERR, NOTIMP, ...).
    #[error("error response {0}")]
    Rcode(String),
    /// The response could not be used (malformed, truncated over TCP, ...).
    #[error("bad response: {0}")]
    Protocol(String),
    /// The upstream's host name could not be resolved through its bootstrap servers.
    #[error("bootstrap: {0}")]
    Bootstrap(String),
}
