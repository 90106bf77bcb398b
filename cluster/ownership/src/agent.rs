//! A node's side: may this node act for a group right now, and what must it
//! propose (candidacy, renewals, releases) to keep the table true.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::table::{Candidate, Group, Op, Table};

/// How long before the same proposal is sent again when the table does not
/// show it yet (lost with a leader change, or still in flight).
const RETRY: Duration = Duration::from_millis(100);

/// What the local configuration and health say about a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// Priority after tracking penalties.
    pub priority: u8,
    /// Interface up and the data-plane daemon alive.
    pub eligible: bool,
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    pub lease_ms: u64,
}

/// What a node does when it cannot reach a majority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "policy")]
pub enum Policy {
    /// After `after` without quorum, and once this node's lease has ended,
    /// fall back to plain RFC VRRP (never preempting), as keepalived would.
    Vrrp { after: Duration },
    /// Keep the roles held when quorum was lost; never promote.
    Hold,
}

/// How a node may act for a group right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Act as owner of `epoch` until `deadline` (`None`: the hold policy).
    Owner {
        epoch: u64,
        deadline: Option<Instant>,
    },
    /// Do not act.
    Standby,
    /// No quorum: plain VRRP decides, without preemption.
    VrrpOnly,
}

/// An op to propose, stamped with when it was proposed (a renewal's lease
/// counts from this instant once it commits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub op: Op,
    pub at: Instant,
}

/// The result of one [`Agent::tick`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentOutput {
    pub proposals: Vec<Proposal>,
    pub roles: BTreeMap<String, Role>,
    /// When to tick again at the latest.
    pub next_tick: Option<Instant>,
}

#[derive(Debug, Clone, Default)]
struct Local {
    want: Option<Want>,
    /// (epoch, deadline) from this node's committed renewals.
    lease: Option<(u64, Instant)>,
    /// Start of the last renewal proposed, and its epoch.
    renewing: Option<(u64, Instant)>,
    /// When the last committed renewal was proposed.
    renewed_from: Option<Instant>,
    /// The last owner role handed out: (epoch, deadline).
    handed: Option<(u64, Option<Instant>)>,
    /// The data-plane daemon confirmed it stopped acting for this epoch.
    stopped_epoch: Option<u64>,
    /// Last time each kind of op was proposed, to pace retries.
    sent: BTreeMap<&'static str, (Op, Instant)>,
    /// In VRRP-only fallback, the daemon reports being master.
    fallback_master: bool,
    last_role: Option<Role>,
    /// An epoch this node stepped down from: a release may be in flight, so
    /// it never acts on that epoch again (only on a new grant).
    given_up: Option<u64>,
}

/// Per-node ownership logic.
#[derive(Debug, Clone)]
pub struct Agent {
    node: NodeId,
    policy: Policy,
    groups: BTreeMap<String, Local>,
    quorum: bool,
    quorum_since: Instant,
    fallback_allowed: bool,
    extension: Duration,
}

impl Agent {
    /// An agent for `node`, starting without quorum at `now`.
    pub fn new(node: NodeId, policy: Policy, now: Instant) -> Agent {
        Agent {
            node,
            policy,
            groups: BTreeMap::new(),
            quorum: false,
            quorum_since: now,
            fallback_allowed: true,
            extension: Duration::ZERO,
        }
    }

