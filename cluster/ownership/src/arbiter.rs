//! The leader's side: who gets each group, and when a lease has run out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::NodeId;
use crate::table::{Candidate, Group, Op, Table};

/// How long the arbiter waits before proposing the same op for a group again
/// (a proposal that is still in flight, or was lost with a leader change).
const RETRY: Duration = Duration::from_millis(100);

/// The ops to propose now and when to look again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Ops for the leader to propose, in order.
    pub ops: Vec<Op>,
    /// When a lease or a preempt delay runs out next, if anything waits.
    pub next_check: Option<Instant>,
}

/// Decides grants and revocations; lives on the Raft leader only.
#[derive(Debug, Clone)]
pub struct Arbiter {
    /// Leases are counted from no earlier than this: a new leader may have
    /// applied the last renewal before it knew it would have to judge it.
    leader_since: Instant,
    proposed: BTreeMap<String, (Op, Instant)>,
    /// `None` until the leader reports whom it hears from.
    reachable: Option<std::collections::BTreeSet<NodeId>>,
}

impl Arbiter {
    /// An arbiter for a node that became leader at `leader_since`.
    pub fn new(leader_since: Instant) -> Arbiter {
        Arbiter {
            leader_since,
            proposed: BTreeMap::new(),
            reachable: None,
        }
    }

    /// The nodes this leader heard from within the Raft lease. A silent
    /// owner that is still reachable lost its lease to an election, not to
    /// a failure: it gets the group back under a new epoch, so the address
    /// returns on the same router (whose MAC every client still has).
    ///
    /// A candidate on a node the leader does not hear from is passed over
    /// while anyone reachable is eligible: its candidacy was reported while
    /// it lived, and a dead node never withdraws it. Without this a killed
    /// high-priority owner would win its group back by preemption a moment
    /// after the lease handed it on, over and over.
    pub fn set_reachable(&mut self, nodes: impl IntoIterator<Item = NodeId>) {
        self.reachable = Some(nodes.into_iter().collect());
    }

    fn is_reachable(&self, node: NodeId) -> bool {
        self.reachable.as_ref().is_none_or(|r| r.contains(&node))
    }

    /// The best eligible candidate other than `except`, reachable ones
    /// first; an unreachable one only when nobody reachable is eligible.
    fn best<'g>(&self, g: &'g Group, except: Option<NodeId>) -> Option<(NodeId, &'g Candidate)> {
        best(g, except, |id| self.is_reachable(id)).or_else(|| best(g, except, |_| true))
    }

    /// When this leader's view of the group's lease ends.
    pub fn lease_end(&self, g: &Group) -> Instant {
        let held = g.held_until.unwrap_or(self.leader_since);
        held.max(self.leader_since + g.lease()) + crate::guard(g.lease())
    }

    /// The ops the table calls for at `now`.
    pub fn decide(&mut self, table: &Table, now: Instant) -> Decision {
        let mut decision = Decision::default();
        let wake = |at: Instant, d: &mut Decision| {
            d.next_check = Some(d.next_check.map_or(at, |n| n.min(at)));
        };
        for (name, g) in table.groups() {
            let op = match g.owner {
                None => self.best(g, None).map(|(node, c)| grant(name, g, node, c)),
                Some(owner) => {
                    let end = self.lease_end(g);
                    if now >= end {
                        // Silent owner: back to it if it is alive and
                        // eligible (an election ate its lease); otherwise
                        // anyone else eligible first, the owner itself only
                        // as the last resort.
                        let owner_ok = g
                            .candidates
                            .get(&owner)
                            .filter(|c| c.eligible && !g.revoked)
                            .map(|c| (owner, c));
                        owner_ok
                            .filter(|_| self.reachable.as_ref().is_some_and(|r| r.contains(&owner)))
                            .or_else(|| best(g, Some(owner), |id| self.is_reachable(id)))
                            .or(owner_ok)
                            .map(|(node, c)| grant(name, g, node, c))
                    } else {
                        wake(end, &mut decision);
                        if g.revoked {
                            None
                        } else {
                            self.preemption(name, g, owner, now, &mut decision)
                        }
                    }
                }
            };
            if let Some(op) = op {
                let again = self
                    .proposed
                    .get(name)
                    .is_some_and(|(last, at)| *last == op && now < *at + RETRY);
                if again {
                    wake(now + RETRY, &mut decision);
                } else {
                    self.proposed.insert(name.to_string(), (op.clone(), now));
                    decision.ops.push(op);
                }
            }
        }
        self.proposed.retain(|name, _| table.group(name).is_some());
        decision
    }

    fn preemption(
        &self,
        name: &str,
        g: &Group,
        owner: NodeId,
        now: Instant,
        decision: &mut Decision,
    ) -> Option<Op> {
        // Only a challenger the leader hears from may take a group away.
        let (node, c) = best(g, Some(owner), |id| self.is_reachable(id))?;
        let current = g.candidates.get(&owner);
        let beats = match current {
            Some(cur) if cur.eligible && !cur.holding => {
                c.preempt && (c.priority > cur.priority || (c.holding && !cur.holding))
            }
            // The owner is no longer eligible (or gone): it releases on its
            // own; the lease bounds how long that can take.
            _ => false,
        };
        if !beats {
            return None;
        }
        let since = c.eligible_since.unwrap_or(now);
        let ready = since + Duration::from_millis(c.preempt_delay_ms);
        if now < ready {
            decision.next_check = Some(decision.next_check.map_or(ready, |n| n.min(ready)));
            return None;
        }
        let _ = node;
        Some(Op::Revoke {
            group: name.to_string(),
            epoch: g.epoch,
        })
    }
}

