//! The Raft type configuration: what a log entry carries, what applying it answers,
//! and what the cluster knows about each node.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A cluster node id (the Raft node id).
pub type NodeId = u64;

/// What the cluster stores about a member: its name (also the TLS server name its
/// certificate is issued for), its gRPC address and whether it is a witness (a voter
/// that breaks ties but never owns a group).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub addr: String,
    #[serde(default)]
    pub witness: bool,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)?;
        if self.witness {
            f.write_str(" (witness)")?;
        }
        Ok(())
    }
}

/// A replicated write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// A new configuration; becomes the next generation.
    PutConfig { yaml: String, source: String },
    /// A change to the ownership table.
    Ownership(routerd_ownership::Op),
}

/// What applying a write answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Response {
    /// The configuration became this generation.
    Config { generation: u64 },
    /// The ownership table's verdict.
    Ownership(routerd_ownership::Outcome),
    /// Entries Raft writes itself (blank, membership) answer nothing.
    Noop,
}

openraft::declare_raft_types!(
    /// The cluster's openraft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Node,
        SnapshotData = Cursor<Vec<u8>>,
);

pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
