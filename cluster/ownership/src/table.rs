//! The replicated ownership records and the ops that change them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// An operation on the ownership table, replicated through the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Op {
    /// A node states (or updates) its candidacy for a group.
    #[serde(rename_all = "camelCase")]
    Candidate {
        group: String,
        node: NodeId,
        priority: u8,
        /// The node could serve the group now (interface up, daemon alive).
        eligible: bool,
        preempt: bool,
        preempt_delay_ms: u64,
        lease_ms: u64,
        /// The node is serving the group on its own (VRRP-only fallback)
        /// and asks to keep it now that the cluster can decide again.
        #[serde(default)]
        holding: bool,
    },
    /// A node no longer has the group in its configuration. From the owner
    /// it also releases the group (it has stopped acting before proposing).
    Withdraw { group: String, node: NodeId },
    /// The leader grants the group to a node with the next epoch.
    #[serde(rename_all = "camelCase")]
    Grant {
        group: String,
        node: NodeId,
        epoch: u64,
        lease_ms: u64,
        /// When taken from an owner: the renewal count the leader judged
        /// by. A renewal that committed in between (the owner came back just
        /// as its lease ran out) makes the grant stale, and it is refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renewals: Option<u64>,
    },
    /// The owner extends its lease.
    Renew {
        group: String,
        node: NodeId,
        epoch: u64,
    },
    /// A renewal that holds the lease for `extra_ms` longer than usual, taken
    /// before a pause in commits the owner knows of (a leadership transfer).
    #[serde(rename_all = "camelCase")]
    Extend {
        group: String,
        node: NodeId,
        epoch: u64,
        extra_ms: u64,
    },
    /// The leader asks the owner to give the group up (preemption); renewals
    /// of this epoch are refused from now on.
    Revoke { group: String, epoch: u64 },
    /// The owner gives the group up, after it has stopped acting.
    Release {
        group: String,
        node: NodeId,
        epoch: u64,
    },
}

impl Op {
    /// The group the op is about.
    pub fn group(&self) -> &str {
        match self {
            Op::Candidate { group, .. }
            | Op::Withdraw { group, .. }
            | Op::Grant { group, .. }
            | Op::Renew { group, .. }
            | Op::Extend { group, .. }
            | Op::Revoke { group, .. }
            | Op::Release { group, .. } => group,
        }
    }
}

/// What applying an op did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// The table changed (or already said so).
    Accepted,
    /// The op no longer fits the table (an older epoch, a revoked lease...).
    Rejected { reason: String },
}

impl Outcome {
    fn rejected(reason: impl Into<String>) -> Outcome {
        Outcome::Rejected {
            reason: reason.into(),
        }
    }

    /// Whether the op took effect.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted)
    }
}

/// A node's candidacy for a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub priority: u8,
    pub eligible: bool,
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    pub lease_ms: u64,
    #[serde(default)]
    pub holding: bool,
    /// When this node applied the candidacy turning eligible (local clock).
    #[serde(skip)]
    pub eligible_since: Option<Instant>,
}

/// One group's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The node that may act for the group, if any.
    pub owner: Option<NodeId>,
    /// Raised by every grant; a renewal or release of another epoch is refused.
    pub epoch: u64,
    /// Lease length of the current grant.
    pub lease_ms: u64,
    /// The leader asked the owner to release.
    pub revoked: bool,
    /// Candidates by node.
    pub candidates: BTreeMap<NodeId, Candidate>,
    /// When this node applied the last grant or renewal (local clock only).
    #[serde(skip)]
    pub renewed_at: Option<Instant>,
    /// The latest end of the lease any applied renewal gave, counted from
    /// when this node applied it (local clock only). Never moves back, so an
    /// extended lease is honoured even after later ordinary renewals.
    #[serde(skip)]
    pub held_until: Option<Instant>,
    /// The longest extension of this epoch's renewals, kept so a node
    /// restored from a snapshot (which has no timestamps) still waits for it.
    #[serde(default)]
    pub extra_ms: u64,
    /// How many renewals of the current epoch were applied (for status).
    #[serde(default)]
    pub renewals: u64,
}

impl Group {
    /// The lease length of the current grant.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// The replicated ownership table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    groups: BTreeMap<String, Group>,
}