fn grant(name: &str, g: &Group, node: NodeId, c: &Candidate) -> Op {
    Op::Grant {
        group: name.to_string(),
        node,
        epoch: g.epoch + 1,
        lease_ms: c.lease_ms,
        // Taken from a live owner: valid only if no renewal committed since
        // this leader judged the lease to be over.
        renewals: g.owner.map(|_| g.renewals),
    }
}

/// The best eligible candidate other than `except`: one serving on its own
/// (VRRP-only fallback) first, then the highest priority, then the lowest id.
fn best(
    g: &Group,
    except: Option<NodeId>,
    usable: impl Fn(NodeId) -> bool,
) -> Option<(NodeId, &Candidate)> {
    g.candidates
        .iter()
        .filter(|(id, c)| c.eligible && Some(**id) != except && usable(**id))
        .max_by(|(a_id, a), (b_id, b)| {
            (a.holding, a.priority, std::cmp::Reverse(**a_id)).cmp(&(
                b.holding,
                b.priority,
                std::cmp::Reverse(**b_id),
            ))
        })
        .map(|(id, c)| (*id, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(node: NodeId, priority: u8, preempt: bool, delay: u64) -> Op {
        Op::Candidate {
            group: "g".into(),
            node,
            priority,
            eligible: true,
            preempt,
            preempt_delay_ms: delay,
            lease_ms: 200,
            holding: false,
        }
    }

    fn apply_all(t: &mut Table, ops: &[Op], now: Instant) {
        for op in ops {
            t.apply(op, now);
        }
    }

    #[test]
    fn the_highest_priority_then_the_lowest_id_gets_the_group() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(
            &mut t,
            &[
                cand(3, 100, true, 0),
                cand(2, 150, true, 0),
                cand(1, 150, true, 0),
            ],
            t0,
        );
        let mut a = Arbiter::new(t0);
        let d = a.decide(&t, t0);
        assert_eq!(
            d.ops,
            vec![Op::Grant {
                group: "g".into(),
                node: 1,
                epoch: 1,
                lease_ms: 200,
                renewals: None,
            }]
        );
        // Not proposed twice while in flight.
        assert!(a.decide(&t, t0 + Duration::from_millis(10)).ops.is_empty());
    }

    #[test]
    fn a_silent_owner_loses_the_group_only_after_the_leaders_view_of_its_lease() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0), cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        let grant = a.decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        // The lease plus the guard for the owner's daemon to stop.
        let end = t0 + Duration::from_millis(250);
        let d = a.decide(&t, end - Duration::from_millis(1));
        assert!(d.ops.is_empty());
        assert_eq!(d.next_check, Some(end));
        let d = a.decide(&t, end);
        assert_eq!(
            d.ops,
            vec![Op::Grant {
                group: "g".into(),
                node: 2,
                epoch: 2,
                lease_ms: 200,
                renewals: Some(0),
            }]
        );
    }

    #[test]
    fn a_reachable_silent_owner_gets_its_group_back() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0), cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        let grant = a.decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        a.set_reachable([1, 2, 3]);
        let d = a.decide(&t, t0 + Duration::from_millis(250));
        assert_eq!(
            d.ops,
            vec![Op::Grant {
                group: "g".into(),
                node: 1,
                epoch: 2,
                lease_ms: 200,
                renewals: Some(0),
            }]
        );
    }

    #[test]
    fn a_dead_high_priority_owner_does_not_preempt_its_successor_back() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0), cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        a.set_reachable([1, 2, 3]);
        let grant = a.decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        assert_eq!(t.group("g").and_then(|g| g.owner), Some(1));
        // Node 1 dies: the leader stops hearing from it, its candidacy stays.
        a.set_reachable([2, 3]);
        let end = t0 + Duration::from_millis(250);
        let d = a.decide(&t, end);
        apply_all(&mut t, &d.ops, end);
        assert_eq!(t.group("g").and_then(|g| g.owner), Some(2));
        // Node 1 still looks eligible with the higher priority, but nobody
        // hears from it: no revocation of node 2, however long we wait.
        // (Node 2 renews nothing here, so its own lease runs out and it is
        // granted again as the reachable owner.)
        for ms in [260, 500, 2_000] {
            let now = t0 + Duration::from_millis(ms);
            let d = a.decide(&t, now);
            assert!(
                !d.ops
                    .iter()
                    .any(|op| matches!(op, Op::Revoke { .. } | Op::Grant { node: 1, .. })),
                "at {ms} ms: {:?}",
                d.ops
            );
            apply_all(&mut t, &d.ops, now);
            assert_eq!(t.group("g").and_then(|g| g.owner), Some(2));
        }
        // Back and heard from: preemption resumes.
        a.set_reachable([1, 2, 3]);
        let d = a.decide(&t, t0 + Duration::from_millis(2_100));
        assert!(
            matches!(d.ops.as_slice(), [Op::Revoke { .. }]),
            "{:?}",
            d.ops
        );
    }

    #[test]
    fn an_unreachable_candidate_is_granted_only_when_nobody_else_can_be() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0), cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        a.set_reachable([2, 3]);
        let d = a.decide(&t, t0);
        assert!(
            matches!(d.ops.as_slice(), [Op::Grant { node: 2, .. }]),
            "{:?}",
            d.ops
        );
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        a.set_reachable([3]);
        let d = a.decide(&t, t0);
        assert!(
            matches!(d.ops.as_slice(), [Op::Grant { node: 1, .. }]),
            "{:?}",
            d.ops
        );
    }

    #[test]
    fn preemption_waits_for_the_delay_and_revokes_first() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        let grant = a.decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        let t1 = t0 + Duration::from_millis(50);
        apply_all(&mut t, &[cand(1, 200, true, 500)], t1);
        let renew = Op::Renew {
            group: "g".into(),
            node: 2,
            epoch: 1,
        };
        t.apply(&renew, t1);
        let d = a.decide(&t, t1);
        assert!(d.ops.is_empty());
        assert_eq!(d.next_check, Some(t1 + Duration::from_millis(250)));
        let t2 = t1 + Duration::from_millis(150);
        t.apply(&renew, t2);
        let t3 = t1 + Duration::from_millis(300);
        t.apply(&renew, t3);
        assert!(a.decide(&t, t3).ops.is_empty());
        let t4 = t1 + Duration::from_millis(500);
        t.apply(&renew, t4);
        assert_eq!(
            a.decide(&t, t4).ops,
            vec![Op::Revoke {
                group: "g".into(),
                epoch: 1
            }]
        );
    }

    #[test]
    fn no_preemption_without_preempt() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(2, 100, true, 0)], t0);
        let mut a = Arbiter::new(t0);
        let grant = a.decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        apply_all(&mut t, &[cand(1, 200, false, 0)], t0);
        assert!(a.decide(&t, t0).ops.is_empty());
    }

    #[test]
    fn a_new_leader_counts_leases_from_its_own_start() {
        let t0 = Instant::now();
        let mut t = Table::default();
        apply_all(&mut t, &[cand(1, 200, true, 0), cand(2, 100, true, 0)], t0);
        let grant = Arbiter::new(t0).decide(&t, t0).ops;
        apply_all(&mut t, &grant, t0);
        let elected = t0 + Duration::from_millis(500);
        let mut a = Arbiter::new(elected);
        assert!(a.decide(&t, elected).ops.is_empty());
        assert!(
            a.decide(&t, elected + Duration::from_millis(249))
                .ops
                .is_empty()
        );
        assert_eq!(
            a.decide(&t, elected + Duration::from_millis(250)).ops.len(),
            1
        );
    }
}
