//! The daemon shell: one engine task owns the client machine, the socket and
//! the files; the contract handlers talk to it by messages.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use routerd_contract::Shutdown;
use routerd_contract::atomic::{read_json, write_atomic, write_json_atomic};
use routerd_contract::event::{EventLog, NewEvent};
use routerd_contract::server::{Command, CommandOutcome, Daemon, DaemonStatus, Health};
use routerd_dhcpv6_core::codec::{decode, encode};
use routerd_dhcpv6_core::store::{LeaseRecord, duid_ll};
use routerd_dhcpv6_core::{
    Action, Client, ClientConfig, Event, InfoAction, InfoClient, InfoOptions, Lease, Phase,
};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::spec::{Dhcpv6Spec, Identity};
use crate::{OsJitter, hex, hex_bytes};

/// The event log inside the state directory.
pub const EVENTS_FILE: &str = "events.jsonl";
/// The lease file inside the state directory.
pub const LEASE_FILE: &str = "lease.json";
/// The identity file inside the state directory.
pub const IDENTITY_FILE: &str = "identity.json";
/// The last Information-request answers, inside the state directory.
pub const INFORMATION_FILE: &str = "information.json";

const CLIENT_PORT: u16 = 546;
const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers.
const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// The engine wakes at least this often (health).
const IDLE_WAKE: Duration = Duration::from_secs(1);
const STALL_LIMIT: Duration = Duration::from_secs(5);

enum Request {
    Status(oneshot::Sender<DaemonStatus>),
    Renew(oneshot::Sender<CommandOutcome>),
    /// Re-read the config: which clients run can change in place.
    Reload(oneshot::Sender<CommandOutcome>),
    /// The `stop` command: the only stop that releases the delegation (when
    /// releaseOnStop says so). A SIGTERM, as at a reboot, keeps it, so the
    /// LAN keeps its prefix when the router comes back.
    Stop(oneshot::Sender<()>),
}

/// The contract face of the daemon.
pub struct Dhcpv6Daemon {
    requests: mpsc::Sender<Request>,
    heartbeat: watch::Receiver<Instant>,
    shutdown: Shutdown,
}

/// The engine: run it with [`Engine::run`].
pub struct Engine {
    spec: Dhcpv6Spec,
    config_path: PathBuf,
    /// The delegation client's settings, for one started by a reload.
    client_config: ClientConfig,
    state_dir: PathBuf,
    duid: Vec<u8>,
    iaid: u32,
    ifindex: u32,
    socket: UdpSocket,
    /// The prefix-delegation client, when the spec delegates.
    client: Option<Client>,
    /// The Information-request client, when the spec asks for information.
    info: Option<InfoClient>,
    /// Answers kept from before a restart, shown until fresh ones arrive.
    stored_info: Option<StoredInfo>,
    jitter: OsJitter,
    events: Arc<EventLog>,
    requests: mpsc::Receiver<Request>,
    heartbeat: watch::Sender<Instant>,
    shutdown: Shutdown,
    send_errors: u64,
    malformed: u64,
    /// Reconfigure messages dropped: RFC 8415 §18.2.11 accepts one only
    /// with Reconfigure Key authentication, which this client does not
    /// negotiate, so a forged one can never make it renew or rebind.
    reconfigure_ignored: u64,
}

fn if_index(name: &str) -> anyhow::Result<u32> {
    let c = std::ffi::CString::new(name).context("interface name has a NUL byte")?;
    // SAFETY: if_nametoindex reads the NUL-terminated string we own.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        anyhow::bail!("no interface named {name}");
    }
    Ok(index)
}

fn mac_of(name: &str) -> anyhow::Result<[u8; 6]> {
    let path = format!("/sys/class/net/{name}/address");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    <[u8; 6]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("{name} has no Ethernet address ({})", text.trim()))
}

