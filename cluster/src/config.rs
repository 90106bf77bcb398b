//! What a node needs to start: who it is, who its peers are, where its data and
//! certificates live, and its Raft timing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::{Node, NodeId};

/// One cluster member as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: NodeId,
    /// Also the TLS server name its certificate carries.
    pub name: String,
    /// `host:port` where its cluster gRPC service listens.
    pub addr: String,
    /// A tie-breaking voter that never owns a group.
    pub witness: bool,
}

impl Member {
    pub(crate) fn node(&self) -> Node {
        Node {
            name: self.name.clone(),
            addr: self.addr.clone(),
            witness: self.witness,
        }
    }
}

/// PEM files for mutual TLS (see [`crate::pki`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA: peers must present a certificate it signed.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A node's configuration.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: NodeId,
    pub name: String,
    /// Where the cluster gRPC service binds.
    pub listen: SocketAddr,
    /// The address peers dial (`host:port`); usually `listen` with a routable host.
    pub advertise: String,
    /// The initial voters, used by [`crate::ClusterNode::bootstrap`] on a fresh cluster.
    pub members: Vec<Member>,
    /// Holds `raft.redb` (log, vote, snapshot).
    pub data_dir: PathBuf,
    pub tls: TlsFiles,
    pub heartbeat: Duration,
    /// A follower that hears no leader for a random time in this range (after the
    /// leader lease, which openraft 0.9 sets to the upper bound) campaigns.
    pub election_timeout: (Duration, Duration),
    /// Build a snapshot after this many applied entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind the last snapshot, so a briefly lagging
    /// follower catches up from the log instead of a full snapshot.
    pub keep_logs_after_snapshot: u64,
}

impl ClusterConfig {
    /// A configuration with the HA design's default timing (heartbeat 50 ms,
    /// election timeout 150–300 ms) and snapshots every 1000 entries.
    pub fn new(
        node_id: NodeId,
        name: impl Into<String>,
        listen: SocketAddr,
        members: Vec<Member>,
        data_dir: impl Into<PathBuf>,
        tls: TlsFiles,
    ) -> ClusterConfig {
        ClusterConfig {
            node_id,
            name: name.into(),
            listen,
            advertise: listen.to_string(),
            members,
            data_dir: data_dir.into(),
            tls,
            heartbeat: Duration::from_millis(50),
            election_timeout: (Duration::from_millis(150), Duration::from_millis(300)),
            snapshot_every: 1000,
            keep_logs_after_snapshot: 1000,
        }
    }

    /// openraft's configuration from ours.
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, crate::ClusterError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        openraft::Config {
            cluster_name: "routerd".into(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_logs_after_snapshot,
            // Purge once a snapshot covers a batch; never wait for more entries than a
            // snapshot interval, or a small interval would never purge at all.
            purge_batch_size: self.snapshot_every.clamp(1, 256),
            // Snapshot chunks travel as JSON (bytes become number arrays, ~3.5x):
            // keep each chunk's message well under the gRPC message limit.
            snapshot_max_chunk_size: 1 << 20,
            // Elections start only after a pre-vote (see `election`).
            enable_elect: false,
            ..Default::default()
        }
        .validate()
        .map_err(|e| crate::ClusterError::Config(e.to_string()))
    }
}
