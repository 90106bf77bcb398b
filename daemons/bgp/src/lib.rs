//! routerd-bgp: the BGP-4 and BFD speaker routerd runs as a managed daemon.
//!
//! - [`spec`]: the JSON config routerd renders.
//! - [`daemon`]: the contract handle and the daemon's own HTTP routes.
//! - `speaker`: the task owning sessions, the Loc-RIB, announcements and
//!   the kernel batcher.
//! - [`fib`]: RIB changes batched into kernel writes (protocol `bgp`).
//! - [`net`]: TCP for sessions: the listener, connections, MD5 signatures
//!   (RFC 2385) and TTL security (RFC 5082).
//! - [`clock`]: CLOCK_MONOTONIC nanoseconds, the clock of grant deadlines.

#![warn(missing_docs)]

pub use routerd_contract::clock;
pub mod daemon;
pub mod fib;
pub mod net;
mod speaker;
pub mod spec;

pub use speaker::{GrantRequest, Role, RouteQuery};
