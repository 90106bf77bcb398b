//! routerd's own IPv6 Router Advertisement sender (RFC 4861 §6.2, RFC 4191,
//! RFC 8106, RFC 9096).
//!
//! - [`packet`]: Router Solicitation parsing and Router Advertisement
//!   encoding and parsing, with their options.
//! - [`config`]: what an interface advertises, validated.
//! - [`advertiser`]: when to send what, pure, in virtual time.
//! - [`stats`]: the counters.
//! - [`io`]: the raw ICMPv6 socket loop the controller spawns.

pub mod advertiser;
#[cfg(test)]
mod advertiser_tests;
pub mod config;
pub mod io;
pub mod packet;
#[cfg(test)]
mod packet_tests;
pub mod stats;

pub use advertiser::{AdvertKind, Advertiser, Change, Inconsistency, Outgoing};
pub use config::{AdvertisedPrefix, AdvertisedRoute, ConfigError, RaConfig};
pub use io::run_ra;
pub use packet::{
    NdOption, PacketError, Preference, PrefixInfo, RouteInfo, RouterAdvert, RouterSolicit,
};
pub use stats::{RaStats, RaStatsSnapshot};
