//! Ownership leases: who may act for a group (hold a VIP, announce a prefix).
//!
//! The replicated part is [`Table`], changed only by [`Op`]s committed through
//! Raft. Each node also keeps local monotonic timestamps (when it applied a
//! grant or renewal), never replicated and never compared across nodes.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A cluster node id (the Raft node id).
pub type NodeId = u64;

/// An operation on the ownership table, replicated through the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Op {
    /// A node states (or updates) its candidacy for a group.
    Candidate {
        group: String,
        node: NodeId,
        priority: u8,
        eligible: bool,
        preempt: bool,
        preempt_delay_ms: u64,
        lease_ms: u64,
    },
    /// A node no longer has the group in its configuration.
    Withdraw { group: String, node: NodeId },
    /// The leader grants the group to a node with a new epoch.
    Grant {
        group: String,
        node: NodeId,
        epoch: u64,
    },
    /// The owner extends its lease.
    Renew {
        group: String,
        node: NodeId,
        epoch: u64,
    },
    /// The owner gives the group up (or the leader revokes it).
    Release {
        group: String,
        node: NodeId,
        epoch: u64,
    },
}

/// What applying an op did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Accepted,
    Rejected { reason: String },
}

/// The replicated ownership table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    groups: BTreeMap<String, Group>,
}

/// One group's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub owner: Option<NodeId>,
    pub epoch: u64,
    /// When this node applied the last grant or renewal (local clock only).
    #[serde(skip)]
    pub renewed_at: Option<Instant>,
}

impl Table {
    /// Applies a committed op at local time `now`.
    pub fn apply(&mut self, op: &Op, now: Instant) -> Outcome {
        let _ = (op, now, &mut self.groups);
        Outcome::Rejected {
            reason: "not implemented yet".into(),
        }
    }

    /// After a restart or a snapshot install: every live lease counts as
    /// renewed now, which can only make this node wait longer, never less.
    pub fn after_restore(&mut self, now: Instant) {
        for g in self.groups.values_mut() {
            g.renewed_at = Some(now);
        }
    }
}
