//! The ownership actor: turns this node's VRRP groups into Raft candidacies,
//! renews the leases this node holds, runs the arbiter while this node leads,
//! and hands each group's routerd-vrrp the grant it may act on.
//!
//! The rules are in `routerd_ownership` (pure, tested in virtual time); this
//! actor feeds it time, the committed table, link state and daemon answers,
//! and carries its proposals to Raft and its roles to the daemons.
//!
//! Grants go to the daemon's socket directly rather than through its
//! DaemonSupervisor: renewals arrive every third of a lease (tens of
//! milliseconds) and a takeover must reach the daemon within a millisecond;
//! the supervisor still owns the process, and a grant to a daemon that is not
//! running simply fails and is sent again once it answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_cluster::{ClusterNode, Request, Response};
use routerd_contract::{Client, NewEvent, TopicGlob};
use routerd_ownership::{Agent, Arbiter, Op, Policy, Role, Table, Want};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::controllers::vrrp::{VrrpGroup, groups};
use crate::runtime::Runtime;
use crate::task::Task;
use crate::trace::{Traced, message_span, start_span};

/// Re-evaluate at least this often (quorum changes have no event).
const PERIOD: Duration = Duration::from_millis(50);
/// A grant call that takes longer has failed.
const GRANT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a missing daemon still counts as able to serve: the supervisor
/// restarts a crashed one well within this, and the VIP stays in the kernel
/// meanwhile.
const DAEMON_GRACE: Duration = Duration::from_secs(2);
/// An unchanged grant is sent again this often.
const RESEND: Duration = Duration::from_millis(500);
/// Between attempts to move the Raft leadership off a node that owns groups.
const TRANSFER_EVERY: Duration = Duration::from_secs(5);
/// What a lease must hold beyond a transfer's longest pause.
const TRANSFER_MARGIN: Duration = Duration::from_millis(300);
/// How long extended renewals may take to commit and reach the daemons
/// before the transfer is given up.
const EXTEND_TIMEOUT: Duration = Duration::from_secs(1);
/// An owner campaigns this much later than other voters, so a non-owner
/// leads whenever one can.
const OWNER_CAMPAIGN_DELAY: Duration = Duration::from_millis(200);
/// Without quorum, a restarted routerd starts handing out roles after this
/// (it cannot catch up with a cluster it cannot reach).
const STARTUP_GRACE: Duration = Duration::from_secs(1);

/// Messages of the ownership actor.
pub enum OwnershipMsg {
    /// Re-evaluate now (timer, applied entries, config, links).
    Tick,
    /// Link states re-read from the kernel.
    Links(HashMap<String, bool>),
    /// A renewal (or extension) proposed at `at` committed (or was refused).
    Renewed { op: Op, at: Instant, accepted: bool },
    /// A leadership transfer this node started has ended.
    TransferDone { to: u64, ok: bool },
    /// A daemon answered a grant.
    Granted {
        group: String,
        epoch: u64,
        standby: bool,
        ok: bool,
        /// For a VRRP-only role: the daemon reports being master.
        fallback_master: Option<bool>,
    },
    /// Report for the API.
    Status(RpcReplyPort<Value>),
}

impl Traced for OwnershipMsg {
    fn name(&self) -> &'static str {
        match self {
            OwnershipMsg::Tick => "Tick",
            OwnershipMsg::Links(_) => "Links",
            OwnershipMsg::Renewed { .. } => "Renewed",
            OwnershipMsg::TransferDone { .. } => "TransferDone",
            OwnershipMsg::Granted { .. } => "Granted",
            OwnershipMsg::Status(_) => "Status",
        }
    }
}

/// A leadership transfer off this node.
#[derive(Debug, Clone, Copy)]
enum Transfer {
    /// Extended renewals asked for; the transfer starts once they hold.
    Extending {
        to: u64,
        since: Instant,
    },
    Running,
}

