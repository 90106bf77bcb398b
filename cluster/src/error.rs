//! What can go wrong in the cluster node, in terms a caller can act on.

use crate::types::NodeId;

/// A cluster operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot open the Raft store in {path}: {reason}")]
    Store { path: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("no leader is known yet (election in progress or no quorum)")]
    NoLeader,
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The request may or may not have been applied (e.g. the leader died mid-call).
    #[error("the leader could not be reached; the write's outcome is unknown: {0}")]
    Unavailable(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unknown member {0}")]
    UnknownMember(NodeId),
    #[error("membership change refused: {0}")]
    Membership(String),
    #[error("leadership transfer failed: {0}")]
    Transfer(String),
    #[error("the Raft node has stopped: {0}")]
    Stopped(String),
    #[error("internal error: {0}")]
    Internal(String),
}