/// The identity: from the spec, else the stored one, else made now (DUID-LL
/// from the MAC; IAID from the interface index) and stored.
fn identity(spec: &Dhcpv6Spec, state_dir: &Path, ifindex: u32) -> anyhow::Result<(Vec<u8>, u32)> {
    let path = state_dir.join(IDENTITY_FILE);
    let stored: Option<Identity> = read_json(&path)
        .map_err(|e| tracing::warn!("ignoring unreadable {}: {e}", path.display()))
        .ok()
        .flatten();
    let duid = match (&spec.duid, &stored) {
        (Some(d), _) => hex_bytes(d).context("duid is not hex")?,
        (None, Some(s)) if hex_bytes(&s.duid).is_some() => hex_bytes(&s.duid).unwrap_or_default(),
        _ => duid_ll(mac_of(&spec.interface)?),
    };
    let iaid = spec
        .iaid
        .or(stored.as_ref().map(|s| s.iaid))
        .unwrap_or(ifindex);
    let id = Identity {
        duid: hex(&duid),
        iaid,
    };
    if stored.as_ref() != Some(&id) {
        write_json_atomic(&path, &id)
            .with_context(|| format!("cannot store the identity in {}", path.display()))?;
    }
    Ok((duid, iaid))
}

/// How the Information-request machine's phase is named in events and
/// status: holding answers is `Informed`, not the delegation's `Bound`.
fn info_phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Idle => "Idle",
        Phase::Bound => "Informed",
        _ => "Requesting",
    }
}

/// `a, b, c`, or `-` for none.
fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `at` on the wall clock as seen from one moment fixed at start-up: the
/// same `Instant` always gives the same value, so deadlines in the status
/// do not wobble by a millisecond from one read to the next (readers are
/// woken when they change). The lease file uses [`unix_ms`], the wall clock
/// of the moment, which is what a restore after a reboot compares with.
fn anchored_unix_ms(at: Instant) -> u64 {
    static ANCHOR: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    let (base, base_ms) = *ANCHOR.get_or_init(|| (Instant::now(), unix_ms(Instant::now())));
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match at.checked_duration_since(base) {
        Some(after) => base_ms.saturating_add(ms(after)),
        None => base_ms.saturating_sub(ms(base.duration_since(at))),
    }
}

fn unix_ms(at: Instant) -> u64 {
    let ago = Instant::now().saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn bind(interface: &str) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot open a UDP socket")?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(interface.as_bytes()))
        .with_context(|| format!("cannot bind to device {interface}"))?;
    s.set_multicast_hops_v6(1)?;
    s.set_nonblocking(true)?;
    let addr = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, CLIENT_PORT, 0, 0);
    s.bind(&addr.into())
        .with_context(|| format!("cannot bind UDP port {CLIENT_PORT} on {interface}"))?;
    UdpSocket::from_std(s.into()).context("cannot register the socket")
}

/// Opens the socket, restores identity and lease, and returns the contract
/// handle plus the engine to run.
pub fn start(
    config_path: &Path,
    spec: Dhcpv6Spec,
    state_dir: &Path,
    events: Arc<EventLog>,
    shutdown: Shutdown,
) -> anyhow::Result<(Arc<Dhcpv6Daemon>, Engine)> {
    let ifindex = if_index(&spec.interface)?;
    let (duid, iaid) = identity(&spec, state_dir, ifindex)?;
    let socket = bind(&spec.interface)?;
    socket
        .set_multicast_if_v6_compat(ifindex)
        .context("cannot select the multicast interface")?;
    let lease_path = state_dir.join(LEASE_FILE);
    let restored = match std::fs::read_to_string(&lease_path) {
        Ok(text) => {
            let now_ms = unix_ms(Instant::now());
            match LeaseRecord::restore(&text, &spec.interface, &duid, iaid, now_ms, Instant::now())
            {
                Ok(lease) => Some(lease),
                Err(e) => {
                    let _ = events.append(
                        NewEvent::new("dhcpv6.lease.discarded", "StoredLeaseRefused")
                            .message(format!("stored lease not used: {e}")),
                    );
                    None
                }
            }
        }
        Err(_) => None,
    };
    let stored_info = if spec.information {
        StoredInfo::load(&state_dir.join(INFORMATION_FILE), unix_ms(Instant::now()))
    } else {
        None
    };
    let restored = restored.filter(|_| spec.delegate);
    let mut cfg = ClientConfig::new(iaid);
    cfg.prefix_hint = spec.prefix_hint;
    cfg.rapid_commit = spec.rapid_commit;
    cfg.solicit_max_delay = spec.solicit_max_delay();
    let (requests_tx, requests_rx) = mpsc::channel(16);
    let (heartbeat_tx, heartbeat_rx) = watch::channel(Instant::now());
    let engine = Engine {
        config_path: config_path.to_path_buf(),
        client_config: cfg.clone(),
        client: spec.delegate.then(|| Client::new(cfg, restored)),
        info: spec
            .information
            .then(|| InfoClient::new(spec.solicit_max_delay())),
        stored_info,
        spec,
        state_dir: state_dir.to_path_buf(),
        duid,
        iaid,
        ifindex,
        socket,
        jitter: OsJitter,
        events,
        requests: requests_rx,
        heartbeat: heartbeat_tx,
        shutdown: shutdown.clone(),
        send_errors: 0,
        malformed: 0,
        reconfigure_ignored: 0,
    };
    let handle = Dhcpv6Daemon {
        requests: requests_tx,
        heartbeat: heartbeat_rx,
        shutdown,
    };
    Ok((Arc::new(handle), engine))
}

