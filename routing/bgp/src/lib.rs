//! BGP-4 protocol core, pure: no sockets, no clocks.
//!
//! - [`rib`]: the Loc-RIB with RFC 4271 best-path selection and ECMP.

#![warn(missing_docs)]

pub mod rib;
