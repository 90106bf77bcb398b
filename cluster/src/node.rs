//! [`ClusterNode`]: a running Raft member: storage, network service, status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, RaftMetrics};
use routerd_proto::v1::cluster_server::ClusterServer;
use routerd_proto::v1::{ForwardRequest, forward_response};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::config::{ClusterConfig, Member};
use crate::error::ClusterError;
use crate::network::traced;
use crate::network::{Network, Peers, server};
use crate::state::AppState;
use crate::status::{ClusterStatus, MemberStatus, Role};
use crate::store::{self, Applied, LogStore, StateMachine};
use crate::tls;
use crate::types::{Node, NodeId, Raft, Request, Response};

/// How long a write may wait for a leader, a forward and its local apply.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Applied-entry events buffered per subscriber before it is told it lagged.
const APPLIED_BUFFER: usize = 4096;
/// The largest gRPC message accepted (a batch of log entries or a snapshot chunk).
const MAX_MESSAGE: usize = 64 << 20;

/// A running cluster member. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    shared: Arc<Shared>,
}

/// What the node, its gRPC service and its background tasks share.
pub(crate) struct Shared {
    pub(crate) id: NodeId,
    pub(crate) cfg: ClusterConfig,
    pub(crate) raft: Raft,
    state: Arc<RwLock<AppState>>,
    applied: broadcast::Sender<Applied>,
    pub(crate) peers: Arc<Peers>,
    /// A second handle on the log, to read its last id for pre-votes (openraft
    /// does not expose it).
    pub(crate) log: LogStore,
    /// When an AppendEntries from a leader was last accepted here.
    leader_heard: Mutex<Option<Instant>>,
    /// Leader only: when a majority last acknowledged (from openraft's metrics).
    quorum_acked: Mutex<Option<Instant>>,
    committed: Mutex<Option<u64>>,
    /// Set while handing leadership over: new writes wait instead of refreshing the
    /// followers' leases.
    transferring: AtomicBool,
    campaign_delay_ms: AtomicU64,
    status: watch::Sender<ClusterStatus>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.shared.id)
            .field("name", &self.shared.cfg.name)
            .finish()
    }
}