/// socket2's multicast-interface setter works on the std socket; tokio's
/// UdpSocket lacks it, so this goes through the raw fd.
trait MulticastIf {
    fn set_multicast_if_v6_compat(&self, ifindex: u32) -> std::io::Result<()>;
}

impl MulticastIf for UdpSocket {
    fn set_multicast_if_v6_compat(&self, ifindex: u32) -> std::io::Result<()> {
        socket2::SockRef::from(self).set_multicast_if_v6(ifindex)
    }
}

/// Whether `/proc/net/if_inet6` shows a link-local address on `ifname`
/// that is no longer tentative (DAD done): until then the kernel refuses
/// to send from it (EADDRNOTAVAIL), and RFC 8415 §18.2.1 wants the client
/// to wait for it anyway.
pub fn link_local_ready(if_inet6: &str, ifname: &str) -> bool {
    const SCOPE_LINK: u32 = 0x20;
    const IFA_F_TENTATIVE: u32 = 0x40;
    const IFA_F_DADFAILED: u32 = 0x08;
    if_inet6.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(scope), Some(flags), Some(name)) = (f.get(3), f.get(4), f.get(5)) else {
            return false;
        };
        let scope = u32::from_str_radix(scope, 16).unwrap_or(0);
        let flags = u32::from_str_radix(flags, 16).unwrap_or(IFA_F_TENTATIVE);
        *name == ifname && scope == SCOPE_LINK && flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
    })
}

/// How long the first Solicit waits for a usable link-local address before
/// trying anyway.
const LINK_LOCAL_WAIT: Duration = Duration::from_secs(10);

