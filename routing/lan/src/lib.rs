//! LAN-side IPv6 services routerd runs itself: router advertisements and a
//! stateless DHCPv6 server. Each is a pure core (packets in, packets and
//! deadlines out, time as an argument) and a thin async socket edge that a
//! controller spawns on its tokio runtime, one per LAN interface.
//!
//! - [`ra`]: Router Advertisements (RFC 4861 §6.2) with RFC 9096's honest
//!   prefix lifetimes and deprecation of prefixes that go away.
//! - [`dhcpv6_server`]: the stateless DHCPv6 server (RFC 8415 §18.3.6):
//!   DNS servers, search domains, SNTP servers and a refresh time.
//! - [`StopMode`] and [`LanError`]: shared by both edges.

#![warn(missing_docs)]

pub mod dhcpv6_server;
mod dns_name;
mod error;
mod jitter;
mod link;
pub mod ra;
mod sockio;

pub use error::LanError;
pub use jitter::OsJitter;
pub use link::duid_ll;

/// How a socket loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopMode {
    /// The interface stops being served (its resource was removed): the RA
    /// sender sends its final RA (router lifetime 0, RFC 4861 §6.2.5).
    Final,
    /// routerd is only restarting or handing over: stop without a word,
    /// hosts keep what they were told.
    Silent,
}
