//! routerd-bgp: the BGP-4 and BFD speaker routerd runs as a managed daemon.
//!
//! - [`fib`]: RIB changes batched into kernel writes (protocol `bgp`).
//! - [`net`]: TCP for sessions: the listener, connections, MD5 signatures
//!   (RFC 2385) and TTL security (RFC 5082).

#![warn(missing_docs)]

pub mod fib;
pub mod net;