impl Engine {
    /// Waits (bounded) until the interface has a usable link-local address.
    async fn wait_link_local(&self) {
        let deadline = Instant::now() + LINK_LOCAL_WAIT;
        while Instant::now() < deadline && !self.shutdown.is_triggered() {
            let table = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
            if link_local_ready(&table, &self.spec.interface) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(
            "{} has no usable link-local address after {LINK_LOCAL_WAIT:?}; starting anyway",
            self.spec.interface
        );
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        self.wait_link_local().await;
        let now = Instant::now();
        if let Some(client) = &mut self.client {
            let a = client.handle(now, Event::Start, &mut self.jitter);
            self.apply(a).await;
        }
        if let Some(info) = &mut self.info {
            let a = info.start(now, &mut self.jitter);
            self.apply_info(a).await;
        }
        let mut buf = vec![0u8; 65_536];
        let mut release_requested = false;
        loop {
            let _ = self.heartbeat.send(Instant::now());
            let wake = self
                .next_deadline()
                .unwrap_or_else(|| Instant::now() + IDLE_WAKE)
                .min(Instant::now() + IDLE_WAKE);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, _from)) => self.received(&buf[..n]).await,
                    Err(e) => tracing::warn!("receive failed: {e}"),
                },
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    self.timers().await;
                }
                req = self.requests.recv() => match req {
                    Some(Request::Status(tx)) => { let _ = tx.send(self.status()); }
                    Some(Request::Renew(tx)) => {
                        let outcome = self.renew().await;
                        let _ = tx.send(outcome);
                    }
                    Some(Request::Stop(tx)) => {
                        release_requested = true;
                        let _ = tx.send(());
                        break;
                    }
                    Some(Request::Reload(tx)) => {
                        let outcome = self.reload().await;
                        let _ = tx.send(outcome);
                    }
                    None => break,
                },
                () = self.shutdown.wait() => break,
            }
        }
        let release = self.spec.release_on_stop && release_requested;
        if let Some(client) = &mut self.client {
            let a = client.handle(Instant::now(), Event::Stop { release }, &mut self.jitter);
            // One Release goes out; its retransmissions would outlive the stop.
            self.apply(a).await;
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pd = self.client.as_ref().and_then(Client::next_deadline);
        let info = self.info.as_ref().and_then(InfoClient::next_deadline);
        match (pd, info) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        if let Some(client) = &mut self.client
            && client.next_deadline().is_some_and(|d| d <= now)
        {
            let a = client.handle(now, Event::Timer, &mut self.jitter);
            self.apply(a).await;
        }
        if let Some(info) = &mut self.info
            && info.next_deadline().is_some_and(|d| d <= now)
        {
            let a = info.timer(now, &mut self.jitter);
            self.apply_info(a).await;
        }
    }

    /// Applies a changed config: starts or stops the delegation and the
    /// information client in place. A delegation that is no longer wanted
    /// is released (if releaseOnStop) like one whose resource is removed.
    /// Any other change needs a restart, which routerd does.
    async fn reload(&mut self) -> CommandOutcome {
        let new = match Dhcpv6Spec::load(&self.config_path) {
            Ok(s) => s,
            Err(e) => return CommandOutcome::Failed(e.to_string()),
        };
        if !self.spec.reloadable_to(&new) {
            return CommandOutcome::Unsupported(
                "only delegate and information change in place; routerd restarts the client for anything else".into(),
            );
        }
        let now = Instant::now();
        let mut done = Vec::new();
        if !new.delegate
            && let Some(mut client) = self.client.take()
        {
            // The delegation's own setting decides, as when its resource
            // is removed with the whole client.
            let release = self.spec.release_on_stop;
            let a = client.handle(now, Event::Stop { release }, &mut self.jitter);
            self.apply(a).await;
            done.push("delegation stopped");
        }
        if new.delegate && self.client.is_none() {
            let mut cfg = self.client_config.clone();
            cfg.prefix_hint = new.prefix_hint;
            cfg.rapid_commit = new.rapid_commit;
            cfg.solicit_max_delay = new.solicit_max_delay();
            self.client_config = cfg.clone();
            let mut client = Client::new(cfg, None);
            let a = client.handle(now, Event::Start, &mut self.jitter);
            self.client = Some(client);
            self.apply(a).await;
            done.push("delegation started");
        }
        if !new.information && self.info.take().is_some() {
            self.stored_info = None;
            done.push("information stopped");
        }
        if new.information && self.info.is_none() {
            let mut info = InfoClient::new(new.solicit_max_delay());
            let a = info.start(now, &mut self.jitter);
            self.info = Some(info);
            self.apply_info(a).await;
            done.push("information started");
        }
        self.spec = new;
        CommandOutcome::Done(json!({ "reloaded": true, "changes": done }))
    }

    async fn renew(&mut self) -> CommandOutcome {
        let now = Instant::now();
        let mut done = Vec::new();
        if let Some(client) = &mut self.client {
            let a = client.renew_now(now, &mut self.jitter);
            if !a.is_empty() {
                done.push("renewing");
            }
            self.apply(a).await;
        }
        if let Some(info) = &mut self.info
            && info.refresh_now(now)
        {
            done.push("refreshing information");
        }
        if done.is_empty() {
            CommandOutcome::Failed(format!("nothing to renew in phase {}", self.phase()))
        } else {
            CommandOutcome::Done(json!({ "renewing": done.contains(&"renewing"), "actions": done }))
        }
    }

    fn phase(&self) -> String {
        match (&self.client, &self.info) {
            (Some(client), _) => format!("{:?}", client.phase()),
            (None, Some(_)) => self.info_phase().to_string(),
            (None, None) => "Idle".into(),
        }
    }

    /// The Information-request client's phase as the resource shows it:
    /// `Informed` while answers are held (fresh or restored).
    fn info_phase(&self) -> &'static str {
        match &self.info {
            None => "Idle",
            Some(info) if info.info().is_some() || self.stored_info.is_some() => "Informed",
            Some(info) if info.phase() == Phase::Idle => "Idle",
            Some(_) => "Requesting",
        }
    }

    async fn received(&mut self, bytes: &[u8]) {
        match decode(bytes, &self.duid, self.iaid) {
            Ok(m) => {
                let now = Instant::now();
                if let Some(info) = self.info.as_mut().filter(|i| i.awaits(m.xid)) {
                    let a = info.receive(now, &m);
                    self.apply_info(a).await;
                } else if let Some(client) = &mut self.client {
                    let a = client.handle(now, Event::Received(&m), &mut self.jitter);
                    self.apply(a).await;
                } else if let Some(info) = &mut self.info {
                    // Counted as ignored by the machine that would have had it.
                    let a = info.receive(now, &m);
                    self.apply_info(a).await;
                }
            }
            Err(e) if e.is_reconfigure() => {
                self.reconfigure_ignored += 1;
                tracing::debug!("ignored an unauthenticated Reconfigure");
            }
            Err(e) => {
                self.malformed += 1;
                tracing::debug!("dropped a packet: {e}");
            }
        }
    }

    async fn send(&mut self, o: &routerd_dhcpv6_core::Outgoing) {
        match encode(o, &self.duid) {
            Ok(bytes) => {
                let to = SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, self.ifindex);
                if let Err(e) = self.socket.send_to(&bytes, to).await {
                    self.send_errors += 1;
                    tracing::warn!("{} not sent: {e}", o.kind.as_str());
                }
            }
            Err(e) => tracing::warn!("{} not encoded: {e}", o.kind.as_str()),
        }
    }

    async fn apply_info(&mut self, actions: Vec<InfoAction>) {
        for a in actions {
            match a {
                InfoAction::Send(o) => self.send(&o).await,
                InfoAction::Phase { from, to, reason } => {
                    let _ = self.events.append(
                        NewEvent::new("dhcpv6.information.phase.changed", info_phase_name(to))
                            .resource(self.spec.information_id())
                            .message(format!(
                                "information {} -> {}: {reason}",
                                info_phase_name(from),
                                info_phase_name(to)
                            ))
                            .attr("from", info_phase_name(from))
                            .attr("to", info_phase_name(to)),
                    );
                }
                InfoAction::Information(options) => self.informed(options),
            }
        }
    }

    fn informed(&mut self, options: InfoOptions) {
        let now_ms = unix_ms(Instant::now());
        let stored = StoredInfo::from_options(&options, now_ms);
        let path = self.state_dir.join(INFORMATION_FILE);
        if let Err(e) = write_json_atomic(&path, &stored) {
            tracing::warn!("cannot store the information in {}: {e}", path.display());
        }
        // Fresh answers replace whatever was restored.
        self.stored_info = None;
        let _ = self.events.append(
            NewEvent::new("dhcpv6.information.updated", "Informed")
                .resource(self.spec.information_id())
                .message(format!(
                    "DNS {}, domains {}, AFTR {}",
                    list(&options.dns_servers),
                    list(&options.domains),
                    options.aftr_name.as_deref().unwrap_or("-")
                ))
                .attr("information", information_json(&stored, now_ms)),
        );
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(o) => self.send(&o).await,
                Action::Phase { from, to, reason } => {
                    let _ = self.events.append(
                        NewEvent::new("dhcpv6.phase.changed", format!("{to:?}"))
                            .resource(self.spec.delegation_id())
                            .message(format!("{from:?} -> {to:?}: {reason}"))
                            .attr("from", format!("{from:?}"))
                            .attr("to", format!("{to:?}")),
                    );
                }
                Action::Bound(lease) => self.bound(&lease),
                Action::Lost { reason } => {
                    let path = self.state_dir.join(LEASE_FILE);
                    if let Err(e) = std::fs::remove_file(&path)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::warn!("cannot remove {}: {e}", path.display());
                    }
                    let _ = self.events.append(
                        NewEvent::new("dhcpv6.lease.lost", "Lost")
                            .resource(self.spec.delegation_id())
                            .message(format!("delegated prefix lost: {reason}")),
                    );
                }
            }
        }
    }

    fn bound(&mut self, lease: &Lease) {
        let record = LeaseRecord::new(
            &self.spec.interface,
            &self.duid,
            self.iaid,
            lease,
            unix_ms(lease.obtained),
        );
        let path = self.state_dir.join(LEASE_FILE);
        // Kept durably before anyone acts on it: a crash must not lose it.
        if let Err(e) = write_atomic(&path, record.to_text().as_bytes()) {
            tracing::warn!("cannot store the lease in {}: {e}", path.display());
        }
        let _ = self.events.append(
            NewEvent::new("dhcpv6.lease.bound", "Bound")
                .resource(self.spec.delegation_id())
                .message(format!(
                    "delegated {}",
                    lease
                        .prefixes
                        .iter()
                        .map(|p| format!("{}/{}", p.prefix, p.len))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .attr("prefixes", prefixes_json(lease)),
        );
    }

    fn status(&self) -> DaemonStatus {
        let now = Instant::now();
        let now_ms = unix_ms(now);
        let secs = |at: Option<Instant>| at.map(|t| t.saturating_duration_since(now).as_secs());
        let lease = self.client.as_ref().and_then(Client::lease);
        let lease_json = lease.map(|l| {
            json!({
                "serverId": hex(&l.server_id),
                "prefixes": prefixes_json(l),
                "t1": l.times.t1,
                "t2": l.times.t2,
                "renewInSecs": secs(l.timers.renew.map(|d| l.obtained + d)),
                "rebindInSecs": secs(l.timers.rebind.map(|d| l.obtained + d)),
                "expiresInSecs": secs(l.expires()),
            })
        });
        let c = self
            .client
            .as_ref()
            .map(Client::counters)
            .unwrap_or_default();
        let mut detail = json!({
            "interface": self.spec.interface,
            "duid": hex(&self.duid),
            "iaid": self.iaid,
            // The first delegated prefix, for `*From` readers; all of them
            // (with absolute deadlines) under `prefixes`.
            "prefix": lease.and_then(|l| l.prefixes.first()).map(|p| format!("{}/{}", p.prefix, p.len)),
            "prefixes": lease.map(prefixes_json).unwrap_or_else(|| json!([])),
            "lease": lease_json,
            "counters": {
                "sent": c.sent,
                "accepted": c.accepted,
                "ignored": c.ignored + self.info.as_ref().map_or(0, |i| i.ignored),
                "malformed": self.malformed,
                "reconfigureIgnored": self.reconfigure_ignored,
                "sendErrors": self.send_errors,
            },
        });
        if let (Some(info), Some(obj)) = (&self.info, detail.as_object_mut()) {
            let stored = match info.info() {
                Some(fresh) => Some(StoredInfo::from_options(fresh, now_ms)),
                None => self.stored_info.clone(),
            };
            let mut section = stored
                .as_ref()
                .map(|s| information_json(s, now_ms))
                .unwrap_or_else(|| json!({}));
            if let Some(map) = section.as_object_mut() {
                map.insert("phase".into(), self.info_phase().into());
                map.insert(
                    "restored".into(),
                    (info.info().is_none() && self.stored_info.is_some()).into(),
                );
            }
            obj.insert("information".into(), section);
        }
        DaemonStatus {
            phase: self.phase(),
            detail,
        }
    }
}

/// Information-request answers as kept in `information.json`: restored
/// after a restart (until their refresh time) so that readers of the DNS
/// servers or the AFTR name see no gap while the daemon asks again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredInfo {
    /// DNS recursive name servers.
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain search list.
    pub domain_search: Vec<String>,
    /// SNTP servers.
    pub sntp_servers: Vec<Ipv6Addr>,
    /// The DS-Lite AFTR name.
    pub aftr_name: Option<String>,
    /// When the answers arrived (Unix ms).
    pub obtained_unix_ms: u64,
    /// When to ask again (Unix ms); `None`: never.
    pub refresh_unix_ms: Option<u64>,
}

