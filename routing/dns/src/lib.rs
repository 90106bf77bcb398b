//! DNS forwarding for routerd's own lookups, on hickory.
//!
//! routerd sometimes has to resolve a name itself: the DS-Lite AFTR name that
//! only the ISP's in-network resolver answers, the host name of a DoH
//! upstream. It does that the way the config says DNS is forwarded: the
//! `DNSForwarder` whose `match` suffix is the longest match of the name picks
//! the `DNSUpstream`s, asked in preference order with failover, over UDP, TCP,
//! DoT or DoH. It never reads the host's `/etc/resolv.conf` or `/etc/hosts`.
//!
//! ```no_run
//! # async fn f() -> Result<(), routerd_dns::DnsError> {
//! use routerd_dns::{ForwarderSpec, Forwarding, Protocol, UpstreamSpec};
//!
//! let isp = UpstreamSpec {
//!     name: "transix-a".into(),
//!     protocol: Protocol::Udp,
//!     addresses: vec!["2404:1a8:7f01:a::3".parse().unwrap()],
//!     ..Default::default()
//! };
//! let aftr = ForwarderSpec {
//!     name: "aftr".into(),
//!     domains: vec!["gw.transix.jp".into()],
//!     upstreams: vec!["DNSUpstream/transix-a".into()],
//!     health: None,
//! };
//! let dns = Forwarding::new(&[isp], &[aftr])?;
//! let answer = dns.lookup_ipv6("gw.transix.jp").await?;
//! println!("{:?} for {} s from {}", answer.addresses, answer.ttl, answer.upstream);
//! # Ok(()) }
//! ```
//!
//! # From the config kinds
//!
//! One [`UpstreamSpec`] per `DNSUpstream`: `protocol`, `port`, `path`,
//! `tlsName`, `sourceInterface` map one to one; `address` goes to
//! `addresses` when it parses as an IP and to `host` otherwise; `addressFrom`
//! and `bootstrapFrom` are read from the other resources' status by the
//! integrator and appended to `addresses` and `bootstrap` as plain IPs.
//! One [`ForwarderSpec`] per `DNSForwarder`: `match` → `domains`,
//! `upstreams` as written (`DNSUpstream/<name>`), `healthcheck` →
//! [`HealthSpec`] with its durations parsed. `resolver`, `zoneRefs` and
//! `dnssecValidate` belong to the LAN-facing resolver and are not used here.
//! Rebuild the [`Forwarding`] when the specs or a resolved address change;
//! building is cheap and opens no sockets.
//!
//! # Not here
//!
//! - DNSSEC validation: answers are passed on as the upstream gave them, the
//!   AD bit is neither requested nor checked.
//! - Local zones (`zoneRefs`): a forwarder without upstreams answers
//!   [`DnsError::NoUpstreams`].
//! - IPv6 link-local upstream addresses (no scope id in an `IpAddr`), DNS over
//!   QUIC and HTTP/3.
//! - SNI for DoT: hickory switches it off (RFC 7858 servers do not need it);
//!   the certificate is still verified against `tlsName`. DoH sends SNI.
//!
//! Layout: `spec` (inputs), `validate` (spec checks), `domain` (names and
//! suffix matching), `upstream` (hickory pools, bootstrap, failover between
//! addresses), `forwarding` (forwarder choice, failover between upstreams,
//! probes), `health` and `cache` (pure state), `answer`, `status`, `error`,
//! `tls`, `transport` and `cause` (rustls roots, `SO_BINDTODEVICE` sockets,
//! the real reason a connection failed).

#![warn(missing_docs)]

mod answer;
mod cache;
mod cause;
mod domain;
mod error;
mod forwarding;
mod health;
mod spec;
mod status;
mod tls;
mod transport;
mod upstream;
mod validate;

pub use answer::{Answer, AnswerKind, AnswerRecord, IpAnswer};
pub use error::{Attempt, DnsError, ForwarderProblem, UpstreamError, UpstreamProblem};
pub use forwarding::{Forwarding, ProbeOutcome};
pub use hickory_resolver::proto::rr::{RData, RecordType};
pub use spec::{ForwarderSpec, ForwardingOptions, HealthSpec, Protocol, UpstreamSpec};
pub use status::{ForwarderStatus, ForwardingStatus, UpstreamStatus};
