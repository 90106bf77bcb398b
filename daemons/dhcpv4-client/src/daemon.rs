//! The daemon shell: one engine task owns the client machine, the sockets
//! and the files; the contract handlers talk to it by messages.
//!
//! The engine first waits (bounded by [`LINK_WAIT`]) for its interface to
//! exist and be up, answering status meanwhile; then it reads the MAC,
//! takes back a stored lease if the rules allow, opens its sockets (see
//! [`crate::net`]) and runs the machine. It never touches addresses or
//! routes: routerd installs them from the status.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use routerd_contract::Shutdown;
use routerd_contract::atomic::write_atomic;
use routerd_contract::event::{EventLog, NewEvent};
use routerd_contract::server::{Command, CommandOutcome, Daemon, DaemonStatus, Health};
use routerd_dhcpv4_core::codec::{CodecError, decode, encode};
use routerd_dhcpv4_core::frame::udp_in_ipv4;
use routerd_dhcpv4_core::{
    Action, Client, ClientConfig, Counters, Destination, Event, Identity, Lease, LeaseRecord,
};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::OsJitter;
use crate::net::{
    CLIENT_PORT, LINK_WAIT, LinkState, PacketSocket, SERVER_PORT, if_index, link_state, mac_of,
    send_socket,
};
use crate::spec::Dhcpv4Spec;
use crate::status::{EdgeCounters, detail, routes_json};

/// The event log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";
/// The lease file inside the state directory.
pub const LEASE_FILE: &str = "lease.json";

/// The engine wakes at least this often (health).
const IDLE_WAKE: Duration = Duration::from_secs(1);
const STALL_LIMIT: Duration = Duration::from_secs(5);

enum Request {
    Status(oneshot::Sender<DaemonStatus>),
    Renew(oneshot::Sender<CommandOutcome>),
    /// The `stop` command: the only stop that releases the lease (when
    /// releaseOnStop says so). A SIGTERM, as at a reboot, keeps it, so the
    /// router comes back with the same address.
    Stop(oneshot::Sender<()>),
}

/// The contract face of the daemon.
pub struct Dhcpv4Daemon {
    interface: String,
    requests: mpsc::Sender<Request>,
    heartbeat: watch::Receiver<Instant>,
    shutdown: Shutdown,
}

/// The engine before its interface is there: run it with [`Engine::run`].
pub struct Engine {
    spec: Dhcpv4Spec,
    state_dir: PathBuf,
    events: Arc<EventLog>,
    requests: mpsc::Receiver<Request>,
    heartbeat: watch::Sender<Instant>,
    shutdown: Shutdown,
}

/// The engine with its machine and sockets.
struct Running {
    base: Engine,
    identity: Identity,
    client: Client,
    udp: UdpSocket,
    packets: PacketSocket,
    jitter: OsJitter,
    edge: EdgeCounters,
}

/// Builds the contract handle and the engine; nothing is opened yet.
pub fn start(
    spec: Dhcpv4Spec,
    state_dir: &Path,
    events: Arc<EventLog>,
    shutdown: Shutdown,
) -> (Arc<Dhcpv4Daemon>, Engine) {
    let (requests_tx, requests_rx) = mpsc::channel(16);
    let (heartbeat_tx, heartbeat_rx) = watch::channel(Instant::now());
    let handle_interface = spec.interface.clone();
    let engine = Engine {
        spec,
        state_dir: state_dir.to_path_buf(),
        events,
        requests: requests_rx,
        heartbeat: heartbeat_tx,
        shutdown: shutdown.clone(),
    };
    let handle = Dhcpv4Daemon {
        interface: handle_interface,
        requests: requests_tx,
        heartbeat: heartbeat_rx,
        shutdown,
    };
    (Arc::new(handle), engine)
}

