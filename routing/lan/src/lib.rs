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
//!
//! # Driving them (for the controller)
//!
//! Per LAN interface, spawn [`ra::run_ra`] and/or
//! [`dhcpv6_server::run_dhcpv6_server`] on the runtime, in routerd's network
//! namespace, each with a `tokio::sync::watch` channel of its configuration,
//! a stop future and an `Arc` of its stats:
//!
//! - Push a new [`ra::RaConfig`] whenever prefixes, leases, DNS or flags
//!   change (`send_replace`). A prefix that disappears is announced with
//!   lifetimes 0 in the next three RAs, sent promptly; renumbering is
//!   "old prefix out, new prefix in" in one update. Give each delegated
//!   prefix its lease deadlines ([`ra::AdvertisedPrefix::with_lease`]):
//!   advertised lifetimes never reach past them (RFC 9096), and pushing a
//!   renewed lease refreshes hosts with one prompt RA. Without upstream
//!   IPv6, advertise no delegated prefix and router lifetime 0.
//! - Resolve the stop future with [`StopMode::Final`] only when the
//!   interface stops being served (its resource removed): hosts get router
//!   lifetime 0 and every prefix deprecated. Use [`StopMode::Silent`] when
//!   routerd itself restarts, so hosts keep what they were told.
//! - Read [`ra::RaStats::snapshot`] and [`dhcpv6_server::ServerStats::snapshot`]
//!   for the resource status (both serialise to camelCase JSON).
//! - An invalid update is refused (logged, counted in `configsRejected`)
//!   and the previous configuration stays; an invalid first configuration
//!   is an error.
//!
//! The interface needs a link-local address (RAs are sent from it) and
//! should not itself accept RAs (`accept_ra=0`, or `forwarding=1` with
//! `accept_ra` below 2). The process needs CAP_NET_RAW (RA) and
//! CAP_NET_BIND_SERVICE (port 547).

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
