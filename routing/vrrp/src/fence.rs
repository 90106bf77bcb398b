//! Grants from routerd: the permission to be Master, with an epoch and a deadline.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What routerd lets this instance be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GrantRole {
    /// May be Master until the deadline (fenced mode).
    Owner,
    /// Must not be Master (fenced mode).
    Standby,
    /// Plain RFC VRRP, unfenced, until told otherwise (routerd's "quorum lost,
    /// VRRP-only" policy).
    Vrrp,
}

impl GrantRole {
    /// The role's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantRole::Owner => "owner",
            GrantRole::Standby => "standby",
            GrantRole::Vrrp => "vrrp",
        }
    }
}

/// One grant for one ownership group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Ownership epoch; older epochs than the newest seen are ignored entirely.
    pub epoch: u64,
    /// What the instance may be.
    pub role: GrantRole,
    /// When an owner grant runs out; `None` never (routerd's "hold" policy).
    pub deadline: Option<Instant>,
}

impl Grant {
    /// True for an owner grant whose deadline has not passed at `now`.
    pub fn permits_master(&self, now: Instant) -> bool {
        self.role == GrantRole::Owner && self.deadline.is_none_or(|d| now < d)
    }
}

/// What the instance did with a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GrantOutcome {
    /// Taken into force.
    Accepted,
    /// Its epoch is older than one already seen; nothing changed.
    IgnoredOlderEpoch,
}
