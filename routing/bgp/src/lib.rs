//! BGP-4 protocol core, pure: no sockets, no clocks.
//!
//! - [`fsm`]: the session state machine (RFC 4271 §8) and OPEN negotiation.
//! - [`policy`]: import/export policy (prefix lists, communities, RFC 8212).
//! - [`rib`]: the Loc-RIB with RFC 4271 best-path selection and ECMP.
//! - [`wire`]: the message codec (RFC 4271 and its extensions, RFC 7606
//!   error handling).

#![warn(missing_docs)]

pub mod fsm;
pub mod policy;
pub mod rib;
pub mod wire;
