//! The speaker: one task owns every peer, the Loc-RIB, the kernel batcher,
//! the announcements and their grants. Socket tasks ([`conn`]) and the
//! contract handlers talk to it by messages; it handles one at a time, so
//! no state is shared and nothing is locked.
//!
//! Files by concern: [`session`] drives each peer's FSM and reads its
//! messages, [`import`] turns UPDATEs into Loc-RIB paths, [`export`] turns
//! Loc-RIB changes into UPDATEs, [`announce`] originates prefixes under
//! grants, [`kernel`] batches FIB writes, [`reload`] applies a new config,
//! [`status`] answers the contract.

mod announce;
pub(crate) mod conn;
mod export;
mod import;
mod kernel;
pub(crate) mod peer;
mod reload;
mod session;
mod status;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnet::IpNet;
use routerd_bfd_core::{Bfd, SessionEvent, SessionId};
use routerd_bgp_core::rib::Rib;
use routerd_bgp_core::wire::{AttrInterner, HeaderError, PathAttributes};
use routerd_contract::Shutdown;
use routerd_contract::event::{EventLog, NewEvent};
use routerd_contract::server::{CommandOutcome, DaemonStatus};
use routerd_kernel::Kernel;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use announce::{GrantRequest, Role};
use conn::PeerId;
use kernel::FibState;
use peer::Peer;

use crate::spec::BgpSpec;

/// The Loc-RIB's peer id for routes we originate.
pub(crate) const LOCAL: PeerId = 0;
/// The speaker wakes at least this often (the heartbeat `/v1/healthz` reads).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Inputs handled before exports are flushed: a burst of reads coalesces
/// into few UPDATEs per peer.
const INPUT_BURST: usize = 64;
/// How long an outgoing connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a Loc-RIB path carries: the interned attribute set after import
/// policy, and when it was learned (seconds since the speaker started).
#[derive(Debug, Clone)]
pub(crate) struct Learned {
    pub attrs: Arc<PathAttributes>,
    pub since: u32,
}

/// What the socket tasks report.
pub(crate) enum Input {
    Connected {
        peer: PeerId,
        conn: u64,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: PeerId,
        conn: u64,
        error: String,
    },
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
    },
    /// Whole messages, back to back.
    Messages {
        peer: PeerId,
        conn: u64,
        batch: Vec<u8>,
    },
    HeaderError {
        peer: PeerId,
        conn: u64,
        error: HeaderError,
    },
    Closed {
        peer: PeerId,
        conn: u64,
        error: Option<String>,
    },
    Bfd(SessionEvent),
}

/// A route lookup from `/v1/bgp/routes`.
#[derive(Debug, Clone, Default)]
pub struct RouteQuery {
    /// One prefix (all its paths); `None`: every best route.
    pub prefix: Option<IpNet>,
    /// At most this many routes.
    pub limit: usize,
}

/// Requests from the contract handlers.
pub enum Request {
    /// `/v1/status`.
    Status(oneshot::Sender<DaemonStatus>),
    /// `/v1/bgp/summary`.
    Summary(oneshot::Sender<serde_json::Value>),
    /// `/v1/bgp/neighbors`.
    Neighbors(oneshot::Sender<serde_json::Value>),
    /// `/v1/bgp/routes`.
    Routes(RouteQuery, oneshot::Sender<serde_json::Value>),
    /// `/v1/grants`.
    Grants(Vec<GrantRequest>, oneshot::Sender<serde_json::Value>),
    /// `reload` with the new config.
    Reload(Box<BgpSpec>, oneshot::Sender<CommandOutcome>),
    /// `renew`: route refresh (and restart of halted sessions), for one
    /// peer by name or address, or all.
    Refresh(Option<String>, oneshot::Sender<CommandOutcome>),
}

/// Totals kept across peers that come and go.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub malformed: peer::Malformed,
    pub sessions_refused: u64,
}

