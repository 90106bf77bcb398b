//! DHCPv6 client protocol core (RFC 8415), pure: no sockets, no clocks.
//!
//! Time comes in as `now`; randomness as a [`Jitter`] the caller supplies, so
//! the same code runs for real and, with a fixed jitter, in virtual-time tests.
//!
//! - [`store`]: the lease file's content and when a stored lease may be
//!   taken back after a restart (same interface, DUID and IAID; still valid).
//! - [`retransmit`]: the message exchange timing of RFC 8415 §15 (IRT, MRT,
//!   MRC, MRD and the ±10 % randomisation) with the per-message parameters
//!   of §7.6.
//! - [`advertise`]: choosing a server from the Advertises a Solicit collects
//!   (§18.2.1, §18.2.9), and the status codes a client acts on.
//! - [`client`]: the prefix-delegation client, Idle → Soliciting → Requesting →
//!   Bound → Renewing → Rebinding → Expired, as a pure state machine.
//! - [`codec`]: dhcproto messages to and from the client's view of them.
//! - [`info`]: stateless configuration (Information-request / Reply) for DNS,
//!   domains, SNTP and the DS-Lite AFTR name, with its refresh time.
//! - [`lifetimes`]: T1/T2 and lifetime handling of an IA_PD (§14.2, §21.21,
//!   §21.22): what the client does with zero, infinite and inconsistent values
//!   a server sends.

#![warn(missing_docs)]

pub mod advertise;
pub mod client;
#[cfg(test)]
mod client_tests;
pub mod codec;
pub mod info;
pub mod lifetimes;
pub mod retransmit;
pub mod store;

pub use advertise::{Choice, Collector, Offer, StatusCode};
pub use client::{
    Action, Client, ClientConfig, Delegated, Event, IaPd, Lease, Message, Outgoing, Phase, Received,
};
pub use info::{InfoAction, InfoClient, InfoOptions};
pub use lifetimes::{IaTimes, LifetimeError, PrefixLifetimes, Timers, check_prefix};
pub use retransmit::{Exchange, FixedJitter, Jitter, MessageKind, Params};