/// Wall-clock Unix milliseconds of a monotonic instant.
fn unix_ms(at: Instant) -> u64 {
    let ago = Instant::now().saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Engine {
    fn event(&self, e: NewEvent) {
        let resource = self
            .spec
            .resource
            .clone()
            .unwrap_or_else(|| self.spec.name.clone());
        if let Err(err) = self.events.append(e.resource(resource)) {
            tracing::warn!("cannot log an event: {err}");
        }
    }

    /// Runs until shutdown; an error means the client could not start.
    pub async fn run(mut self) -> anyhow::Result<()> {
        if !self.wait_link().await? {
            return Ok(());
        }
        self.prepare()?.run().await;
        Ok(())
    }

    /// Waits until the interface is up, at most [`LINK_WAIT`]; a missing
    /// interface then is an error, a down one is tried anyway. `false` when
    /// asked to stop meanwhile.
    async fn wait_link(&mut self) -> anyhow::Result<bool> {
        let deadline = Instant::now() + LINK_WAIT;
        loop {
            let _ = self.heartbeat.send(Instant::now());
            let state = link_state(&self.spec.interface);
            if state == LinkState::Up {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                if state == LinkState::Missing {
                    anyhow::bail!("no interface {} after {LINK_WAIT:?}", self.spec.interface);
                }
                tracing::warn!(
                    "{} is not up after {LINK_WAIT:?}; starting anyway",
                    self.spec.interface
                );
                return Ok(true);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                req = self.requests.recv() => match req {
                    Some(Request::Status(tx)) => {
                        let _ = tx.send(DaemonStatus {
                            phase: "Init".into(),
                            detail: detail(
                                &self.spec.interface,
                                None,
                                Counters::default(),
                                EdgeCounters::default(),
                                Instant::now(),
                            ),
                        });
                    }
                    Some(Request::Renew(tx)) => {
                        let _ = tx.send(CommandOutcome::Failed(format!(
                            "waiting for {} to come up",
                            self.spec.interface
                        )));
                    }
                    Some(Request::Stop(tx)) => {
                        let _ = tx.send(());
                        return Ok(false);
                    }
                    None => return Ok(false),
                },
                () = self.shutdown.wait() => return Ok(false),
            }
        }
    }

    /// Identity, stored lease, machine and sockets.
    fn prepare(self) -> anyhow::Result<Running> {
        let ifname = self.spec.interface.clone();
        let ifindex = if_index(&ifname)?;
        let mac = mac_of(&ifname)?;
        let identity = Identity {
            mac,
            client_id: self.spec.client_id_bytes(mac),
            hostname: self.spec.hostname.clone(),
            class_id: self.spec.class_id.as_ref().map(|c| c.as_bytes().to_vec()),
        };
        let restored = self.restore(&identity.client_id);
        let mut cfg = ClientConfig::new(identity.clone());
        cfg.requested_address = self.spec.requested_address;
        cfg.start_delay_max = self.spec.start_delay_max();
        let udp = send_socket(&ifname)?;
        let packets = PacketSocket::open(ifindex)?;
        Ok(Running {
            base: self,
            identity,
            client: Client::new(cfg, restored),
            udp,
            packets,
            jitter: OsJitter,
            edge: EdgeCounters::default(),
        })
    }

    /// The stored lease, if the restore rules allow it; a refusal is logged.
    fn restore(&self, client_id: &[u8]) -> Option<Lease> {
        let path = self.state_dir.join(LEASE_FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        let now = Instant::now();
        match LeaseRecord::restore(&text, &self.spec.interface, client_id, unix_ms(now), now) {
            Ok(lease) => Some(lease),
            Err(e) => {
                self.event(
                    NewEvent::new("dhcpv4.lease.discarded", "StoredLeaseRefused")
                        .message(format!("stored lease not used: {e}")),
                );
                None
            }
        }
    }
}

impl Running {
    async fn run(mut self) {
        let a = self
            .client
            .handle(Instant::now(), Event::Start, &mut self.jitter);
        self.apply(a).await;
        let mut buf = vec![0u8; 65_536];
        let mut drain = vec![0u8; 2048];
        let mut release_requested = false;
        loop {
            let _ = self.base.heartbeat.send(Instant::now());
            let wake = self
                .client
                .next_deadline()
                .unwrap_or_else(|| Instant::now() + IDLE_WAKE)
                .min(Instant::now() + IDLE_WAKE);
            tokio::select! {
                r = self.packets.recv(&mut buf) => match r {
                    Ok(n) => self.received(&buf[..n]).await,
                    Err(e) => {
                        tracing::warn!("packet socket: {e}");
                        // A link that went away fails every read: do not spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                // The packet socket has its own copy of anything that
                // reaches the UDP socket: drained, not read twice.
                _ = self.udp.recv_from(&mut drain) => {}
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    if self.client.next_deadline().is_some_and(|d| d <= Instant::now()) {
                        let a = self.client.handle(Instant::now(), Event::Timer, &mut self.jitter);
                        self.apply(a).await;
                    }
                }
                req = self.base.requests.recv() => match req {
                    Some(Request::Status(tx)) => { let _ = tx.send(self.status()); }
                    Some(Request::Stop(tx)) => {
                        release_requested = true;
                        let _ = tx.send(());
                        break;
                    }
                    Some(Request::Renew(tx)) => {
                        let a = self.client.renew_now(Instant::now(), &mut self.jitter);
                        let done = !a.is_empty();
                        self.apply(a).await;
                        let _ = tx.send(if done {
                            CommandOutcome::Done(json!({"renewing": true}))
                        } else {
                            CommandOutcome::Failed(format!(
                                "nothing to renew in phase {:?}",
                                self.client.phase()
                            ))
                        });
                    }
                    None => break,
                },
                () = self.base.shutdown.wait() => break,
            }
        }
        let release = self.base.spec.release_on_stop && release_requested;
        let a = self
            .client
            .handle(Instant::now(), Event::Stop { release }, &mut self.jitter);
        self.apply(a).await;
    }

    async fn received(&mut self, packet: &[u8]) {
        let d = match udp_in_ipv4(packet) {
            Ok(d) if d.destination_port == CLIENT_PORT => d,
            Ok(_) => return,
            Err(e) => {
                self.client.note_malformed();
                tracing::debug!("dropped a packet: {e}");
                return;
            }
        };
        match decode(d.payload) {
            Ok(r) => {
                let a = self
                    .client
                    .handle(Instant::now(), Event::Received(&r), &mut self.jitter);
                self.apply(a).await;
            }
            Err(CodecError::NotForClient(what)) => {
                tracing::debug!("not for a client from {}: {what}", d.source);
            }
            Err(e) => {
                self.client.note_malformed();
                tracing::debug!("dropped a packet from {}: {e}", d.source);
            }
        }
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(o) => {
                    let to = match o.to {
                        Destination::Broadcast => Ipv4Addr::BROADCAST,
                        Destination::Unicast(ip) => ip,
                    };
                    match encode(&o, &self.identity) {
                        Ok(bytes) => {
                            let addr = SocketAddrV4::new(to, SERVER_PORT);
                            if let Err(e) = self.udp.send_to(&bytes, addr).await {
                                self.edge.send_errors += 1;
                                tracing::warn!("{} to {to} not sent: {e}", o.kind.as_str());
                            }
                        }
                        Err(e) => tracing::warn!("{} not encoded: {e}", o.kind.as_str()),
                    }
                }
                Action::Phase { from, to, reason } => self.base.event(
                    NewEvent::new("dhcpv4.phase.changed", format!("{to:?}"))
                        .message(format!("{from:?} -> {to:?}: {reason}"))
                        .attr("from", format!("{from:?}"))
                        .attr("to", format!("{to:?}")),
                ),
                Action::Bound(lease) => self.bound(&lease),
                Action::Lost { address, reason } => {
                    let path = self.base.state_dir.join(LEASE_FILE);
                    if let Err(e) = std::fs::remove_file(&path)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::warn!("cannot remove {}: {e}", path.display());
                    }
                    self.base.event(
                        NewEvent::new("dhcpv4.lease.lost", "Lost")
                            .message(format!("{address} lost: {reason}"))
                            .attr("address", address.to_string()),
                    );
                }
                Action::Nak { server_id, message } => {
                    let server = server_id.map_or("a server".to_string(), |s| s.to_string());
                    self.base.event(
                        NewEvent::new("dhcpv4.nak", "Nak")
                            .message(format!(
                                "DHCPNAK from {server}: {}",
                                message.as_deref().unwrap_or("no reason given")
                            ))
                            .attr("serverId", server_id.map(|s| s.to_string()))
                            .attr("reason", message),
                    );
                }
            }
        }
    }

    fn bound(&mut self, lease: &Lease) {
        let record = LeaseRecord::new(
            &self.base.spec.interface,
            &self.identity.client_id,
            lease,
            unix_ms(lease.obtained),
        );
        let path = self.base.state_dir.join(LEASE_FILE);
        // Kept durably before anyone acts on it: a crash must not lose it.
        if let Err(e) = write_atomic(&path, record.to_text().as_bytes()) {
            tracing::warn!("cannot store the lease in {}: {e}", path.display());
        }
        let address = lease.network().to_string();
        let secs = lease
            .times
            .lease
            .map_or("an unknown time".to_string(), |s| format!("{s} s"));
        self.base.event(
            NewEvent::new("dhcpv4.lease.bound", "Bound")
                .message(format!("{address} from {} for {secs}", lease.server_id))
                .attr("address", address)
                .attr("serverId", lease.server_id.to_string())
                .attr(
                    "gateway",
                    lease.options.routers.first().map(|g| g.to_string()),
                )
                .attr("routes", routes_json(lease))
                .attr("leaseSecs", lease.times.lease),
        );
    }

    fn status(&self) -> DaemonStatus {
        DaemonStatus {
            phase: format!("{:?}", self.client.phase()),
            detail: detail(
                &self.base.spec.interface,
                self.client.lease(),
                self.client.counters(),
                self.edge,
                Instant::now(),
            ),
        }
    }
}