/// The speaker task; run it with [`Speaker::run`].
pub struct Speaker {
    spec: BgpSpec,
    events: Arc<EventLog>,
    /// Events of the current turn of the loop, written after its kernel
    /// and peer writes are handed off.
    deferred_events: std::sync::Mutex<Vec<NewEvent>>,
    kernel: Kernel,
    started: Instant,
    peers: BTreeMap<PeerId, Peer>,
    next_peer: PeerId,
    next_conn: u64,
    rib: Rib<Learned>,
    interner: AttrInterner,
    fib: FibState,
    /// Loc-RIB changes not yet exported: the new best (its peer and
    /// attributes), or `None` when the prefix is gone. Latest wins.
    dirty: HashMap<IpNet, Option<(PeerId, Arc<PathAttributes>)>>,
    /// Link-local gateways and their links, for the kernel.
    gw_ifindex: HashMap<IpAddr, u32>,
    listener: Option<Arc<TcpListener>>,
    accept_task: Option<JoinHandle<()>>,
    inputs_tx: mpsc::UnboundedSender<Input>,
    inputs_rx: mpsc::UnboundedReceiver<Input>,
    requests: mpsc::Receiver<Request>,
    heartbeat: watch::Sender<tokio::time::Instant>,
    shutdown: Shutdown,
    bfd: Option<Bfd>,
    bfd_peers: HashMap<SessionId, PeerId>,
    grants: HashMap<String, announce::Grant>,
    /// Prefixes we originate now, with the extra prepends of a standby.
    announced: HashMap<IpNet, u8>,
    totals: Totals,
}