/// What was last handed to a group's daemon.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    role: Role,
    at: Instant,
    ok: Option<bool>,
}

/// State of the actor.
pub struct OwnershipState {
    rt: Arc<Runtime>,
    cluster: ClusterNode,
    agent: Agent,
    arbiter: Option<Arbiter>,
    links: HashMap<String, bool>,
    groups: Vec<VrrpGroup>,
    daemon_missing_since: HashMap<String, Instant>,
    sent: BTreeMap<String, Sent>,
    roles: BTreeMap<String, Role>,
    quorum: Option<bool>,
    last_transfer: Option<Instant>,
    transfer: Option<Transfer>,
    /// The applied table has caught up with the cluster since this
    /// incarnation started; until then nothing is sent to the daemons.
    caught_up: bool,
    started: Instant,
    next_wake: Option<Instant>,
    timer: Option<Task>,
    _feeds: Vec<Task>,
    subscriptions: Vec<u64>,
}

/// The ownership actor.
pub struct OwnershipActor;

/// Start-up arguments.
pub struct OwnershipArgs {
    pub runtime: Arc<Runtime>,
    pub cluster: ClusterNode,
    pub node_id: u64,
    pub policy: Policy,
}

impl Actor for OwnershipActor {
    type Msg = OwnershipMsg;
    type State = OwnershipState;
    type Arguments = OwnershipArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<OwnershipMsg>,
        args: OwnershipArgs,
    ) -> Result<OwnershipState, ActorProcessingErr> {
        let _span = start_span("Ownership").entered();
        let rt = args.runtime;
        let mut feeds = Vec::new();
        // Every applied entry may change the table.
        let mut applied = args.cluster.subscribe();
        let me = myself.clone();
        feeds.push(Task::spawn(async move {
            // Lagged is fine: any wake-up re-reads the whole state.
            while !matches!(
                applied.recv().await,
                Err(tokio::sync::broadcast::error::RecvError::Closed)
            ) {
                let _ = me.cast(OwnershipMsg::Tick);
            }
        }));
        let mut subscriptions = Vec::new();
        for topic in [
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.daemon.vrrp-*",
        ] {
            let me = myself.clone();
            if let Ok(glob) = TopicGlob::parse(topic) {
                subscriptions.push(
                    rt.bus
                        .subscribe(glob, Box::new(move |_| me.cast(OwnershipMsg::Tick).is_ok())),
                );
            }
        }
        for topic in ["routerd.kernel.link.changed", "routerd.kernel.resync"] {
            let me = myself.clone();
            let kernel_rt = rt.clone();
            if let Ok(glob) = TopicGlob::parse(topic) {
                subscriptions.push(rt.bus.subscribe(
                    glob,
                    Box::new(move |_| {
                        read_links(kernel_rt.clone(), me.clone());
                        true
                    }),
                ));
            }
        }
        read_links(rt.clone(), myself.clone());
        let _ = myself.cast(OwnershipMsg::Tick);
        Ok(OwnershipState {
            agent: Agent::new(args.node_id, args.policy, Instant::now()),
            rt,
            cluster: args.cluster,
            arbiter: None,
            links: HashMap::new(),
            groups: Vec::new(),
            daemon_missing_since: HashMap::new(),
            sent: BTreeMap::new(),
            roles: BTreeMap::new(),
            quorum: None,
            last_transfer: None,
            transfer: None,
            caught_up: false,
            started: Instant::now(),
            next_wake: None,
            timer: None,
            _feeds: feeds,
            subscriptions,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<OwnershipMsg>,
        state: &mut OwnershipState,
    ) -> Result<(), ActorProcessingErr> {
        for id in state.subscriptions.drain(..) {
            state.rt.bus.unsubscribe(id);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<OwnershipMsg>,
        msg: OwnershipMsg,
        state: &mut OwnershipState,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span("Ownership", &msg);
        async {
            match msg {
                OwnershipMsg::Tick => {}
                OwnershipMsg::Links(links) => state.links = links,
                OwnershipMsg::Renewed { op, at, accepted } => {
                    let table = table(&state.cluster);
                    state.agent.committed(&op, at, accepted, &table);
                }
                OwnershipMsg::TransferDone { to, ok } => {
                    state.agent.set_extension(Duration::ZERO);
                    state.transfer = None;
                    if ok {
                        state.rt.bus.publish(
                            NewEvent::new("routerd.cluster.leader", "LeadershipMoved")
                                .message(format!(
                                    "leadership handed to node {to}: this node owns groups"
                                ))
                                .attr("to", to),
                        );
                    }
                }
                OwnershipMsg::Granted {
                    group,
                    epoch,
                    standby,
                    ok,
                    fallback_master,
                } => {
                    if let Some(master) = fallback_master {
                        state.agent.set_fallback_master(&group, master);
                    }
                    if let Some(s) = state.sent.get_mut(&group) {
                        s.ok = Some(ok);
                    }
                    if ok && standby {
                        state.agent.stopped(&group, epoch);
                    }
                }
                OwnershipMsg::Status(reply) => {
                    let _ = reply.send(status(state));
                    return;
                }
            }
            step(&myself, state);
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

fn table(cluster: &ClusterNode) -> Table {
    cluster.with_state(|s| s.ownership.clone())
}

fn read_links(rt: Arc<Runtime>, me: ActorRef<OwnershipMsg>) {
    tokio::spawn(async move {
        if let Ok(links) = rt.kernel.links().await {
            let map = links
                .into_iter()
                .map(|l| (l.name.clone(), l.admin_up && l.oper_up))
                .collect();
            let _ = me.cast(OwnershipMsg::Links(map));
        }
    });
}

/// One evaluation: wants from config and health, the agent, the arbiter, and
/// the grants.
fn step(myself: &ActorRef<OwnershipMsg>, state: &mut OwnershipState) {
    let now = Instant::now();
    let rt = state.rt.clone();
    let generation = rt.generation();
    let lease = lease_ms(&generation.config);

    // Wants: this node's groups, eligible while their link is up and their
    // daemon runs (or is being restarted, briefly).
    let current = if rt.options.witness {
        Vec::new()
    } else {
        groups(&generation.config, &rt.statuses, true)
    };
    let mut seen = Vec::new();
    for g in &current {
        let link_up = state.links.get(&g.ifname).copied().unwrap_or(false);
        let daemon_up = rt.daemon_slot(&g.daemon).is_some_and(|s| s.get().is_some());
        if daemon_up {
            state.daemon_missing_since.remove(&g.daemon);
        }
        let since = *state
            .daemon_missing_since
            .entry(g.daemon.clone())
            .or_insert(now);
        let daemon_ok = daemon_up || now.duration_since(since) < DAEMON_GRACE;
        state.agent.set_want(
            &g.group,
            Some(Want {
                priority: g.effective_priority,
                eligible: link_up && daemon_ok,
                preempt: g.preempt,
                preempt_delay_ms: u64::try_from(g.preempt_delay.as_millis()).unwrap_or(u64::MAX),
                lease_ms: lease,
            }),
        );
        seen.push(g.group.clone());
    }
    let gone: Vec<String> = state
        .agent
        .groups()
        .filter(|g| !seen.contains(&g.to_string()))
        .map(str::to_string)
        .collect();
    for g in gone {
        state.agent.set_want(&g, None);
    }
    state.groups = current;

    // Quorum, as this node sees it.
    let status = state.cluster.status();
    let quorum = status.quorum;
    if state.quorum != Some(quorum) {
        if state.quorum.is_some() {
            let (reason, message) = if quorum {
                (
                    "QuorumRegained",
                    "the cluster can commit again; grants decide".to_string(),
                )
            } else {
                (
                    "QuorumLost",
                    "quorum lost: leases lapse, then VRRP-only (no preemption) until it returns"
                        .to_string(),
                )
            };
            rt.bus.publish(
                NewEvent::new("routerd.cluster.quorum", reason)
                    .message(message)
                    .attr("quorum", quorum),
            );
        }
        state.quorum = Some(quorum);
    }
    state.agent.set_quorum(quorum, now);
    // VRRP-only is safe only where no majority can exist without this node.
    let voters = status.members.iter().filter(|m| m.voter).count();
    state.agent.set_fallback_allowed(voters <= 2);

    let table = table(&state.cluster);
    // Groups this node owned before this incarnation started: its daemon may
    // still act until one lease from now, whatever the new agent decides.
    for g in &state.groups {
        if !state.sent.contains_key(&g.group)
            && let Some(rec) = table.group(&g.group)
            && rec.owner == Some(status.id)
        {
            state
                .agent
                .assume_handed(&g.group, rec.epoch, now + rec.lease());
        }
    }
    let out = state.agent.tick(&table, now);
    for p in out.proposals {
        propose(myself, &state.cluster, p.op, p.at);
    }

    // The arbiter runs on the leader only, from when it became leader.
    let leader = status.leader == Some(status.id);
    let mut next = out.next_tick;
    if leader {
        let arbiter = state.arbiter.get_or_insert_with(|| Arbiter::new(now));
        arbiter.set_reachable(
            status
                .members
                .iter()
                .filter(|m| m.reachable == Some(true))
                .map(|m| m.id),
        );
        let decision = arbiter.decide(&table, now);
        for op in decision.ops {
            propose(myself, &state.cluster, op, now);
        }
        next = earliest(next, decision.next_check);
        move_leadership_off_owners(myself, state, &table, &status, now);
    } else {
        state.arbiter = None;
        if matches!(state.transfer, Some(Transfer::Extending { .. })) {
            state.transfer = None;
            state.agent.set_extension(Duration::ZERO);
        }
    }
    let owns = table.groups().any(|(_, g)| g.owner == Some(status.id));
    state.cluster.set_campaign_delay(if owns {
        OWNER_CAMPAIGN_DELAY
    } else {
        Duration::ZERO
    });

    // A restarted routerd reads the table from its own log and snapshot,
    // which may be behind the cluster: nothing goes to the daemons (they act
    // on their own deadlines meanwhile) until it caught up with the commit
    // index, or, without quorum, after a grace period.
    if !state.caught_up {
        let applied_all = status
            .committed_index
            .is_some_and(|c| status.applied_index >= Some(c));
        state.caught_up = (quorum && applied_all)
            || (!quorum && now.duration_since(state.started) >= STARTUP_GRACE);
        if !state.caught_up {
            schedule(myself, state, now, next);
            return;
        }
    }

    // Roles to the daemons.
    for g in &state.groups {
        let mut role = out.roles.get(&g.group).copied().unwrap_or(Role::Standby);
        // VRRP-only on a link that is down would make the daemon master of
        // nothing (its master-down timer fires with no adverts heard) and
        // announce that when the link returns: stand by instead, as
        // keepalived's FAULT state does.
        if role == Role::VrrpOnly && !state.links.get(&g.ifname).copied().unwrap_or(false) {
            role = Role::Standby;
        }
        let previous = state.roles.insert(g.group.clone(), role);
        // A renewal moves the deadline only; that is not news.
        let kind = |r: Option<Role>| match r {
            Some(Role::Owner { epoch, .. }) => (1, epoch),
            Some(Role::VrrpOnly) => (2, 0),
            Some(Role::Standby) | None => (0, 0),
        };
        if kind(previous) != kind(Some(role)) {
            publish_role(&rt, g, previous, role, &table);
        }
        // A restarted routerd that still owns the group does not tell its
        // running daemon to stand by while its first renewal is in flight:
        // the daemon's own deadline fences it, and a standby would drop the
        // VIP for nothing.
        let owned_here = table
            .group(&g.group)
            .is_some_and(|r| r.owner == Some(status.id) && !r.revoked);
        if !state.sent.contains_key(&g.group) && role == Role::Standby && owned_here {
            continue;
        }
        // Resent when it changed, when it failed, and every RESEND anyway: a
        // restarted daemon (its supervisor restarts it at once) must hear the
        // current role without waiting for it to change.
        let resend = match state.sent.get(&g.group) {
            None => true,
            Some(s) => {
                s.role != role
                    || (s.ok == Some(false) && now >= s.at + PERIOD * 2)
                    || now >= s.at + RESEND
            }
        };
        if resend {
            state.sent.insert(
                g.group.clone(),
                Sent {
                    role,
                    at: now,
                    ok: None,
                },
            );
            send_grant(myself, &rt, g, role, &table);
        }
    }

    schedule(myself, state, now, next);
}

/// Wakes for the next deadline, or the period.
fn schedule(
    myself: &ActorRef<OwnershipMsg>,
    state: &mut OwnershipState,
    now: Instant,
    next: Option<Instant>,
) {
    let wake = earliest(next, Some(now + PERIOD)).unwrap_or(now + PERIOD);
    if state.next_wake.is_none_or(|w| wake < w || w <= now) {
        state.next_wake = Some(wake);
        let me = myself.clone();
        state.timer = Some(Task::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
            let _ = me.cast(OwnershipMsg::Tick);
        }));
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn lease_ms(config: &routerd_config::Config) -> u64 {
    use routerd_config::kinds::RouterdCluster;
    config
        .of_kind::<RouterdCluster>()
        .next()
        .map_or(routerd_config::kinds::cluster::DEFAULT_LEASE, |(_, s)| {
            s.lease()
        })
        .as_millis()
        .try_into()
        .unwrap_or(200)
}

fn propose(myself: &ActorRef<OwnershipMsg>, cluster: &ClusterNode, op: Op, at: Instant) {
    let cluster = cluster.clone();
    let me = myself.clone();
    tokio::spawn(
        async move {
            let renew = matches!(op, Op::Renew { .. } | Op::Extend { .. }).then(|| op.clone());
            let result = cluster.propose(Request::Ownership(op)).await;
            if let Some(op) = renew {
                let accepted = matches!(
                    result,
                    Ok(Response::Ownership(ref o)) if o.is_accepted()
                );
                let _ = me.cast(OwnershipMsg::Renewed { op, at, accepted });
            } else if let Err(e) = result {
                tracing::debug!(error = %e, "ownership proposal not committed");
            }
        }
        .in_current_span(),
    );
}

/// Absolute CLOCK_MONOTONIC nanoseconds of `at` (std's Instant is
/// CLOCK_MONOTONIC on Linux, but does not expose its value).
fn mono_ns(at: Instant) -> Option<u64> {
    let now_ns = mono_ns_now()?;
    let ahead = at.saturating_duration_since(Instant::now());
    // A millisecond of margin: the daemon's view must end before ours.
    let ahead_ns = u64::try_from(ahead.as_nanos())
        .ok()?
        .saturating_sub(1_000_000);
    Some(now_ns + ahead_ns)
}

/// CLOCK_MONOTONIC now, in ns.
fn mono_ns_now() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(u64::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u64::try_from(ts.tv_nsec).ok()?)
}

fn send_grant(
    myself: &ActorRef<OwnershipMsg>,
    rt: &Arc<Runtime>,
    g: &VrrpGroup,
    role: Role,
    table: &Table,
) {
    let epoch_now = table.group(&g.group).map_or(0, |r| r.epoch);
    let (kind, epoch, deadline) = match role {
        Role::Owner { epoch, deadline } => ("owner", epoch, deadline.and_then(mono_ns)),
        Role::Standby => ("standby", epoch_now, None),
        Role::VrrpOnly => ("vrrp", epoch_now, None),
    };
    // Decision order: each grant travels on its own connection, and the
    // daemon drops one issued before the newest it applied.
    let issued = mono_ns_now();
    let body = json!({
        "grants": [{
            "group": g.group,
            "epoch": epoch,
            "role": kind,
            "deadlineMonoNs": deadline,
            "issuedMonoNs": issued,
        }]
    });
    // routerd-bgp daemons announcing prefixes owned through this group hear
    // the same grant; the VRRP daemon's answer alone confirms it, so a slow
    // BGP daemon never holds up a takeover.
    for follower in crate::controllers::bgp::grant_followers(&rt.generation().config, &g.group) {
        let socket = crate::daemon::daemon_socket(&rt.options.state_dir, &follower);
        let body = body.clone();
        tokio::spawn(
            async move {
                let client = Client::new(socket).with_timeout(GRANT_TIMEOUT);
                if let Ok(bytes) = serde_json::to_vec(&body) {
                    let _ = client
                        .request_raw(
                            http::Method::POST,
                            "/v1/grants",
                            Some(bytes),
                            Some("application/json"),
                        )
                        .await;
                }
            }
            .in_current_span(),
        );
    }
    let socket = crate::daemon::daemon_socket(&rt.options.state_dir, &g.daemon);
    let me = myself.clone();
    let group = g.group.clone();
    tokio::spawn(
        async move {
            let client = Client::new(socket).with_timeout(GRANT_TIMEOUT);
            // Taken into force, and for a standby: no longer master. An
            // ignored (older-epoch) grant is not a confirmation.
            let mut fallback_master = None;
            let ok = match serde_json::to_vec(&body) {
                Ok(bytes) => match client
                    .request_raw(
                        http::Method::POST,
                        "/v1/grants",
                        Some(bytes),
                        Some("application/json"),
                    )
                    .await
                {
                    Ok((code, answer)) if code.is_success() => {
                        let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
                        let r = &v["results"][0];
                        let accepted = r["result"] == "accepted";
                        if kind == "vrrp" && accepted {
                            fallback_master = Some(r["state"] == "Master");
                        }
                        accepted && (kind == "owner" || r["state"] != "Master")
                    }
                    _ => false,
                },
                Err(_) => false,
            };
            let _ = me.cast(OwnershipMsg::Granted {
                group,
                epoch,
                standby: kind != "owner",
                ok,
                fallback_master,
            });
        }
        .in_current_span(),
    );
}

fn publish_role(rt: &Runtime, g: &VrrpGroup, previous: Option<Role>, role: Role, table: &Table) {
    let name = |r: Option<Role>| match r {
        Some(Role::Owner { .. }) => "Owner",
        Some(Role::Standby) | None => "Standby",
        Some(Role::VrrpOnly) => "VrrpOnly",
    };
    let epoch = table.group(&g.group).map_or(0, |r| r.epoch);
    let message = match role {
        Role::Owner { .. } => format!("{}: this node owns the group (epoch {epoch})", g.group),
        Role::Standby => format!("{}: standby", g.group),
        Role::VrrpOnly => format!("{}: quorum lost, VRRP-only", g.group),
    };
    rt.bus.publish(
        NewEvent::new("routerd.ownership.changed", name(Some(role)))
            .resource(g.resource.clone())
            .message(message)
            .attr("group", g.group.clone())
            .attr("from", name(previous))
            .attr("to", name(Some(role)))
            .attr("epoch", epoch),
    );
    let mut fields = serde_json::Map::new();
    fields.insert(
        "ownership".into(),
        json!({
            "group": g.group,
            "role": name(Some(role)),
            "epoch": epoch,
            "owner": table.group(&g.group).and_then(|r| r.owner),
        }),
    );
    rt.statuses.set_fields(&g.resource, fields);
}

/// HA.md: an owner's death must not need an election before the grant, so
/// the leader hands leadership to a voter that owns nothing (the witness
/// first) when it owns groups itself.
///
/// A transfer stops all commits for up to the cluster's pause limit, longer
/// than a lease: first this node's leases are extended past it (committed
/// `Extend` renewals, handed to the daemons), then the transfer runs. Only
/// done when this node is the only owner, since the pause would lapse any
/// other node's leases.
fn move_leadership_off_owners(
    myself: &ActorRef<OwnershipMsg>,
    state: &mut OwnershipState,
    table: &Table,
    status: &routerd_cluster::ClusterStatus,
    now: Instant,
) {
    let me = state.agent.node();
    let needed = state.cluster.transfer_pause_limit() + TRANSFER_MARGIN;
    match state.transfer {
        Some(Transfer::Running) => return,
        Some(Transfer::Extending { to, since }) => {
            let until = now + needed;
            let daemons_hold =
                table
                    .groups()
                    .filter(|(_, g)| g.owner == Some(me))
                    .all(|(name, _)| {
                        state.sent.get(name).is_some_and(|s| {
                        s.ok == Some(true)
                            && matches!(s.role, Role::Owner { deadline: Some(d), .. } if d >= until)
                    })
                    });
            let caught_up = status
                .members
                .iter()
                .find(|m| m.id == to)
                .and_then(|m| m.matched_index)
                >= status.committed_index;
            if state.agent.holds_until(table, until) && daemons_hold && caught_up {
                state.transfer = Some(Transfer::Running);
                let cluster = state.cluster.clone();
                let me = myself.clone();
                tokio::spawn(async move {
                    let result = cluster.transfer_leader(to).await;
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "leadership transfer failed");
                    }
                    let _ = me.cast(OwnershipMsg::TransferDone {
                        to,
                        ok: result.is_ok(),
                    });
                });
            } else if now >= since + EXTEND_TIMEOUT {
                state.transfer = None;
                state.agent.set_extension(Duration::ZERO);
            }
            return;
        }
        None => {}
    }
    let owns = table.groups().any(|(_, g)| g.owner == Some(me));
    let others_own = table
        .groups()
        .any(|(_, g)| g.owner.is_some_and(|o| o != me));
    if !owns
        || others_own
        || state
            .last_transfer
            .is_some_and(|t| now < t + TRANSFER_EVERY)
    {
        return;
    }
    let target = status
        .members
        .iter()
        .filter(|m| m.id != me && m.voter && m.reachable.unwrap_or(false))
        .max_by_key(|m| (m.witness, std::cmp::Reverse(m.id)))
        .map(|m| m.id);
    let Some(to) = target else { return };
    state.last_transfer = Some(now);
    state.transfer = Some(Transfer::Extending { to, since: now });
    state.agent.set_extension(needed + TRANSFER_MARGIN);
}

fn status(state: &OwnershipState) -> Value {
    let table = table(&state.cluster);
    let groups: Vec<Value> = table
        .groups()
        .map(|(name, g)| {
            let role = state.roles.get(name).map(|r| match r {
                Role::Owner { epoch, .. } => json!({"role": "Owner", "epoch": epoch}),
                Role::Standby => json!({"role": "Standby"}),
                Role::VrrpOnly => json!({"role": "VrrpOnly"}),
            });
            json!({
                "group": name,
                "owner": g.owner,
                "epoch": g.epoch,
                "leaseMs": g.lease_ms,
                "revoked": g.revoked,
                "renewals": g.renewals,
                "candidates": g.candidates.iter().map(|(id, c)| json!({
                    "node": id, "priority": c.priority, "eligible": c.eligible,
                    "preempt": c.preempt, "holding": c.holding,
                })).collect::<Vec<_>>(),
                "local": role,
            })
        })
        .collect();
    json!({
        "quorum": state.quorum,
        "arbiter": state.arbiter.is_some(),
        "groups": groups,
    })
}
