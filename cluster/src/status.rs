//! One node's view of the cluster, as `routerctl cluster status` and the HA logic
//! read it.

use serde::Serialize;

use crate::types::NodeId;

/// This node's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Shutdown => "shutdown",
        }
    }
}

impl From<openraft::ServerState> for Role {
    fn from(s: openraft::ServerState) -> Role {
        match s {
            openraft::ServerState::Leader => Role::Leader,
            openraft::ServerState::Follower => Role::Follower,
            openraft::ServerState::Candidate => Role::Candidate,
            openraft::ServerState::Learner => Role::Learner,
            openraft::ServerState::Shutdown => Role::Shutdown,
        }
    }
}

/// A member as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub id: NodeId,
    pub name: String,
    pub addr: String,
    /// A voter (else a learner).
    pub voter: bool,
    pub witness: bool,
    /// Leader only: the last log index replicated to this member.
    pub matched_index: Option<u64>,
    /// Leader only: the member answered an RPC within the leader lease.
    pub reachable: Option<bool>,
    /// Leader only: milliseconds since the member last answered an RPC.
    pub millis_since_ack: Option<u64>,
}

/// A node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    pub id: NodeId,
    pub name: String,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub leader_name: Option<String>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub members: Vec<MemberStatus>,
    /// Leader: a majority acknowledged within the leader lease. Follower: a leader was
    /// heard within the leader lease. Otherwise false.
    pub quorum: bool,
    /// Leader only: milliseconds since a majority last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// Follower only: milliseconds since the leader's last accepted AppendEntries.
    pub millis_since_leader_heard: Option<u64>,
}

impl ClusterStatus {
    /// Equal apart from the ages, which change on every look: watchers are woken only
    /// when something they would act on changed.
    pub(crate) fn same_state(&self, other: &ClusterStatus) -> bool {
        let strip = |s: &ClusterStatus| {
            let mut s = s.clone();
            s.millis_since_quorum_ack = None;
            s.millis_since_leader_heard = None;
            for m in &mut s.members {
                m.millis_since_ack = None;
            }
            s
        };
        strip(self) == strip(other)
    }

    pub(crate) fn initial(id: NodeId, name: &str) -> ClusterStatus {
        ClusterStatus {
            id,
            name: name.to_string(),
            role: Role::Follower,
            term: 0,
            leader: None,
            leader_name: None,
            last_log_index: None,
            committed_index: None,
            applied_index: None,
            snapshot_index: None,
            purged_index: None,
            members: Vec::new(),
            quorum: false,
            millis_since_quorum_ack: None,
            millis_since_leader_heard: None,
        }
    }
}
