//! BGP-4 protocol core, pure: no sockets, no clocks.
//!
//! [`wire`] is the message codec (RFC 4271 and its extensions, RFC 7606 error
//! handling). The session FSM and the RIB build on it.

#![warn(missing_docs)]

pub mod wire;
