//! The Raft node: on-disk log and snapshots, the replicated state machine (config
//! generations, ownership), the mTLS tonic network.

mod state;
pub(crate) mod store;
mod types;

pub use state::{AppState, CONFIG_HISTORY, ConfigGeneration, ConfigHistory};
pub use store::Applied;
pub use types::{Node, NodeId, Request, Response, TypeConfig};

#[cfg(test)]
mod store_suite;
