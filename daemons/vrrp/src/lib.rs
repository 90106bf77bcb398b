//! routerd-vrrp: VRRP virtual addresses on raw sockets, fenced by routerd's
//! ownership grants, as a managed daemon speaking the routerd daemon contract.
//!
//! - [`spec`]: the JSON config routerd writes.
//! - [`clock`]: CLOCK_MONOTONIC shared with routerd (grant deadlines).
//! - [`net`]: raw VRRP sockets, gratuitous ARP / unsolicited NA, link lookup.
//! - [`daemon`]: the engine (state machines, sockets, kernel) and its contract face.

pub use routerd_contract::clock;
pub mod daemon;
pub mod net;
pub mod spec;
