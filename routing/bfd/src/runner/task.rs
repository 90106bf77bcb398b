//! The runner task: it owns every session, its links and the demultiplexing
//! table, and handles one message at a time — a command, a datagram from a
//! link's receive task, or a timer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::{
    Command, RunnerError, RunnerStatus, SessionEvent, SessionHandle, SessionId, SessionReport,
    SessionSpec, SessionView,
};
use crate::demux::{Demux, Route};
use crate::error::{DropCounters, DropReason};
use crate::fsm::{Action, Event, Session};
use crate::io::{Link, TTL, recv_with_ttl};
use crate::jitter::SeededJitter;
use crate::packet::ControlPacket;

/// Links are named by a small id in the demultiplexing table.
type LinkId = u32;

struct Datagram {
    link: LinkId,
    src: SocketAddr,
    ttl: Option<u8>,
    bytes: Vec<u8>,
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct LinkEntry {
    id: LinkId,
    tx: UdpSocket,
    ifindex: u32,
    users: usize,
    _receiver: AbortOnDrop,
}

struct Entry {
    session: Session,
    link: (String, IpAddr),
    peer: IpAddr,
    dst: SocketAddr,
    view: watch::Sender<SessionView>,
    failures: u64,
    removing: bool,
    send_errors: u64,
}

pub(super) struct Runner {
    cmds: mpsc::UnboundedReceiver<Command>,
    datagrams: mpsc::Receiver<Datagram>,
    datagram_tx: mpsc::Sender<Datagram>,
    events: broadcast::Sender<SessionEvent>,
    sessions: HashMap<u32, Entry>,
    links: HashMap<(String, IpAddr), LinkEntry>,
    demux: Demux<LinkId>,
    next_discr: u32,
    next_link: LinkId,
    jitter: SeededJitter,
    received: u64,
    dropped: DropCounters,
    receive_errors: Arc<AtomicU64>,
}

impl Runner {
    pub(super) fn new(
        cmds: mpsc::UnboundedReceiver<Command>,
        events: broadcast::Sender<SessionEvent>,
    ) -> Runner {
        let (datagram_tx, datagrams) = mpsc::channel(1024);
        let mut jitter = SeededJitter::new(seed());
        Runner {
            cmds,
            datagrams,
            datagram_tx,
            events,
            sessions: HashMap::new(),
            links: HashMap::new(),
            demux: Demux::new(),
            // A random start: a restarted runner does not reuse the
            // discriminators a peer may still hold for its old sessions.
            next_discr: (jitter.next_u64() as u32).max(1),
            next_link: 0,
            jitter,
            received: 0,
            dropped: DropCounters::default(),
            receive_errors: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            self.on_timers();
            // A linear scan: a BGP speaker has tens to hundreds of sessions,
            // and this runs once per event.
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.next_deadline())
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(d) = self.datagrams.recv() => self.on_datagram(d),
                cmd = self.cmds.recv() => match cmd {
                    Some(Command::Shutdown(reply)) => {
                        self.shutdown();
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd),
                    None => {
                        self.shutdown();
                        return;
                    }
                },
                () = sleep => {}
            }
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.next_deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(e) = self.sessions.get_mut(&id) {
                let actions = e.session.handle(now, Event::Timer, &mut self.jitter);
                self.apply(id, actions);
            }
        }
        self.reap();
    }

    /// RFC 5881 5 (GTSM), then decoding, then RFC 5880 6.3 demultiplexing.
    fn on_datagram(&mut self, d: Datagram) {
        self.received += 1;
        if d.ttl != Some(TTL) {
            self.dropped.count(DropReason::Ttl);
            return;
        }
        let packet = match ControlPacket::decode(&d.bytes) {
            Ok(p) => p,
            Err(e) => {
                self.dropped.count(e.drop_reason());
                return;
            }
        };
        match self.demux.route(&d.link, d.src.ip(), packet.your_discr) {
            Route::Drop(reason) => self.dropped.count(reason),
            Route::Session(id) => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    let actions = e.session.handle(
                        Instant::now(),
                        Event::Received(&packet),
                        &mut self.jitter,
                    );
                    self.apply(id, actions);
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Add(spec, reply) => {
                let _ = reply.send(self.add(spec));
            }
            Command::Remove(id, reply) => {
                let r = self.with_session(id, |e, now, j| {
                    e.removing = true;
                    Ok(e.session.handle(now, Event::AdminDown, j))
                });
                self.reap();
                let _ = reply.send(r);
            }
            Command::SetParams(id, params, reply) => {
                let r =
                    self.with_session(id, |e, now, j| Ok(e.session.set_params(now, params, j)?));
                let _ = reply.send(r);
            }
            Command::Admin(id, down, reply) => {
                let event = if down {
                    Event::AdminDown
                } else {
                    Event::AdminUp
                };
                let r = self.with_session(id, |e, now, j| Ok(e.session.handle(now, event, j)));
                let _ = reply.send(r);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Runs `f` on a live (not removed) session and applies its actions.
    fn with_session(
        &mut self,
        id: SessionId,
        f: impl FnOnce(&mut Entry, Instant, &mut SeededJitter) -> Result<Vec<Action>, RunnerError>,
    ) -> Result<(), RunnerError> {
        let e = self
            .sessions
            .get_mut(&id.0)
            .filter(|e| !e.removing)
            .ok_or(RunnerError::NoSuchSession(id))?;
        let actions = f(e, Instant::now(), &mut self.jitter)?;
        self.apply(id.0, actions);
        Ok(())
    }

    fn add(&mut self, spec: SessionSpec) -> Result<SessionHandle, RunnerError> {
        spec.params.validate()?;
        if spec.peer.is_ipv4() != spec.local.is_ipv4() {
            return Err(RunnerError::FamilyMismatch {
                peer: spec.peer,
                local: spec.local,
            });
        }
        let key = (spec.ifname.clone(), spec.local);
        // A session being removed for the same peer gives way to the new one.
        let stale: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.removing && e.link == key && e.peer == spec.peer)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.drop_session(id);
        }
        if !self.links.contains_key(&key) {
            let entry = self.open_link(&spec.ifname, spec.local)?;
            self.links.insert(key.clone(), entry);
        }
        let discr = self.allocate_discr();
        let now = Instant::now();
        let (link_id, dst) = match self.links.get_mut(&key) {
            Some(l) => (l.id, crate::io::peer_addr(spec.peer, l.ifindex)),
            None => return Err(RunnerError::Stopped),
        };
        let result = Session::new(discr, spec.params, now)
            .map_err(RunnerError::from)
            .and_then(|s| {
                self.demux.insert(discr, link_id, spec.peer)?;
                Ok(s)
            });
        let session = match result {
            Ok(s) => s,
            Err(e) => {
                self.release_link(&key);
                return Err(e);
            }
        };
        if let Some(l) = self.links.get_mut(&key) {
            l.users += 1;
        }
        let view = SessionView {
            state: session.state(),
            diag: session.local_diag(),
            last_change: None,
            failures: 0,
        };
        let (tx, rx) = watch::channel(view);
        self.sessions.insert(
            discr,
            Entry {
                session,
                link: key,
                peer: spec.peer,
                dst,
                view: tx,
                failures: 0,
                removing: false,
                send_errors: 0,
            },
        );
        Ok(SessionHandle {
            id: SessionId(discr),
            view: rx,
        })
    }

    fn open_link(&mut self, ifname: &str, local: IpAddr) -> Result<LinkEntry, RunnerError> {
        let link = Link::open(ifname, local, self.jitter.next_u64()).map_err(|source| {
            RunnerError::Socket {
                ifname: ifname.to_string(),
                local,
                source,
            }
        })?;
        let id = self.next_link;
        self.next_link = self.next_link.wrapping_add(1);
        let Link { rx, tx, ifindex } = link;
        let task = tokio::spawn(receive(
            id,
            rx,
            self.datagram_tx.clone(),
            self.receive_errors.clone(),
        ));
        Ok(LinkEntry {
            id,
            tx,
            ifindex,
            users: 0,
            _receiver: AbortOnDrop(task),
        })
    }

    /// Drops a link nobody uses any more (closing its sockets).
    fn release_link(&mut self, key: &(String, IpAddr)) {
        if self.links.get(key).is_some_and(|l| l.users == 0) {
            self.links.remove(key);
        }
    }

    fn allocate_discr(&mut self) -> u32 {
        loop {
            let d = self.next_discr;
            self.next_discr = self.next_discr.wrapping_add(1);
            if d != 0 && !self.demux.contains(d) && !self.sessions.contains_key(&d) {
                return d;
            }
        }
    }

    /// Sends the session's packets and publishes its state changes.
    fn apply(&mut self, id: u32, actions: Vec<Action>) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        let link = self.links.get(&e.link);
        for action in actions {
            match action {
                Action::Send(p) => {
                    // Straight to the nonblocking socket: tokio's try_send_to
                    // refuses until its reactor has seen the socket writable,
                    // which would lose a new session's first packet.
                    let sent = link
                        .map(|l| socket2::SockRef::from(&l.tx).send_to(&p.encode(), &e.dst.into()));
                    if !matches!(sent, Some(Ok(_))) {
                        e.send_errors += 1;
                    }
                }
                Action::StateChanged(change) => {
                    if change.is_failure() {
                        e.failures += 1;
                    }
                    e.view.send_replace(SessionView {
                        state: change.to,
                        diag: change.diag,
                        last_change: Some(change),
                        failures: e.failures,
                    });
                    // Nobody listening is fine: the watch has it too.
                    let _ = self.events.send(SessionEvent {
                        id: SessionId(id),
                        peer: e.peer,
                        ifname: e.link.0.clone(),
                        change,
                    });
                }
            }
        }
    }

    /// Drops removed sessions that finished announcing AdminDown.
    fn reap(&mut self) {
        let done: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.removing && e.session.is_quiescent())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.drop_session(id);
        }
    }

    fn drop_session(&mut self, id: u32) {
        if let Some(e) = self.sessions.remove(&id) {
            self.demux.remove(id);
            if let Some(l) = self.links.get_mut(&e.link) {
                l.users = l.users.saturating_sub(1);
            }
            self.release_link(&e.link);
        }
    }

    /// Tells every peer we are going away (one AdminDown packet each).
    fn shutdown(&mut self) {
        let now = Instant::now();
        let ids: Vec<u32> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.sessions.get_mut(&id) {
                let actions = e.session.handle(now, Event::AdminDown, &mut self.jitter);
                self.apply(id, actions);
            }
        }
    }

    fn status(&self) -> RunnerStatus {
        let mut sessions: Vec<SessionReport> = self
            .sessions
            .iter()
            .map(|(id, e)| SessionReport {
                id: SessionId(*id),
                peer: e.peer,
                local: e.link.1,
                ifname: e.link.0.clone(),
                removing: e.removing,
                send_errors: e.send_errors,
                status: e.session.status(),
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        RunnerStatus {
            sessions,
            received: self.received,
            dropped: self.dropped.clone(),
            receive_errors: self.receive_errors.load(Ordering::Relaxed),
        }
    }
}

/// A link's receive loop: datagrams with their TTL to the runner.
async fn receive(
    link: LinkId,
    sock: UdpSocket,
    out: mpsc::Sender<Datagram>,
    errors: Arc<AtomicU64>,
) {
    let mut buf = [0u8; crate::packet::MAX_LEN + 1];
    loop {
        if sock.readable().await.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        match sock.try_io(Interest::READABLE, || recv_with_ttl(&sock, &mut buf)) {
            Ok(r) => {
                let d = Datagram {
                    link,
                    src: r.src,
                    ttl: r.ttl,
                    bytes: buf[..r.len].to_vec(),
                };
                if out.send(d).await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                // Never spin on a persistent error.
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Where the jitter and discriminators start: nothing secret is needed, only
/// different values in different processes.
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}
