//! Ownership leases: who may act for a group (hold a VIP, announce a prefix).
//!
//! Three parts, all pure (time is an argument, nothing does I/O):
//!
//! - [`Table`]: the replicated records, changed only by [`Op`]s committed
//!   through Raft. Applying is deterministic; besides the replicated fields each
//!   node keeps local monotonic timestamps (when *it* applied a grant or a
//!   renewal), never replicated and never compared across nodes.
//! - [`Arbiter`]: runs on the Raft leader and decides grants and revocations.
//! - [`Agent`]: runs on every node and decides, per group, whether this node
//!   may act as owner right now, what to renew and when to release.
//!
//! The safety argument (see `docs/ha.md`): the owner counts its lease from the
//! moment it *proposed* the renewal that committed; every other node counts
//! from the moment it *applied* that renewal, which is later. The leader grants
//! a group to someone else only after its own view of the lease has ended (or
//! after the owner released it explicitly, which it does only once it has
//! stopped acting). So the old owner's view always ends first, using only local
//! monotonic clocks.

mod agent;
mod arbiter;
mod table;

pub use agent::{Agent, AgentOutput, Policy, Proposal, Role, Want};
pub use arbiter::{Arbiter, Decision};
pub use table::{Candidate, Group, Op, Outcome, Table};

/// A cluster node id (the Raft node id).
pub type NodeId = u64;

/// Time allowed for a data-plane daemon to act on a deadline: the process
/// that must stop (routerd-vrrp at its grant's deadline) is scheduled by a
/// loaded kernel, not by the clock. Nobody else takes a group over until this
/// long after the old owner's deadline, by anyone's view: a quarter of the
/// lease, at least 50 ms.
pub fn guard(lease: std::time::Duration) -> std::time::Duration {
    (lease / 4).max(std::time::Duration::from_millis(50))
}

#[cfg(test)]
mod sim_tests;