    /// Whether the VRRP-only fallback may be used at all: only when no
    /// majority can exist without this node (two voters). With three or
    /// more, a node that lost quorum cannot tell "everyone else is dead"
    /// from "the others carry on without me", and falling back would give
    /// the LAN two masters in the second case.
    pub fn set_fallback_allowed(&mut self, allowed: bool) {
        self.fallback_allowed = allowed;
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Sets what configuration and health say about `group` (`None`: the
    /// group is no longer configured here).
    pub fn set_want(&mut self, group: &str, want: Option<Want>) {
        self.groups.entry(group.to_string()).or_default().want = want;
    }

    /// Groups this node has any state for.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Whether this node can commit (a leader with recent acks from a
    /// majority, or a follower hearing from such a leader).
    pub fn set_quorum(&mut self, quorum: bool, now: Instant) {
        if quorum != self.quorum {
            self.quorum = quorum;
            self.quorum_since = now;
        }
    }

    /// The data-plane daemon confirmed it no longer acts for `epoch`.
    pub fn stopped(&mut self, group: &str, epoch: u64) {
        if let Some(l) = self.groups.get_mut(group) {
            l.stopped_epoch = Some(epoch);
        }
    }

    /// After a restart of this agent: the data-plane daemon may still act on
    /// a grant handed out by the previous incarnation, until at most
    /// `deadline`. A release then waits for it (or the daemon's confirmation)
    /// like any other.
    pub fn assume_handed(&mut self, group: &str, epoch: u64, deadline: Instant) {
        let l = self.groups.entry(group.to_string()).or_default();
        if l.handed.is_none() {
            l.handed = Some((epoch, Some(deadline)));
        }
    }

    /// In VRRP-only fallback: whether the daemon is master.
    pub fn set_fallback_master(&mut self, group: &str, master: bool) {
        if let Some(l) = self.groups.get_mut(group) {
            l.fallback_master = master;
        }
    }

    /// While non-zero, this node's renewals hold its leases `extra` longer
    /// (an [`Op::Extend`]), and one is due at once: set before a pause in
    /// commits this node causes itself (a leadership transfer), cleared after.
    pub fn set_extension(&mut self, extra: Duration) {
        self.extension = extra;
    }

    /// Whether every group this node acts as owner for holds a lease until
    /// at least `until` (an extension has committed everywhere it matters).
    pub fn holds_until(&self, table: &Table, until: Instant) -> bool {
        self.groups.iter().all(|(name, l)| {
            let owner = table
                .group(name)
                .is_some_and(|g| g.owner == Some(self.node));
            !owner || l.lease.is_some_and(|(_, d)| d >= until)
        })
    }

    /// One of this node's proposals, made at `at`, committed (`accepted`) or
    /// was refused by the table; only renewals matter here.
    pub fn committed(&mut self, op: &Op, at: Instant, accepted: bool, table: &Table) {
        let (group, epoch, extra) = match op {
            Op::Renew { group, epoch, .. } => (group, *epoch, Duration::ZERO),
            Op::Extend {
                group,
                epoch,
                extra_ms,
                ..
            } => (group, *epoch, Duration::from_millis(*extra_ms)),
            _ => return,
        };
        let Some(l) = self.groups.get_mut(group.as_str()) else {
            return;
        };
        if l.renewing.is_some_and(|(e, t)| e == epoch && t == at) {
            l.renewing = None;
        }
        if !accepted {
            return;
        }
        let Some(g) = table.group(group) else {
            return;
        };
        if g.epoch != epoch {
            return;
        }
        let deadline = at + g.lease() + extra;
        l.renewed_from = Some(at);
        l.lease = match l.lease {
            Some((e, d)) if e == epoch && d >= deadline => Some((e, d)),
            _ => Some((epoch, deadline)),
        };
    }

    /// Decides roles and proposals at `now` from this node's applied table.
    pub fn tick(&mut self, table: &Table, now: Instant) -> AgentOutput {
        let mut out = AgentOutput::default();
        let node = self.node;
        let quorum = self.quorum;
        let quorum_since = self.quorum_since;
        // Without a possible fallback, a node without quorum just stands by.
        let policy = match self.policy {
            Policy::Vrrp { .. } if !self.fallback_allowed => None,
            p => Some(p),
        };
        for (name, l) in &mut self.groups {
            let rec = table.group(name);
            let role = decide(
                node,
                policy,
                quorum,
                quorum_since,
                self.extension,
                name,
                l,
                rec,
                now,
                &mut out,
            );
            if let Role::Owner { epoch, deadline } = role {
                l.handed = Some((epoch, deadline));
                if let Some(d) = deadline {
                    wake(&mut out, d);
                }
            }
            l.last_role = Some(role);
            out.roles.insert(name.clone(), role);
        }
        self.groups.retain(|name, l| {
            l.want.is_some()
                || table
                    .group(name)
                    .is_some_and(|g| g.candidates.contains_key(&node) || g.owner == Some(node))
        });
        out
    }
}

fn wake(out: &mut AgentOutput, at: Instant) {
    out.next_tick = Some(out.next_tick.map_or(at, |n| n.min(at)));
}

fn propose(l: &mut Local, kind: &'static str, op: Op, now: Instant, out: &mut AgentOutput) {
    if let Some((last, at)) = l.sent.get(kind)
        && *last == op
        && now < *at + RETRY
    {
        wake(out, *at + RETRY);
        return;
    }
    l.sent.insert(kind, (op.clone(), now));
    out.proposals.push(Proposal { op, at: now });
    wake(out, now + RETRY);
}

#[allow(clippy::too_many_arguments)]
fn decide(
    node: NodeId,
    policy: Option<Policy>,
    quorum: bool,
    quorum_since: Instant,
    extension: Duration,
    name: &str,
    l: &mut Local,
    rec: Option<&Group>,
    now: Instant,
    out: &mut AgentOutput,
) -> Role {
    let owner = rec.and_then(|g| g.owner);
    let epoch = rec.map_or(0, |g| g.epoch);
    let me_owner = owner == Some(node);
    if !me_owner || l.lease.is_some_and(|(e, _)| e != epoch) {
        l.lease = None;
        l.renewed_from = None;
    }
    let wanted_eligible = l.want.is_some_and(|w| w.eligible);
    let revoked = rec.is_some_and(|g| g.revoked);
    let guard = rec.map_or(Duration::ZERO, |g| crate::guard(g.lease()));
    let was_fallback = matches!(l.last_role, Some(Role::VrrpOnly));

    // Holding: serving on our own in VRRP-only fallback when quorum returns.
    let holding = quorum && was_fallback && l.fallback_master;

    // Keep our candidacy in the table true.
    let mine = rec.and_then(|g| g.candidates.get(&node));
    match l.want {
        Some(w) => {
            let desired = Candidate {
                priority: w.priority,
                eligible: w.eligible,
                preempt: w.preempt,
                preempt_delay_ms: w.preempt_delay_ms,
                lease_ms: w.lease_ms,
                holding,
                eligible_since: None,
            };
            let same = mine.is_some_and(|c| {
                (
                    c.priority,
                    c.eligible,
                    c.preempt,
                    c.preempt_delay_ms,
                    c.lease_ms,
                    c.holding,
                ) == (
                    desired.priority,
                    desired.eligible,
                    desired.preempt,
                    desired.preempt_delay_ms,
                    desired.lease_ms,
                    desired.holding,
                )
            });
            if !same && quorum {
                let op = Op::Candidate {
                    group: name.to_string(),
                    node,
                    priority: w.priority,
                    eligible: w.eligible,
                    preempt: w.preempt,
                    preempt_delay_ms: w.preempt_delay_ms,
                    lease_ms: w.lease_ms,
                    holding,
                };
                propose(l, "candidate", op, now, out);
            }
        }
        None => {
            // Withdraw only once we no longer act (from the owner, a
            // withdrawal also releases the group).
            if mine.is_some() && quorum && (!me_owner || stopped(l, epoch, now, guard)) {
                let op = Op::Withdraw {
                    group: name.to_string(),
                    node,
                };
                propose(l, "withdraw", op, now, out);
            }
        }
    }

    let mut role = Role::Standby;
    if me_owner && (revoked || !wanted_eligible) {
        l.given_up = Some(epoch);
    }
    if me_owner && !revoked && wanted_eligible && l.given_up != Some(epoch) {
        let lease = rec.map_or(Duration::ZERO, Group::lease);
        match l.lease {
            Some((e, deadline)) if now < deadline => {
                role = Role::Owner {
                    epoch: e,
                    deadline: Some(deadline),
                };
                wake(out, deadline);
            }
            _ => {}
        }
        // Renew every third of the lease; a renewal still in flight after a
        // whole lease is given up on (the leader changed or we are cut off).
        // An extension asked for is due at once unless already held.
        let last_start = l.renewing.map(|(_, t)| t);
        let since_start = l.renewed_from.into_iter().chain(last_start).max();
        let extended = extension.is_zero()
            || l.lease
                .is_some_and(|(_, d)| d >= now + lease + extension / 2);
        let due = match since_start {
            Some(t) if extended => t + lease / 3,
            _ => now,
        };
        let stuck = l.renewing.is_some_and(|(_, t)| now >= t + lease);
        if (l.renewing.is_none() || stuck) && now >= due {
            l.renewing = Some((epoch, now));
            let op = if extension.is_zero() {
                Op::Renew {
                    group: name.to_string(),
                    node,
                    epoch,
                }
            } else {
                Op::Extend {
                    group: name.to_string(),
                    node,
                    epoch,
                    extra_ms: u64::try_from(extension.as_millis()).unwrap_or(u64::MAX),
                }
            };
            out.proposals.push(Proposal { op, at: now });
            wake(out, now + lease / 3);
        } else {
            wake(out, due.max(now + Duration::from_millis(1)));
        }
    } else if me_owner && quorum && stopped(l, epoch, now, guard) {
        let op = Op::Release {
            group: name.to_string(),
            node,
            epoch,
        };
        propose(l, "release", op, now, out);
    } else if me_owner && let Some((_, Some(d))) = l.handed {
        wake(out, d);
    }

    // Without a majority.
    if !quorum && !matches!(role, Role::Owner { .. }) {
        match policy {
            None => {}
            Some(Policy::Vrrp { after }) => {
                let at = quorum_since + after;
                if now >= at {
                    role = Role::VrrpOnly;
                } else {
                    wake(out, at);
                }
            }
            Some(Policy::Hold) if me_owner && l.handed.is_some_and(|(e, _)| e == epoch) => {
                role = Role::Owner {
                    epoch,
                    deadline: None,
                };
            }
            Some(Policy::Hold) => {}
        }
    }
    // Quorum is back but we served on our own: keep serving until the table
    // decides, unless it already shows another owner renewing since.
    if quorum && was_fallback && l.fallback_master && !matches!(role, Role::Owner { .. }) {
        let other_renewed = rec.is_some_and(|g| {
            g.owner.is_some_and(|o| o != node) && g.renewed_at.is_some_and(|t| t > quorum_since)
        });
        if !other_renewed {
            role = Role::VrrpOnly;
        }
    }
    role
}

/// Whether this node has certainly stopped acting for `epoch`: the daemon
/// said so, or the last deadline handed to it passed `guard` ago.
fn stopped(l: &Local, epoch: u64, now: Instant, guard: Duration) -> bool {
    if l.stopped_epoch == Some(epoch) {
        return true;
    }
    match l.handed {
        Some((e, Some(deadline))) if e == epoch => now >= deadline + guard,
        Some((e, None)) if e == epoch => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Want = Want {
        priority: 200,
        eligible: true,
        preempt: true,
        preempt_delay_ms: 0,
        lease_ms: 200,
    };

    fn commit(t: &mut Table, a: &mut Agent, out: &AgentOutput, now: Instant) {
        for p in &out.proposals {
            let outcome = t.apply(&p.op, now);
            a.committed(&p.op, p.at, outcome.is_accepted(), t);
        }
    }

    #[test]
    fn an_owner_acts_only_after_its_own_renewal_commits() {
        let t0 = Instant::now();
        let mut t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_secs(1),
            },
            t0,
        );
        a.set_quorum(true, t0);
        a.set_want("g", Some(W));
        let out = a.tick(&t, t0);
        assert_eq!(out.roles["g"], Role::Standby);
        commit(&mut t, &mut a, &out, t0);
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
        let t1 = t0 + Duration::from_millis(5);
        let out = a.tick(&t, t1);
        assert_eq!(out.roles["g"], Role::Standby, "granted, not yet renewed");
        assert!(matches!(out.proposals[0].op, Op::Renew { epoch: 1, .. }));
        commit(&mut t, &mut a, &out, t1 + Duration::from_millis(3));
        let out = a.tick(&t, t1 + Duration::from_millis(3));
        assert_eq!(
            out.roles["g"],
            Role::Owner {
                epoch: 1,
                deadline: Some(t1 + Duration::from_millis(200))
            }
        );
    }

    #[test]
    fn an_owner_that_cannot_renew_stops_at_its_own_deadline() {
        let t0 = Instant::now();
        let mut t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_secs(5),
            },
            t0,
        );
        a.set_quorum(true, t0);
        a.set_want("g", Some(W));
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
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
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
        // Cut off: proposals are lost from here on.
        let mut now = t0;
        let deadline = t0 + Duration::from_millis(200);
        while now < deadline + Duration::from_millis(50) {
            let out = a.tick(&t, now);
            let owner = matches!(out.roles["g"], Role::Owner { .. });
            assert_eq!(owner, now < deadline, "at {:?}", now - t0);
            now += Duration::from_millis(1);
        }
    }

    #[test]
    fn an_ineligible_owner_releases_once_the_daemon_stopped() {
        let t0 = Instant::now();
        let mut t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_secs(5),
            },
            t0,
        );
        a.set_quorum(true, t0);
        a.set_want("g", Some(W));
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
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
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
        assert!(matches!(a.tick(&t, t0).roles["g"], Role::Owner { .. }));
        a.set_want(
            "g",
            Some(Want {
                eligible: false,
                ..W
            }),
        );
        let t1 = t0 + Duration::from_millis(10);
        let out = a.tick(&t, t1);
        assert_eq!(out.roles["g"], Role::Standby);
        assert!(
            !out.proposals
                .iter()
                .any(|p| matches!(p.op, Op::Release { .. }))
        );
        a.stopped("g", 1);
        let out = a.tick(&t, t1 + Duration::from_millis(1));
        assert!(
            out.proposals
                .iter()
                .any(|p| matches!(p.op, Op::Release { epoch: 1, .. }))
        );
    }

    #[test]
    fn a_restarted_agent_releases_only_after_what_its_predecessor_handed_out() {
        let t0 = Instant::now();
        let mut t = Table::default();
        t.apply(
            &Op::Candidate {
                group: "g".into(),
                node: 1,
                priority: 200,
                eligible: true,
                preempt: true,
                preempt_delay_ms: 0,
                lease_ms: 200,
                holding: false,
            },
            t0,
        );
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
        // A new incarnation whose link is down: it must not release before
        // the daemon's possible deadline.
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_secs(5),
            },
            t0,
        );
        a.set_quorum(true, t0);
        a.set_want(
            "g",
            Some(Want {
                eligible: false,
                ..W
            }),
        );
        a.assume_handed("g", 1, t0 + Duration::from_millis(200));
        let releases = |out: &AgentOutput| {
            out.proposals
                .iter()
                .any(|p| matches!(p.op, Op::Release { .. }))
        };
        assert!(!releases(&a.tick(&t, t0 + Duration::from_millis(100))));
        // Not even at the deadline: the daemon gets the guard time to act.
        assert!(!releases(&a.tick(&t, t0 + Duration::from_millis(200))));
        assert!(releases(&a.tick(&t, t0 + Duration::from_millis(250))));
    }

    #[test]
    fn an_owner_that_stepped_down_never_acts_on_that_epoch_again() {
        let t0 = Instant::now();
        let mut t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_secs(5),
            },
            t0,
        );
        a.set_quorum(true, t0);
        a.set_want("g", Some(W));
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
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
        let out = a.tick(&t, t0);
        commit(&mut t, &mut a, &out, t0);
        assert!(matches!(a.tick(&t, t0).roles["g"], Role::Owner { .. }));
        // The link flaps: down (stand by, release in flight), up again
        // while the lease would still be valid.
        a.set_want(
            "g",
            Some(Want {
                eligible: false,
                ..W
            }),
        );
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(a.tick(&t, t1).roles["g"], Role::Standby);
        a.stopped("g", 1);
        a.set_want("g", Some(W));
        let out = a.tick(&t, t1 + Duration::from_millis(5));
        assert_eq!(
            out.roles["g"],
            Role::Standby,
            "no comeback on a given-up epoch"
        );
        assert!(
            !out.proposals
                .iter()
                .any(|p| matches!(p.op, Op::Renew { .. }))
        );
    }

    #[test]
    fn with_a_witness_a_node_without_quorum_never_falls_back() {
        let t0 = Instant::now();
        let t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_millis(500),
            },
            t0,
        );
        a.set_fallback_allowed(false);
        a.set_want("g", Some(W));
        assert_eq!(
            a.tick(&t, t0 + Duration::from_secs(10)).roles["g"],
            Role::Standby
        );
    }

    #[test]
    fn without_quorum_the_vrrp_policy_falls_back_after_the_delay() {
        let t0 = Instant::now();
        let t = Table::default();
        let mut a = Agent::new(
            1,
            Policy::Vrrp {
                after: Duration::from_millis(500),
            },
            t0,
        );
        a.set_want("g", Some(W));
        assert_eq!(a.tick(&t, t0).roles["g"], Role::Standby);
        assert_eq!(
            a.tick(&t, t0 + Duration::from_millis(500)).roles["g"],
            Role::VrrpOnly
        );
        // Quorum back while not master in fallback: standby at once.
        a.set_quorum(true, t0 + Duration::from_secs(1));
        assert_eq!(
            a.tick(&t, t0 + Duration::from_secs(1)).roles["g"],
            Role::Standby
        );
    }
}
