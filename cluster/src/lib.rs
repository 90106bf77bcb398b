//! The Raft node: on-disk log and snapshots, the replicated state machine (config
//! generations, ownership), the mTLS tonic network.
//!
//! Start a [`ClusterNode`] with a [`ClusterConfig`], call
//! [`ClusterNode::bootstrap`] once on a fresh cluster, then [`ClusterNode::propose`]
//! writes and read the applied state with [`ClusterNode::with_state`] or follow it
//! with [`ClusterNode::subscribe`].

mod config;
mod election;
mod error;
mod network;
mod node;
pub mod pki;
mod state;
mod status;
pub(crate) mod store;
mod tls;
mod transfer;
mod types;

pub use config::{ClusterConfig, Member, TlsFiles};
pub use error::ClusterError;
pub use node::ClusterNode;
pub use state::{AppState, CONFIG_HISTORY, ConfigGeneration, ConfigHistory};
pub use status::{ClusterStatus, MemberStatus, Role};
pub use store::Applied;
pub use types::{Node, NodeId, Request, Response, TypeConfig};

#[cfg(test)]
mod store_suite;
