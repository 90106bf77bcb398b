//! The cluster's gRPC network: peer channels, openraft's outgoing RPCs, and the
//! service that receives them.

mod client;
mod codec;
mod peers;
pub(crate) mod server;

pub(crate) use client::Network;
pub(crate) use codec::traced;
pub(crate) use peers::Peers;