impl StoredInfo {
    fn from_options(o: &InfoOptions, now_ms: u64) -> StoredInfo {
        StoredInfo {
            dns_servers: o.dns_servers.clone(),
            domain_search: o.domains.clone(),
            sntp_servers: o.sntp_servers.clone(),
            aftr_name: o.aftr_name.clone(),
            obtained_unix_ms: now_ms,
            refresh_unix_ms: o
                .refresh()
                .map(|d| now_ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
        }
    }

    /// The stored answers, if the file is readable and not yet due for refresh.
    fn load(path: &Path, now_ms: u64) -> Option<StoredInfo> {
        let stored: StoredInfo = read_json(path)
            .map_err(|e| tracing::warn!("ignoring unreadable {}: {e}", path.display()))
            .ok()
            .flatten()?;
        let fresh = stored.obtained_unix_ms <= now_ms
            && stored.refresh_unix_ms.is_none_or(|at| at > now_ms);
        fresh.then_some(stored)
    }
}

fn information_json(s: &StoredInfo, now_ms: u64) -> Value {
    json!({
        "dnsServers": s.dns_servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "domainSearch": s.domain_search,
        "sntpServers": s.sntp_servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "aftrName": s.aftr_name,
        "refreshInSecs": s.refresh_unix_ms.map(|at| at.saturating_sub(now_ms) / 1000),
    })
}

fn prefixes_json(l: &Lease) -> Value {
    let obtained_ms = anchored_unix_ms(l.obtained);
    let until = |secs: u32| -> Value {
        if secs == routerd_dhcpv6_core::lifetimes::INFINITY {
            Value::Null
        } else {
            obtained_ms.saturating_add(u64::from(secs) * 1000).into()
        }
    };
    Value::Array(
        l.prefixes
            .iter()
            .map(|p| {
                json!({
                    "prefix": format!("{}/{}", p.prefix, p.len),
                    "preferred": p.lifetimes.preferred,
                    "valid": p.lifetimes.valid,
                    // Absolute deadlines (Unix ms; null: infinite), so a
                    // reader can cap what it advertises (RFC 9096) without
                    // knowing when this status was taken.
                    "preferredUntilUnixMs": until(p.lifetimes.preferred),
                    "validUntilUnixMs": until(p.lifetimes.valid),
                })
            })
            .collect(),
    )
}

impl Dhcpv6Daemon {
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, &'static str> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(request(tx))
            .await
            .map_err(|_| "the DHCPv6 engine has stopped")?;
        rx.await
            .map_err(|_| "the DHCPv6 engine stopped before answering")
    }
}