impl ClusterNode {
    /// Opens the store in `cfg.data_dir`, starts Raft and the mTLS gRPC service.
    /// A node restarted from its data dir resumes where it was.
    pub async fn start(cfg: ClusterConfig) -> Result<ClusterNode, ClusterError> {
        let raft_config = Arc::new(cfg.raft_config()?);
        let tls = tls::load(&cfg.tls)?;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| ClusterError::Store {
            path: cfg.data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let db = store::open(&cfg.data_dir).map_err(|e| ClusterError::Store {
            path: cfg.data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        // Bind before anything runs, so a taken port fails start() itself.
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ClusterError::Listen {
                addr: cfg.listen,
                source,
            })?;

        let state = Arc::new(RwLock::new(AppState::default()));
        let (applied, _) = broadcast::channel(APPLIED_BUFFER);
        let sm = StateMachine::open(db.clone(), state.clone(), applied.clone())
            .await
            .map_err(|e| ClusterError::Store {
                path: cfg.data_dir.display().to_string(),
                reason: e.to_string(),
            })?;
        let peers = Arc::new(Peers::new(tls.client));
        let network = Network {
            peers: peers.clone(),
        };
        let log = LogStore::new(db);
        let raft = Raft::new(cfg.node_id, raft_config, network, log.clone(), sm)
            .await
            .map_err(|e| ClusterError::Stopped(e.to_string()))?;

        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shared = Arc::new(Shared {
            id: cfg.node_id,
            raft,
            state,
            applied,
            peers,
            log,
            leader_heard: Mutex::new(None),
            quorum_acked: Mutex::new(None),
            committed: Mutex::new(None),
            transferring: AtomicBool::new(false),
            campaign_delay_ms: AtomicU64::new(0),
            status: watch::channel(ClusterStatus::initial(cfg.node_id, &cfg.name)).0,
            stop: Mutex::new(Some(stop_tx)),
            tasks: Mutex::new(Vec::new()),
            cfg,
        });

        let service = ClusterServer::new(server::Service::new(shared.clone()))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let router = tonic::transport::Server::builder()
            .tls_config(tls.server)
            .map_err(|e| ClusterError::Tls(e.to_string()))?
            .tcp_nodelay(true)
            .add_service(service);
        let serve = tokio::spawn(async move {
            let incoming = TcpListenerStream::new(listener);
            let stopped = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, stopped).await {
                tracing::error!("cluster gRPC service stopped: {e}");
            }
        });
        let status = tokio::spawn(status_loop(Arc::downgrade(&shared)));
        let prompt = tokio::spawn(crate::election::election_loop(
            Arc::downgrade(&shared),
            Instant::now(),
        ));
        shared.lock_tasks().extend([serve, status, prompt]);
        Ok(ClusterNode { shared })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// First start of a fresh cluster: the member with the lowest id initializes the
    /// membership with every configured member as a voter. Does nothing on other
    /// members or when the cluster is already initialized.
    pub async fn bootstrap(&self) -> Result<(), ClusterError> {
        let cfg = &self.shared.cfg;
        let lowest = cfg.members.iter().map(|m| m.id).min();
        if lowest != Some(cfg.node_id) {
            return Ok(());
        }
        let members: BTreeMap<NodeId, Node> =
            cfg.members.iter().map(|m| (m.id, m.node())).collect();
        match self.shared.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(ClusterError::Config(e.to_string())),
        }
    }

    /// A replicated write, applied through the leader (forwarded over gRPC when this
    /// node follows). Returns once the entry is committed and applied on this node,
    /// so the caller can read its own write with [`ClusterNode::with_state`].
    ///
    /// Retried only while the write certainly was not appended (no leader yet, or the
    /// receiver was not the leader); if the leader fails mid-call the outcome is
    /// unknown and reported as [`ClusterError::Unavailable`].
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn propose(&self, req: Request) -> Result<Response, ClusterError> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let hint = match self.shared.write_local(req.clone(), deadline).await? {
                Ok((_, response)) => return Ok(response),
                Err(hint) => hint,
            };
            match hint {
                Some((leader, node)) if leader != self.shared.id => {
                    if let Some(response) = self.forward(&req, leader, &node, deadline).await? {
                        return Ok(response);
                    }
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader);
            }
            // No leader yet, or the leader moved: give the election a moment.
            tokio::time::sleep(self.shared.cfg.heartbeat / 2).await;
        }
    }

    /// Forwards a write to `leader`; `Ok(None)` when it turned out not to lead.
    async fn forward(
        &self,
        req: &Request,
        leader: NodeId,
        node: &Node,
        deadline: Instant,
    ) -> Result<Option<Response>, ClusterError> {
        let mut client = self.shared.peers.client(leader, node)?;
        let request = serde_json::to_vec(req).map_err(|e| ClusterError::Internal(e.to_string()))?;
        let mut call = traced(ForwardRequest { request });
        call.set_timeout(deadline.saturating_duration_since(Instant::now()));
        let reply = client
            .forward(call)
            .await
            .map_err(|s| ClusterError::Unavailable(format!("forward to {}: {s}", node.name)))?
            .into_inner();
        match reply.outcome {
            Some(forward_response::Outcome::Applied(a)) => {
                let response: Response = serde_json::from_slice(&a.response)
                    .map_err(|e| ClusterError::Internal(format!("leader's response: {e}")))?;
                self.wait_applied(a.log_index, deadline).await?;
                Ok(Some(response))
            }
            Some(forward_response::Outcome::NotLeader(_)) => Ok(None),
            Some(forward_response::Outcome::Error(e)) => Err(ClusterError::Unavailable(e)),
            None => Err(ClusterError::Internal("empty forward response".into())),
        }
    }

    /// Waits until this node has applied `index`.
    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ClusterError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.shared
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "forwarded write applied locally")
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Timeout(e.to_string()))
    }

    /// Entries as this node applies them, with the local instant of apply. A
    /// subscriber that falls more than a few thousand events behind gets
    /// `RecvError::Lagged` and should re-read the state; it never slows apply.
    pub fn subscribe(&self) -> broadcast::Receiver<Applied> {
        self.shared.applied.subscribe()
    }

    /// Reads the current state machine (configuration, ownership, membership).
    pub fn with_state<R>(&self, f: impl FnOnce(&AppState) -> R) -> R {
        f(&self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// This node's view of the cluster, computed now.
    pub fn status(&self) -> ClusterStatus {
        let metrics = self.shared.raft.metrics().borrow().clone();
        self.shared.compute_status(&metrics)
    }

    /// The status, refreshed on every Raft change and every heartbeat interval;
    /// watchers wake only when something other than an age changed.
    pub fn watch_status(&self) -> watch::Receiver<ClusterStatus> {
        self.shared.status.subscribe()
    }

    /// Adds a member: first as a learner that catches up, then (if `voter`) promotes
    /// it. Must be called on the leader.
    pub async fn add_member(&self, m: Member, voter: bool) -> Result<(), ClusterError> {
        self.shared.require_leader()?;
        let raft = &self.shared.raft;
        raft.add_learner(m.id, m.node(), true)
            .await
            .map_err(membership_err)?;
        if voter {
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([m.id])), false)
                .await
                .map_err(membership_err)?;
        }
        Ok(())
    }

    /// Removes a member (voter or learner). Must be called on the leader.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), ClusterError> {
        self.shared.require_leader()?;
        let membership = self
            .shared
            .raft
            .metrics()
            .borrow()
            .membership_config
            .clone();
        let config = membership.membership();
        let change = if config.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if config.get_node(&id).is_some() {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(ClusterError::UnknownMember(id));
        };
        self.shared
            .raft
            .change_membership(change, false)
            .await
            .map_err(membership_err)?;
        Ok(())
    }

    /// Hands leadership to voter `to`. openraft 0.9 has no transfer API, so this
    /// does what Raft's thesis (§3.10) describes: wait until `to` holds the whole
    /// log, stop heartbeats and hold new writes, then tell `to` to campaign at once
    /// (TimeoutNow). Its vote requests win as soon as the other voters' leader lease
    /// has run out (at most one election-timeout maximum, since heartbeats stopped).
    /// Heartbeats resume whatever the outcome.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), ClusterError> {
        crate::transfer::transfer_leader(&self.shared, to).await
    }

    /// The longest a [`ClusterNode::transfer_leader`] stops all commits (once
    /// the target has caught up): leases that must outlive a transfer need
    /// at least this much in hand.
    pub fn transfer_pause_limit(&self) -> Duration {
        crate::transfer::pause_limit(&self.shared)
    }

    /// Makes this node campaign `delay` later than its rank alone would when
    /// the leader goes silent, so other voters get the leadership first (an
    /// owner of VRRP groups should not lead: its own death would then need an
    /// election before its groups can move). It still campaigns when nobody
    /// else does.
    pub fn set_campaign_delay(&self, delay: Duration) {
        self.shared.campaign_delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Stops the gRPC service and Raft. The data dir stays for a later start.
    pub async fn shutdown(&self) {
        let stop = self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Err(e) = self.shared.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        for t in self.shared.lock_tasks().drain(..) {
            t.abort();
        }
    }
}