impl Dhcpv4Daemon {
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(request(tx))
            .await
            .map_err(|_| "the DHCPv4 engine has stopped")?;
        rx.await
            .map_err(|_| "the DHCPv4 engine stopped before answering")
    }
}

impl Daemon for Dhcpv4Daemon {
    async fn status(&self) -> DaemonStatus {
        self.ask(Request::Status).await.unwrap_or_else(|e| {
            tracing::debug!("status: {e}");
            // The same shape as ever, with nothing held.
            DaemonStatus {
                phase: "Stopped".into(),
                detail: detail(
                    &self.interface,
                    None,
                    Counters::default(),
                    EdgeCounters::default(),
                    Instant::now(),
                ),
            }
        })
    }

    fn health(&self) -> Health {
        let quiet = self.heartbeat.borrow().elapsed();
        if self.shutdown.is_triggered() {
            Health::Unhealthy("stopping".into())
        } else if quiet > STALL_LIMIT {
            Health::Unhealthy(format!("the DHCPv4 engine has not run for {quiet:?}"))
        } else {
            Health::Live
        }
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        match command {
            Command::Renew => self
                .ask(Request::Renew)
                .await
                .unwrap_or_else(|e| CommandOutcome::Failed(e.into())),
            Command::Reload => CommandOutcome::Unsupported(
                "routerd restarts routerd-dhcpv4-client with its new config".into(),
            ),
            Command::Stop => {
                // The engine releases (if configured) before it ends; the
                // contract server stops after this answer.
                let _ = self.ask(Request::Stop).await;
                self.shutdown.trigger();
                CommandOutcome::Done(json!({"stopping": true}))
            }
        }
    }
}