impl Daemon for Dhcpv6Daemon {
    async fn status(&self) -> DaemonStatus {
        self.ask(Request::Status)
            .await
            .unwrap_or_else(|e| DaemonStatus {
                phase: "Stopped".into(),
                detail: json!({"error": e}),
            })
    }

    fn health(&self) -> Health {
        let quiet = self.heartbeat.borrow().elapsed();
        if self.shutdown.is_triggered() {
            Health::Unhealthy("stopping".into())
        } else if quiet > STALL_LIMIT {
            Health::Unhealthy(format!("the DHCPv6 engine has not run for {quiet:?}"))
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
            Command::Reload => self
                .ask(Request::Reload)
                .await
                .unwrap_or_else(|e| CommandOutcome::Failed(e.into())),
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

#[cfg(test)]
mod tests {
    use super::link_local_ready;

    const TABLE: &str = "\
fd009900000200000000000000000001 05 40 00 80 srv0
fe80000000000000a8c899fffe7af5f4 05 40 20 80 wan0
fe80000000000000b05713fffe913e38 06 40 20 c0 eth1
00000000000000000000000000000001 01 80 10 80 lo
";

    #[test]
    fn only_a_settled_link_local_address_counts() {
        assert!(link_local_ready(TABLE, "wan0"));
        // eth1's link-local is still tentative (0x40 in the flags).
        assert!(!link_local_ready(TABLE, "eth1"));
        // srv0 has only a global address.
        assert!(!link_local_ready(TABLE, "srv0"));
        assert!(!link_local_ready("garbage\n", "wan0"));
    }
}