impl Table {
    /// One group's record.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// Every group, by name.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &Group)> {
        self.groups.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Applies a committed op at local time `now`. Deterministic in the op
    /// sequence: `now` only feeds the local timestamps.
    pub fn apply(&mut self, op: &Op, now: Instant) -> Outcome {
        match op {
            Op::Candidate {
                group,
                node,
                priority,
                eligible,
                preempt,
                preempt_delay_ms,
                lease_ms,
                holding,
            } => {
                let g = self.groups.entry(group.clone()).or_default();
                let was_eligible = g
                    .candidates
                    .get(node)
                    .filter(|c| c.eligible)
                    .and_then(|c| c.eligible_since);
                let eligible_since = match (eligible, was_eligible) {
                    (false, _) => None,
                    (true, Some(since)) => Some(since),
                    (true, None) => Some(now),
                };
                g.candidates.insert(
                    *node,
                    Candidate {
                        priority: *priority,
                        eligible: *eligible,
                        preempt: *preempt,
                        preempt_delay_ms: *preempt_delay_ms,
                        lease_ms: *lease_ms,
                        holding: *holding,
                        eligible_since,
                    },
                );
                Outcome::Accepted
            }
            Op::Withdraw { group, node } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return Outcome::Accepted;
                };
                g.candidates.remove(node);
                if g.owner == Some(*node) {
                    g.owner = None;
                    g.revoked = false;
                }
                if g.candidates.is_empty() && g.owner.is_none() {
                    // The epoch must never go back, even if the group returns:
                    // keep the record unless nothing ever was granted.
                    if g.epoch == 0 {
                        self.groups.remove(group);
                    }
                }
                Outcome::Accepted
            }
            Op::Grant {
                group,
                node,
                epoch,
                lease_ms,
                renewals,
            } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return Outcome::rejected("no such group");
                };
                if g.owner.is_some()
                    && let Some(n) = renewals
                    && *n != g.renewals
                {
                    return Outcome::rejected(format!(
                        "the owner renewed since (renewal {} of epoch {}, the grant judged {n})",
                        g.renewals, g.epoch
                    ));
                }
                if *epoch != g.epoch + 1 {
                    return Outcome::rejected(format!(
                        "grant for epoch {epoch}, but the next epoch is {}",
                        g.epoch + 1
                    ));
                }
                if !g.candidates.contains_key(node) {
                    return Outcome::rejected(format!("node {node} is not a candidate"));
                }
                g.owner = Some(*node);
                g.epoch = *epoch;
                g.lease_ms = *lease_ms;
                g.revoked = false;
                g.renewed_at = Some(now);
                g.held_until = Some(now + g.lease());
                g.extra_ms = 0;
                g.renewals = 0;
                Outcome::Accepted
            }
            Op::Renew { group, node, epoch } => self.renew(group, *node, *epoch, 0, now),
            Op::Extend {
                group,
                node,
                epoch,
                extra_ms,
            } => self.renew(group, *node, *epoch, *extra_ms, now),
            Op::Revoke { group, epoch } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return Outcome::rejected("no such group");
                };
                if *epoch != g.epoch || g.owner.is_none() {
                    return Outcome::rejected(format!("epoch {epoch} is not held"));
                }
                g.revoked = true;
                Outcome::Accepted
            }
            Op::Release { group, node, epoch } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return Outcome::rejected("no such group");
                };
                if g.owner != Some(*node) || *epoch != g.epoch {
                    return Outcome::rejected(format!("node {node} does not hold epoch {epoch}"));
                }
                g.owner = None;
                g.revoked = false;
                Outcome::Accepted
            }
        }
    }

    fn renew(
        &mut self,
        group: &str,
        node: NodeId,
        epoch: u64,
        extra_ms: u64,
        now: Instant,
    ) -> Outcome {
        let Some(g) = self.groups.get_mut(group) else {
            return Outcome::rejected("no such group");
        };
        if g.owner != Some(node) {
            return Outcome::rejected(format!("node {node} is not the owner"));
        }
        if epoch != g.epoch {
            return Outcome::rejected(format!("renewal of epoch {epoch}, current is {}", g.epoch));
        }
        if g.revoked {
            return Outcome::rejected("the lease was revoked");
        }
        g.renewed_at = Some(now);
        g.extra_ms = g.extra_ms.max(extra_ms);
        let until = now + g.lease() + Duration::from_millis(extra_ms);
        g.held_until = Some(g.held_until.map_or(until, |h| h.max(until)));
        g.renewals += 1;
        Outcome::Accepted
    }

    /// After a restart or a snapshot install: every live lease and every
    /// eligible candidacy counts as renewed now, which can only make this node
    /// wait longer, never less.
    pub fn after_restore(&mut self, now: Instant) {
        for g in self.groups.values_mut() {
            g.renewed_at = Some(now);
            g.held_until = Some(now + g.lease() + Duration::from_millis(g.extra_ms));
            for c in g.candidates.values_mut() {
                c.eligible_since = c.eligible.then_some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(group: &str, node: NodeId, priority: u8) -> Op {
        Op::Candidate {
            group: group.into(),
            node,
            priority,
            eligible: true,
            preempt: true,
            preempt_delay_ms: 0,
            lease_ms: 200,
            holding: false,
        }
    }

    #[test]
    fn grants_raise_the_epoch_and_stale_epochs_are_refused() {
        let now = Instant::now();
        let mut t = Table::default();
        assert!(t.apply(&cand("g", 1, 200), now).is_accepted());
        assert!(t.apply(&cand("g", 2, 100), now).is_accepted());
        let grant = |node, epoch| Op::Grant {
            group: "g".into(),
            node,
            epoch,
            lease_ms: 200,
            renewals: None,
        };
        assert!(t.apply(&grant(1, 1), now).is_accepted());
        // The same grant again (a leader retrying) does not apply twice.
        assert!(!t.apply(&grant(1, 1), now).is_accepted());
        assert!(t.apply(&grant(2, 2), now).is_accepted());
        let renew_old = Op::Renew {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(!t.apply(&renew_old, now).is_accepted());
        let release_old = Op::Release {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(!t.apply(&release_old, now).is_accepted());
        assert_eq!(t.group("g").and_then(|g| g.owner), Some(2));
    }

    #[test]
    fn a_revoked_lease_cannot_be_renewed_and_release_frees_the_group() {
        let now = Instant::now();
        let mut t = Table::default();
        t.apply(&cand("g", 1, 200), now);
        t.apply(
            &Op::Grant {
                group: "g".into(),
                node: 1,
                epoch: 1,
                lease_ms: 200,
                renewals: None,
            },
            now,
        );
        assert!(
            t.apply(
                &Op::Revoke {
                    group: "g".into(),
                    epoch: 1
                },
                now
            )
            .is_accepted()
        );
        let renew = Op::Renew {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(!t.apply(&renew, now).is_accepted());
        let release = Op::Release {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(t.apply(&release, now).is_accepted());
        assert_eq!(t.group("g").and_then(|g| g.owner), None);
    }

    #[test]
    fn grants_only_go_to_candidates_and_withdraw_of_the_owner_frees_it() {
        let now = Instant::now();
        let mut t = Table::default();
        t.apply(&cand("g", 1, 200), now);
        let grant = |node| Op::Grant {
            group: "g".into(),
            node,
            epoch: 1,
            lease_ms: 200,
            renewals: None,
        };
        assert!(!t.apply(&grant(9), now).is_accepted());
        assert!(t.apply(&grant(1), now).is_accepted());
        t.apply(
            &Op::Withdraw {
                group: "g".into(),
                node: 1,
            },
            now,
        );
        let g = t.group("g").expect("the record keeps its epoch");
        assert_eq!((g.owner, g.epoch), (None, 1));
    }

    #[test]
    fn snapshots_carry_the_replicated_fields_only() {
        let now = Instant::now();
        let mut t = Table::default();
        t.apply(&cand("g", 1, 200), now);
        t.apply(
            &Op::Grant {
                group: "g".into(),
                node: 1,
                epoch: 1,
                lease_ms: 200,
                renewals: None,
            },
            now,
        );
        let json = serde_json::to_string(&t).expect("serializes");
        let mut back: Table = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.group("g").and_then(|g| g.renewed_at), None);
        let later = now + Duration::from_secs(1);
        back.after_restore(later);
        let g = back.group("g").expect("group");
        assert_eq!((g.owner, g.epoch, g.renewed_at), (Some(1), 1, Some(later)));
    }

    #[test]
    fn a_grant_judged_before_a_renewal_committed_is_refused() {
        let t0 = Instant::now();
        let mut t = Table::default();
        t.apply(&cand("g", 1, 200), t0);
        t.apply(&cand("g", 2, 100), t0);
        let grant = |node, epoch, renewals| Op::Grant {
            group: "g".into(),
            node,
            epoch,
            lease_ms: 200,
            renewals,
        };
        assert!(t.apply(&grant(1, 1, None), t0).is_accepted());
        // The leader judges node 1's lease over with no renewal seen, but
        // node 1's renewal reaches the log first: node 1 now acts on it, so
        // the grant must not apply.
        let renew = Op::Renew {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(
            t.apply(&renew, t0 + Duration::from_millis(240))
                .is_accepted()
        );
        let stale = grant(2, 2, Some(0));
        assert!(
            !t.apply(&stale, t0 + Duration::from_millis(250))
                .is_accepted()
        );
        assert_eq!(t.group("g").and_then(|g| g.owner), Some(1));
        // Judged on the latest renewal, it applies.
        assert!(
            t.apply(&grant(2, 2, Some(1)), t0 + Duration::from_millis(500))
                .is_accepted()
        );
        assert_eq!(t.group("g").and_then(|g| g.owner), Some(2));
    }

    #[test]
    fn an_extended_lease_is_not_shortened_by_later_renewals() {
        let t0 = Instant::now();
        let mut t = Table::default();
        t.apply(&cand("g", 1, 200), t0);
        t.apply(
            &Op::Grant {
                group: "g".into(),
                node: 1,
                epoch: 1,
                lease_ms: 200,
                renewals: None,
            },
            t0,
        );
        let extend = Op::Extend {
            group: "g".into(),
            node: 1,
            epoch: 1,
            extra_ms: 1000,
        };
        assert!(t.apply(&extend, t0).is_accepted());
        let renew = Op::Renew {
            group: "g".into(),
            node: 1,
            epoch: 1,
        };
        assert!(
            t.apply(&renew, t0 + Duration::from_millis(100))
                .is_accepted()
        );
        let g = t.group("g").expect("group");
        assert_eq!(g.held_until, Some(t0 + Duration::from_millis(1200)));
        // A restored node waits for the extension too.
        let mut restored: Table =
            serde_json::from_str(&serde_json::to_string(&t).expect("json")).expect("table");
        restored.after_restore(t0);
        assert!(
            restored.group("g").and_then(|g| g.held_until)
                >= Some(t0 + Duration::from_millis(1200))
        );
    }
}