impl Speaker {
    /// Opens the kernel and the listener and starts every configured peer.
    pub(crate) async fn start(
        spec: BgpSpec,
        events: Arc<EventLog>,
        requests: mpsc::Receiver<Request>,
        heartbeat: watch::Sender<tokio::time::Instant>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Speaker> {
        let kernel = Kernel::connect().context("cannot open netlink")?;
        let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
        let fib = FibState::start(&kernel, &spec).await;
        let mut s = Speaker {
            rib: Rib::new(spec.multipath as usize),
            spec,
            events,
            kernel,
            started: Instant::now(),
            peers: BTreeMap::new(),
            next_peer: LOCAL + 1,
            next_conn: 0,
            interner: AttrInterner::new(),
            fib,
            dirty: HashMap::new(),
            gw_ifindex: HashMap::new(),
            listener: None,
            accept_task: None,
            inputs_tx,
            inputs_rx,
            requests,
            heartbeat,
            shutdown,
            bfd: None,
            bfd_peers: HashMap::new(),
            grants: HashMap::new(),
            announced: HashMap::new(),
            totals: Totals::default(),
            deferred_events: std::sync::Mutex::new(Vec::new()),
        };
        s.open_listener()?;
        for p in s.spec.peers.clone() {
            s.add_peer(p, None).await;
        }
        s.evaluate_announcements("start");
        let _ = s.events.append(
            NewEvent::new("bgp.started", "Started")
                .message(format!(
                    "AS {} router id {} with {} peers",
                    s.spec.asn,
                    s.spec.router_id,
                    s.peers.len()
                ))
                .attr("asn", s.spec.asn)
                .attr("routerId", s.spec.router_id.to_string()),
        );
        Ok(s)
    }

    fn open_listener(&mut self) -> anyhow::Result<()> {
        if let Some(task) = self.accept_task.take() {
            task.abort();
        }
        self.listener = None;
        let Some(l) = &self.spec.listen else {
            return Ok(());
        };
        let listener = crate::net::listen(l.socket_addr())
            .with_context(|| format!("cannot listen on {}", l.socket_addr()))?;
        let listener = Arc::new(listener);
        self.listener = Some(Arc::clone(&listener));
        self.set_listener_keys();
        self.accept_task = Some(conn::spawn_accept(listener, self.inputs_tx.clone()));
        Ok(())
    }

    /// MD5 keys on the listener: accepted connections inherit them.
    fn set_listener_keys(&self) {
        let Some(l) = &self.listener else {
            return;
        };
        let fd = l.as_raw_fd();
        let ranges = self
            .spec
            .peers
            .iter()
            .filter_map(|p| Some((IpNet::from(p.address), p.md5_key.as_deref()?)))
            .chain(self.spec.dynamic_peers.iter().flat_map(|d| {
                d.prefixes
                    .iter()
                    .filter_map(|n| Some((*n, d.md5_key.as_deref()?)))
            }));
        for (net, key) in ranges {
            if let Err(e) = crate::net::set_md5(fd, net, key.as_bytes()) {
                tracing::warn!(%net, error = %e, "cannot set the MD5 key on the listener");
            }
        }
    }

    fn age(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Runs until the stop signal; then every session gets a Cease and the
    /// routes stay in the kernel only if graceful restart may keep them.
    pub async fn run(mut self) {
        loop {
            let now = Instant::now();
            let wake = self
                .next_deadline()
                .unwrap_or(now + MAX_SLEEP)
                .min(now + MAX_SLEEP);
            tokio::select! {
                biased;
                () = self.shutdown.wait() => break,
                Some(req) = self.requests.recv() => self.request(req).await,
                Some(input) = self.inputs_rx.recv() => {
                    self.input(input).await;
                    for _ in 0..INPUT_BURST {
                        match self.inputs_rx.try_recv() {
                            Ok(i) => self.input(i).await,
                            Err(_) => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => self.timers().await,
            }
            self.flush_exports();
            self.fib.maybe_flush(false);
            self.write_events();
            self.heartbeat.send_replace(tokio::time::Instant::now());
        }
        self.stop().await;
    }

    async fn stop(&mut self) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.feed(id, routerd_bgp_core::fsm::Event::Stop).await;
        }
        self.flush_exports();
        self.fib.maybe_flush(true);
        self.write_events();
        self.fib.close().await;
        if let Some(b) = &self.bfd {
            b.shutdown().await;
        }
        let _ = self.events.append(
            NewEvent::new("bgp.stopped", "Stopped").message("routerd-bgp stopped; sessions ceased"),
        );
    }

    fn next_deadline(&self) -> Option<Instant> {
        let peers = self.peers.values().flat_map(|p| {
            [
                p.fsm.next_deadline(),
                p.restart.restart_until,
                p.restart.stale_until,
            ]
        });
        peers
            .chain([self.fib.next_deadline(), self.next_grant_deadline()])
            .flatten()
            .min()
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.fsm.next_deadline().is_some_and(|d| d <= now))
            .map(|p| p.id)
            .collect();
        for id in due {
            self.feed(id, routerd_bgp_core::fsm::Event::Timer).await;
        }
        self.restart_timers(now);
        self.evaluate_announcements("deadline");
        self.fib.sweep_leftovers(now);
        self.forget_idle_dynamic_peers();
    }

    async fn input(&mut self, input: Input) {
        match input {
            Input::Connected { peer, conn, stream } => self.connected(peer, conn, stream).await,
            Input::ConnectFailed { peer, conn, error } => {
                self.connect_failed(peer, conn, error).await
            }
            Input::Accepted { stream, remote } => self.accepted(stream, remote).await,
            Input::Messages { peer, conn, batch } => self.messages(peer, conn, batch).await,
            Input::HeaderError { peer, conn, error } => self.header_error(peer, conn, error).await,
            Input::Closed { peer, conn, error } => self.closed(peer, conn, error).await,
            Input::Bfd(ev) => self.bfd_event(ev).await,
        }
    }

    async fn request(&mut self, req: Request) {
        match req {
            Request::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Request::Summary(reply) => {
                let _ = reply.send(self.summary());
            }
            Request::Neighbors(reply) => {
                let _ = reply.send(self.neighbors());
            }
            Request::Routes(q, reply) => {
                let _ = reply.send(self.routes(&q));
            }
            Request::Grants(g, reply) => {
                let answer = self.apply_grants(g);
                let _ = reply.send(answer);
            }
            Request::Reload(spec, reply) => {
                let outcome = self.reload(*spec).await;
                let _ = reply.send(outcome);
            }
            Request::Refresh(who, reply) => {
                let outcome = self.refresh(who.as_deref()).await;
                let _ = reply.send(outcome);
            }
        }
    }

    /// Queues an event for the end of this turn of the loop: the log's
    /// fdatasync must not come between a failure and its kernel write.
    fn event(&self, e: NewEvent) {
        if let Ok(mut q) = self.deferred_events.lock() {
            q.push(e);
        }
    }

    /// Writes the queued events with one fdatasync; a full disk must not
    /// stop routing.
    fn write_events(&self) {
        let batch = match self.deferred_events.lock() {
            Ok(mut q) if !q.is_empty() => std::mem::take(&mut *q),
            _ => return,
        };
        if let Err(err) = self.events.append_batch(batch) {
            tracing::warn!(error = %err, "cannot append events");
        }
    }
}
