//! DHCPv4 client protocol core (RFC 2131, RFC 2132 options, RFC 3442
//! classless static routes), pure: no sockets, no clocks.
//!
//! Time comes in as `now`; randomness as a [`Jitter`] the caller supplies
//! (the same trait the DHCPv6 core uses), so the same code runs for real
//! and, with a fixed jitter, in virtual-time tests.
//!
//! - [`client`]: the client, Init → Selecting → Requesting → Bound →
//!   Renewing → Rebinding, and Rebooting (INIT-REBOOT) from a stored lease,
//!   as a pure state machine.
//! - [`retransmit`]: RFC 2131 §4.1 backoff (4 s doubling to 64 s, ±1 s) and
//!   the §4.4.5 RENEWING/REBINDING waits.
//! - [`timers`]: lease time, T1 and T2, and what is done with nonsense.
//! - [`message`]: the client's view of what it sends and receives.
//! - [`codec`]: bytes to and from that view (dhcproto, guarded against the
//!   option lengths that make it panic).
//! - [`routes`]: option 121's compact encoding.
//! - [`frame`]: IPv4/UDP headers, for replies read from a packet socket.
//! - [`store`]: the lease file's content and when a stored lease may be
//!   taken back after a restart.

#![warn(missing_docs)]

pub mod client;
#[cfg(test)]
mod client_tests;
pub mod codec;
pub mod frame;
pub mod message;
pub mod retransmit;
pub mod routes;
pub mod store;
pub mod timers;

pub use client::{Action, Client, ClientConfig, Counters, Event, Lease, Phase};
pub use message::{Destination, Identity, LeaseOptions, MessageKind, Outgoing, Reply, ReplyKind};
pub use retransmit::{FixedJitter, Jitter};
pub use routes::Route;
pub use store::{LeaseRecord, RestoreError};
pub use timers::{LeaseTimes, Timers};