fn membership_err<E: std::fmt::Display>(e: RaftError<NodeId, E>) -> ClusterError {
    ClusterError::Membership(e.to_string())
}

/// Who leads, as a not-leader answer names it.
pub(crate) type LeaderHint = Option<(NodeId, Node)>;

impl Shared {
    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_transferring(&self) -> bool {
        self.transferring.load(Ordering::Acquire)
    }

    pub(crate) fn set_transferring(&self, on: bool) {
        self.transferring.store(on, Ordering::Release);
    }

    pub(crate) fn require_leader(&self) -> Result<(), ClusterError> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader == Some(self.id) {
            Ok(())
        } else {
            Err(ClusterError::NotLeader { leader })
        }
    }

    /// Writes through this node's Raft: `Ok(Ok(..))` when this node led and applied
    /// it; `Ok(Err(hint))` when it does not lead (nothing was appended).
    pub(crate) async fn write_local(
        &self,
        req: Request,
        deadline: Instant,
    ) -> Result<Result<(u64, Response), LeaderHint>, ClusterError> {
        while self.is_transferring() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match self.raft.client_write(req).await {
            Ok(r) => Ok(Ok((r.log_id.index, r.data))),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Ok(Err(f.leader_id.zip(f.leader_node)))
            }
            Err(RaftError::APIError(e)) => Err(ClusterError::Internal(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(ClusterError::Stopped(e.to_string())),
        }
    }

    /// When an AppendEntries from a leader was last accepted here.
    pub(crate) fn leader_heard(&self) -> Option<Instant> {
        *self
            .leader_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Extra wait before this node campaigns (see [`ClusterNode::set_campaign_delay`]).
    pub(crate) fn campaign_delay(&self) -> Duration {
        Duration::from_millis(self.campaign_delay_ms.load(Ordering::Relaxed))
    }

    /// Notes that a leader's AppendEntries was accepted.
    pub(crate) fn heard_leader(&self) {
        *self
            .leader_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    pub(crate) fn lease(&self) -> Duration {
        self.cfg.election_timeout.1
    }

    pub(crate) fn compute_status(&self, m: &RaftMetrics<NodeId, Node>) -> ClusterStatus {
        let now = Instant::now();
        let age = |t: Option<Instant>| {
            t.map(|t| {
                u64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u64::MAX)
            })
        };
        let role = Role::from(m.state);
        let lease_ms = u64::try_from(self.lease().as_millis()).unwrap_or(u64::MAX);
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let is_leader = role == Role::Leader;
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let last_ok = if *id == self.id {
                    Some(now)
                } else {
                    self.peers.last_ok(*id)
                };
                let millis_since_ack = if is_leader { age(last_ok) } else { None };
                MemberStatus {
                    id: *id,
                    name: node.name.clone(),
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    witness: node.witness,
                    matched_index: m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(id).cloned().flatten())
                        .map(|l| l.index),
                    reachable: millis_since_ack.map(|ms| ms <= lease_ms),
                    millis_since_ack,
                }
            })
            .collect();
        let quorum_acked = *self
            .quorum_acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let heard = *self
            .leader_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (millis_since_quorum_ack, millis_since_leader_heard) = if is_leader {
            (age(quorum_acked), None)
        } else {
            (None, m.current_leader.and(age(heard)))
        };
        let quorum = match role {
            Role::Leader => millis_since_quorum_ack.is_some_and(|ms| ms <= lease_ms),
            Role::Follower | Role::Learner => {
                millis_since_leader_heard.is_some_and(|ms| ms <= lease_ms)
            }
            Role::Candidate | Role::Shutdown => false,
        };
        ClusterStatus {
            id: self.id,
            name: self.cfg.name.clone(),
            role,
            term: m.current_term,
            leader: m.current_leader,
            leader_name: m
                .current_leader
                .and_then(|l| membership.get_node(&l))
                .map(|n| n.name.clone()),
            last_log_index: m.last_log_index,
            committed_index: *self
                .committed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            members,
            quorum,
            millis_since_quorum_ack,
            millis_since_leader_heard,
        }
    }
}

/// Keeps the watched status current: on every openraft metrics change and at least
/// every heartbeat interval (ages and quorum move with time alone).
async fn status_loop(shared: Weak<Shared>) {
    let Some(s) = shared.upgrade() else { return };
    let mut metrics = s.raft.metrics();
    let tick = s.cfg.heartbeat;
    drop(s);
    let mut committed_read = Instant::now() - tick;
    loop {
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(tick) => {}
        }
        let Some(s) = shared.upgrade() else { return };
        let m = metrics.borrow_and_update().clone();
        let now = Instant::now();
        *s.quorum_acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = m
            .millis_since_quorum_ack
            .map(|ms| now - Duration::from_millis(ms));
        // Asking the core costs a round trip: at most twice per heartbeat.
        if now.duration_since(committed_read) >= tick / 2 {
            committed_read = now;
            if let Ok(c) = s
                .raft
                .with_raft_state(|st| st.committed.map(|l| l.index))
                .await
            {
                *s.committed.lock().unwrap_or_else(PoisonError::into_inner) = c;
            }
        }
        let fresh = s.compute_status(&m);
        s.status.send_if_modified(|cur| {
            let changed = !cur.same_state(&fresh);
            *cur = fresh;
            changed
        });
    }
}
