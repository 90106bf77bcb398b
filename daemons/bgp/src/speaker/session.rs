//! Each peer's session: the pure FSM's actions carried out on sockets, the
//! peer's messages fed back into it, connection collisions (RFC 4271
//! §6.8), and what happens to routes when a session comes up or goes down
//! (graceful restart, RFC 4724 §4.2, as the helper).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use routerd_bfd_core::{Bfd, SessionEvent, SessionSpec};
use routerd_bgp_core::fsm::{self, Action, Event, State, keep_ours_on_collision};
use routerd_bgp_core::wire::{
    AfiSafi, CeaseSubcode, DecodeError, ErrorCode, Frame, HeaderError, MAX_MESSAGE_LEN, Message,
    Negotiated, NextHop, Notification, Open, RouteRefresh, SessionParams, UpdateEncoder,
    encode_keepalive,
};
use routerd_contract::event::NewEvent;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::conn::{self, Conn, PeerId};
use super::peer::{FAMILIES, Peer, Up, is_link_local, open_info};
use super::{CONNECT_TIMEOUT, Input, Speaker};
use crate::net::BGP_PORT;
use crate::spec::PeerSpec;

/// The FSM's codes for a wire NOTIFICATION.
fn codes(n: &Notification) -> fsm::Notification {
    let (code, subcode) = n.code.to_wire();
    fsm::Notification { code, subcode }
}

fn describe(n: &Notification) -> String {
    match n.shutdown_message() {
        Some(m) if !m.is_empty() => format!("{} \"{m}\"", n.code),
        _ => n.code.to_string(),
    }
}

impl Speaker {
    /// Adds a peer and starts its session.
    pub(super) async fn add_peer(&mut self, spec: PeerSpec, dynamic: Option<String>) -> PeerId {
        let id = self.next_peer;
        self.next_peer += 1;
        let peer = Peer::new(id, spec, dynamic, &self.spec);
        self.peers.insert(id, peer);
        self.feed(id, Event::Start).await;
        id
    }

    /// Stops and forgets a peer: a Cease with `subcode`, its routes gone.
    pub(super) async fn remove_peer(&mut self, id: PeerId, subcode: CeaseSubcode) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.notification = Some(Notification::new(ErrorCode::Cease(subcode)));
        }
        self.feed(id, Event::Stop).await;
        // A graceful restart in progress ends with the peer.
        let changes = self.rib.drop_peer(id);
        self.apply_changes(changes);
        if let Some(p) = self.peers.remove(&id) {
            self.totals.malformed.add(&p.counters.malformed);
            if let (Some(h), Some(bfd)) = (p.bfd, &self.bfd) {
                self.bfd_peers.remove(&h.id());
                let _ = bfd.remove(h.id()).await;
            }
        }
    }

    /// Feeds one event to a peer's FSM and carries out what it asks.
    pub(super) async fn feed(&mut self, id: PeerId, event: Event) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let actions = peer.fsm.handle(Instant::now(), event);
        self.act(id, actions).await;
    }

    async fn act(&mut self, id: PeerId, actions: Vec<Action>) {
        for action in actions {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            match action {
                Action::Connect => {
                    self.next_conn += 1;
                    let conn = self.next_conn;
                    let sock = peer.socket(self.spec.asn);
                    let task = conn::spawn_connect(
                        id,
                        conn,
                        sock,
                        peer.spec.port.unwrap_or(BGP_PORT),
                        CONNECT_TIMEOUT,
                        self.inputs_tx.clone(),
                    );
                    if let Some((_, old)) = peer.connecting.replace((conn, task)) {
                        old.abort();
                    }
                }
                Action::SendOpen => {
                    let mut out = Vec::new();
                    peer.open(&self.spec).encode(&mut out);
                    if let Some(c) = &peer.conn {
                        c.send(out);
                    }
                }
                Action::SendKeepalive => {
                    let mut out = Vec::new();
                    encode_keepalive(&mut out);
                    if let Some(c) = &peer.conn {
                        c.send(out);
                    }
                }
                Action::SendNotification(n) => {
                    let wire = peer
                        .notification
                        .take()
                        .filter(|w| codes(w) == n)
                        .unwrap_or_else(|| {
                            Notification::new(ErrorCode::from_wire(n.code, n.subcode))
                        });
                    peer.last_error = Some(format!("sent {}", describe(&wire)));
                    let mut out = Vec::new();
                    wire.encode(&mut out);
                    if let Some(c) = &peer.conn {
                        c.send(out);
                    }
                }
                Action::Disconnect => {
                    peer.conn = None;
                    peer.remote_open = None;
                    if let Some((_, task)) = peer.connecting.take() {
                        task.abort();
                    }
                }
                Action::Established(n) => self.established(id, n).await,
                Action::Down { reason, graceful } => self.down(id, reason, graceful),
                Action::State { from, to } => {
                    peer.state_since = Instant::now();
                    tracing::debug!(peer = %peer.spec.name, ?from, ?to, "session state");
                }
            }
        }
    }

    pub(super) async fn connected(&mut self, id: PeerId, conn: u64, stream: TcpStream) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.connecting.as_ref().map(|(c, _)| *c) != Some(conn) {
            return;
        }
        peer.connecting = None;
        if peer.fsm.state() != State::Connect {
            // The peer's own connection won the race meanwhile.
            return;
        }
        match Conn::start(conn, id, stream, false, self.inputs_tx.clone()) {
            Ok(c) => {
                peer.conn = Some(c);
                self.feed(id, Event::Connected).await;
            }
            Err(e) => {
                peer.last_error = Some(format!("connection: {e}"));
                self.feed(id, Event::ConnectionLost).await;
            }
        }
    }

    pub(super) async fn connect_failed(&mut self, id: PeerId, conn: u64, error: String) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.connecting.as_ref().map(|(c, _)| *c) != Some(conn) {
            return;
        }
        peer.connecting = None;
        tracing::debug!(peer = %peer.spec.name, %error, "connect failed");
        peer.last_error = Some(error);
        self.feed(id, Event::ConnectionLost).await;
    }

    /// A connection on the listener: a configured peer's, a dynamic
    /// range's (a session is made for it), or refused.
    pub(super) async fn accepted(&mut self, stream: TcpStream, remote: SocketAddr) {
        let addr = remote.ip();
        let known = self
            .peers
            .values()
            .find(|p| p.spec.address == addr)
            .map(|p| p.id);
        let id = match known {
            Some(id) => id,
            None => {
                let range = self
                    .spec
                    .dynamic_peers
                    .iter()
                    .find(|d| d.covers(addr))
                    .cloned();
                let Some(range) = range else {
                    self.totals.sessions_refused += 1;
                    tracing::info!(%remote, "connection from an unknown address refused");
                    reject(stream, CeaseSubcode::ConnectionRejected);
                    return;
                };
                let id = self.next_peer;
                self.next_peer += 1;
                let peer = Peer::new(
                    id,
                    range.session(addr),
                    Some(range.name.clone()),
                    &self.spec,
                );
                tracing::info!(peer = %peer.spec.name, "dynamic neighbour connected");
                self.peers.insert(id, peer);
                id
            }
        };
        let local_asn = self.spec.asn;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = crate::net::accepted(&stream, &peer.socket(local_asn)) {
            tracing::warn!(peer = %peer.spec.name, error = %e, "cannot apply TTL rules");
        }
        if peer.halted.is_some() {
            reject(stream, CeaseSubcode::MaximumPrefixesReached);
            return;
        }
        self.next_conn += 1;
        let conn_id = self.next_conn;
        let conn = match Conn::start(conn_id, id, stream, true, self.inputs_tx.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "accepted connection already gone");
                return;
            }
        };
        match peer.fsm.state() {
            State::Idle | State::Connect | State::Active => self.adopt(id, conn).await,
            State::OpenSent | State::OpenConfirm => {
                // Decided when one of the two OPENs tells the peer's
                // identifier (§6.8); a third connection replaces the rival.
                peer.rival = Some(conn);
                self.resolve_collision(id).await;
            }
            State::Established => {
                let graceful = peer
                    .up
                    .as_ref()
                    .is_some_and(|u| u.negotiated.peer_graceful_restart.is_some());
                if graceful {
                    // RFC 4724 §4.2: a new connection from a restarting
                    // peer ends the old session as if it had been lost.
                    tracing::info!(peer = %peer.spec.name, "new connection while Established: the peer restarted");
                    self.feed(id, Event::ConnectionLost).await;
                    self.adopt(id, conn).await;
                } else {
                    send_cease(&conn, CeaseSubcode::ConnectionCollisionResolution);
                }
            }
        }
    }

    /// Makes `conn` the session's connection from Idle, Connect or Active.
    async fn adopt(&mut self, id: PeerId, conn: Conn) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some((_, task)) = peer.connecting.take() {
            task.abort();
        }
        if peer.fsm.state() == State::Idle {
            // Start without connecting out: this connection is the one.
            let actions = peer.fsm.handle(Instant::now(), Event::Start);
            let actions = actions
                .into_iter()
                .filter(|a| *a != Action::Connect)
                .collect();
            self.act(id, actions).await;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some((_, task)) = peer.connecting.take() {
            task.abort();
        }
        peer.conn = Some(conn);
        let event = if peer.fsm.state() == State::Connect {
            Event::Connected
        } else {
            Event::Accepted
        };
        self.feed(id, event).await;
    }

    /// Settles a collision once the peer's BGP Identifier is known from
    /// either connection: the one opened by the higher identifier stays.
    async fn resolve_collision(&mut self, id: PeerId) {
        let local_id = self.spec.router_id;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (Some(main), Some(_)) = (&peer.conn, &peer.rival) else {
            return;
        };
        let peer_id = match (&peer.remote_open, peer.rival_open.as_ref()) {
            (Some(o), _) | (None, Some(o)) => o.bgp_id,
            (None, None) => return,
        };
        let main_is_ours = !main.inbound;
        let keep_main = main_is_ours && keep_ours_on_collision(local_id, peer_id);
        if keep_main {
            if let Some(r) = peer.rival.take() {
                send_cease(&r, CeaseSubcode::ConnectionCollisionResolution);
            }
            peer.rival_open = None;
            return;
        }
        tracing::info!(peer = %peer.spec.name, "connection collision: keeping the peer's connection");
        peer.notification = Some(Notification::new(ErrorCode::Cease(
            CeaseSubcode::ConnectionCollisionResolution,
        )));
        let rival = peer.rival.take();
        let rival_open = peer.rival_open.take();
        self.feed(
            id,
            Event::Error(fsm::Notification {
                code: 6,
                subcode: 7,
            }),
        )
        .await;
        if let Some(r) = rival {
            self.adopt(id, r).await;
            if let Some(o) = rival_open {
                let info = open_info(&o);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.remote_open = Some(o);
                }
                self.feed(id, Event::Open(info)).await;
            }
        }
    }

    async fn open_received(&mut self, id: PeerId, o: Open) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let info = open_info(&o);
        peer.remote_open = Some(o);
        let main = peer.conn.as_ref().map(|c| c.id);
        if peer.rival.is_some() {
            self.resolve_collision(id).await;
            // The rival won: its own OPEN (if it came) was fed already.
            if self
                .peers
                .get(&id)
                .and_then(|p| p.conn.as_ref())
                .map(|c| c.id)
                != main
            {
                return;
            }
        }
        self.feed(id, Event::Open(info)).await;
    }

    pub(super) async fn messages(&mut self, id: PeerId, conn: u64, batch: Vec<u8>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.rival.as_ref().is_some_and(|r| r.id == conn) {
            self.rival_messages(id, &batch).await;
            return;
        }
        for raw in conn::messages(&batch) {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            if peer.conn.as_ref().map(|c| c.id) != Some(conn) {
                return;
            }
            let params = peer
                .up
                .as_ref()
                .map(|u| u.params)
                .unwrap_or(SessionParams::new(true, peer.ebgp(self.spec.asn)));
            let decoded = Frame::parse(raw, MAX_MESSAGE_LEN)
                .map_err(DecodeError::from)
                .and_then(|f| f.decode(&params));
            match decoded {
                Ok(Message::Open(o)) => self.open_received(id, o).await,
                Ok(Message::Update(u)) => {
                    self.feed(id, Event::Update).await;
                    let established = self
                        .peers
                        .get(&id)
                        .is_some_and(|p| p.fsm.state() == State::Established);
                    if established {
                        self.update(id, u);
                        self.check_max_prefixes(id).await;
                    }
                }
                Ok(Message::Keepalive) => self.feed(id, Event::Keepalive).await,
                Ok(Message::Notification(n)) => {
                    tracing::info!(peer = %peer.spec.name, notification = %describe(&n), "NOTIFICATION received");
                    peer.last_error = Some(format!("received {}", describe(&n)));
                    self.feed(id, Event::NotificationReceived(codes(&n))).await;
                }
                Ok(Message::RouteRefresh(rr)) => self.refresh_requested(id, rr),
                Err(e) => {
                    if matches!(e, DecodeError::Update(_)) {
                        peer.counters.malformed.session_reset += 1;
                    }
                    tracing::warn!(peer = %peer.spec.name, error = %e, "bad message");
                    peer.last_error = Some(e.to_string());
                    match e.notification() {
                        Some(n) => {
                            let c = codes(&n);
                            peer.notification = Some(n);
                            self.feed(id, Event::Error(c)).await;
                        }
                        None => {
                            self.feed(
                                id,
                                Event::NotificationReceived(fsm::Notification {
                                    code: 0,
                                    subcode: 0,
                                }),
                            )
                            .await
                        }
                    }
                }
            }
        }
    }

    /// Only an OPEN is expected on a rival connection.
    async fn rival_messages(&mut self, id: PeerId, batch: &[u8]) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let first = conn::messages(batch).next().and_then(|raw| {
            Message::decode(raw, MAX_MESSAGE_LEN, &SessionParams::new(true, true)).ok()
        });
        match first {
            Some(Message::Open(o)) => {
                peer.rival_open = Some(o);
                self.resolve_collision(id).await;
            }
            _ => {
                peer.rival = None;
                peer.rival_open = None;
            }
        }
    }

    pub(super) async fn header_error(&mut self, id: PeerId, conn: u64, error: HeaderError) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.rival.as_ref().is_some_and(|r| r.id == conn) {
            peer.rival = None;
            return;
        }
        if peer.conn.as_ref().map(|c| c.id) != Some(conn) {
            return;
        }
        let n = error.notification();
        peer.last_error = Some(format!("message header: {error}"));
        let c = codes(&n);
        peer.notification = Some(n);
        self.feed(id, Event::Error(c)).await;
    }

    pub(super) async fn closed(&mut self, id: PeerId, conn: u64, error: Option<String>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.rival.as_ref().is_some_and(|r| r.id == conn) {
            peer.rival = None;
            peer.rival_open = None;
            return;
        }
        if peer.conn.as_ref().map(|c| c.id) != Some(conn) {
            return;
        }
        peer.conn = None;
        peer.last_error = Some(match error {
            Some(e) => format!("connection: {e}"),
            None => "the peer closed the connection".into(),
        });
        self.feed(id, Event::ConnectionLost).await;
    }

    /// The session is up: learn the link, send the table, end it with
    /// End-of-RIB per family.
    async fn established(&mut self, id: PeerId, n: fsm::Negotiated) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let (Some(conn), Some(remote_open)) = (&peer.conn, &peer.remote_open) else {
            return;
        };
        let local_open = peer.open(&self.spec);
        let negotiated = Negotiated::new(&local_open, remote_open);
        let params = negotiated.params(n.ebgp);
        let local = conn.local.ip();
        let direct = n.ebgp && peer.spec.ebgp_multihop.is_none();
        let link = self.link_of(local).await;
        let ll = link.as_ref().and_then(|l| l.link_local).filter(|_| direct);
        let next_hop_v4 = match local {
            IpAddr::V4(a) => Some(NextHop::V4(a)),
            IpAddr::V6(a) if negotiated.ipv4_extended_next_hop => Some(v6_next_hop(a, ll, &link)),
            IpAddr::V6(_) => link.as_ref().and_then(|l| l.v4).map(NextHop::V4),
        };
        let next_hop_v6 = match local {
            IpAddr::V6(a) => Some(v6_next_hop(a, ll, &link)),
            IpAddr::V4(_) => link.as_ref().and_then(|l| l.v6).map(|global| NextHop::V6 {
                global,
                link_local: ll,
            }),
        };
        let stale = self
            .spec
            .graceful_restart
            .as_ref()
            .map(|g| g.stale_path_time_secs);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        tracing::info!(peer = %peer.spec.name, families = ?negotiated.families, "session established");
        peer.up = Some(Up {
            encoder: UpdateEncoder::new(params),
            params,
            ebgp: n.ebgp,
            peer_id: n.peer_id,
            next_hop_v4,
            next_hop_v6,
            ifindex: link.as_ref().map(|l| l.ifindex),
            ifname: link.as_ref().map(|l| l.ifname.clone()),
            end_of_rib: Vec::new(),
            disabled: Vec::new(),
            since: Instant::now(),
            negotiated,
        });
        let mut not_preserved = Vec::new();
        if peer.restart.restart_until.take().is_some() {
            peer.restart.stale_until =
                Some(Instant::now() + Duration::from_secs(u64::from(stale.unwrap_or(360))));
            // RFC 4724 §4.2: families the new OPEN does not list with the
            // F bit lost their forwarding state: their stale routes go now,
            // the others wait for End-of-RIB.
            let gr = peer.remote_open.as_ref().and_then(|o| {
                o.capabilities.iter().find_map(|c| match c {
                    routerd_bgp_core::wire::Capability::GracefulRestart(g) => Some(g.clone()),
                    _ => None,
                })
            });
            for f in FAMILIES {
                let kept = gr.as_ref().is_some_and(|g| {
                    g.families
                        .iter()
                        .any(|x| x.afi_safi == f && x.forwarding_preserved)
                });
                if !kept {
                    not_preserved.push(f);
                }
            }
        }
        for f in not_preserved {
            self.sweep_stale_family(id, f, "the restarted peer kept no forwarding state");
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let event = NewEvent::new("bgp.session.established", "Established")
            .resource(peer.spec.resource.clone())
            .message(format!("{} Established", peer.spec.name))
            .attr("peer", peer.spec.name.clone())
            .attr("address", peer.spec.address.to_string())
            .attr("peerAsn", n.peer_asn)
            .attr("peerId", n.peer_id.to_string());
        self.event(event);
        self.start_bfd(id, local).await;
        self.advertise_all(id);
        if let Some(peer) = self.peers.get_mut(&id)
            && let (Some(up), Some(c)) = (&peer.up, &peer.conn)
        {
            let mut out = Vec::new();
            for f in FAMILIES {
                if up.carries(f) {
                    up.encoder.end_of_rib(f, &mut out);
                }
            }
            c.send(out);
        }
    }

    /// The session left Established. A peer that may restart gracefully
    /// keeps its routes as stale; any other loses them at once.
    fn down(&mut self, id: PeerId, reason: String, graceful: bool) {
        let helper = self.spec.graceful_restart.is_some();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let peer_gr = peer
            .up
            .as_ref()
            .and_then(|u| u.negotiated.peer_graceful_restart.as_ref());
        let restart_time = peer_gr.map(|g| g.restart_time);
        // Only the families its capability lists are kept (RFC 4724 §4.2);
        // a capability listing none keeps nothing.
        let listed: Vec<AfiSafi> = peer_gr
            .map(|g| g.families.iter().map(|f| f.afi_safi).collect())
            .unwrap_or_default();
        peer.session_ended();
        peer.last_down = Some(reason.clone());
        let keep = graceful && helper && restart_time.is_some_and(|t| t > 0) && !listed.is_empty();
        let event = NewEvent::new(
            "bgp.session.down",
            if keep { "GracefulRestart" } else { "Down" },
        )
        .resource(peer.spec.resource.clone())
        .message(format!("{} down: {reason}", peer.spec.name))
        .attr("peer", peer.spec.name.clone())
        .attr("address", peer.spec.address.to_string())
        .attr("graceful", keep);
        tracing::info!(peer = %peer.spec.name, %reason, graceful = keep, "session down");
        if keep {
            let t = Duration::from_secs(u64::from(restart_time.unwrap_or(0)));
            peer.restart.restart_until = Some(Instant::now() + t);
            peer.restart.stale_until = None;
            peer.rejected.clear();
            let n = self.rib.mark_stale(id);
            tracing::info!(peer = %peer.spec.name, stale = n, "keeping routes through the peer's restart");
            self.event(event.attr("staleRoutes", n));
            for f in FAMILIES {
                if !listed.contains(&f) {
                    self.sweep_stale_family(
                        id,
                        f,
                        "its graceful restart does not cover the family",
                    );
                }
            }
        } else {
            peer.restart = Default::default();
            peer.accepted = 0;
            peer.rejected.clear();
            self.event(event);
            let changes = self.rib.drop_peer(id);
            self.apply_changes(changes);
            self.interner.sweep();
        }
    }

    /// Graceful restart deadlines: a peer that did not come back in its
    /// restart time, or did not finish within the stale-path time.
    pub(super) fn restart_timers(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| {
                p.restart.restart_until.is_some_and(|t| t <= now)
                    || p.restart.stale_until.is_some_and(|t| t <= now)
            })
            .map(|p| p.id)
            .collect();
        for id in due {
            self.sweep_stale(id, "the restart or stale-path time ran out");
        }
    }

    /// Drops one family's stale routes of a peer (RFC 4724 works per
    /// AFI/SAFI), leaving its restart state to the caller.
    pub(super) fn sweep_stale_family(&mut self, id: PeerId, f: AfiSafi, why: &str) {
        let stale: Vec<ipnet::IpNet> = self
            .rib
            .peer_paths(id)
            .filter(|(p, path)| path.stale && super::import::family(p) == f)
            .map(|(p, _)| *p)
            .collect();
        if stale.is_empty() {
            return;
        }
        let mut gone = 0usize;
        for p in stale {
            if self.withdraw_path(p, id) {
                gone += 1;
            }
        }
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.accepted = peer.accepted.saturating_sub(gone);
            tracing::info!(peer = %peer.spec.name, family = %f, gone, "stale routes swept: {why}");
        }
        self.interner.sweep();
    }

    pub(super) fn sweep_stale(&mut self, id: PeerId, why: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.restart = Default::default();
        let changes = self.rib.sweep_stale(id);
        let gone = changes.len();
        tracing::info!(peer = %peer.spec.name, gone, "stale routes swept: {why}");
        // The count of accepted prefixes loses the swept ones.
        peer.accepted = self.rib.peer_paths(id).count();
        self.apply_changes(changes);
        self.interner.sweep();
    }

    /// Dynamic sessions that ended and hold nothing are forgotten.
    pub(super) fn forget_idle_dynamic_peers(&mut self) {
        let idle: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| {
                p.dynamic.is_some()
                    && p.conn.is_none()
                    && p.rival.is_none()
                    && matches!(p.fsm.state(), State::Idle | State::Active)
                    && !p.restart.active()
                    && p.state_since.elapsed() > Duration::from_secs(1)
            })
            .map(|p| p.id)
            .collect();
        for id in idle {
            if let Some(p) = self.peers.remove(&id) {
                tracing::info!(peer = %p.spec.name, "dynamic neighbour forgotten");
                self.totals.malformed.add(&p.counters.malformed);
                let changes = self.rib.drop_peer(id);
                self.apply_changes(changes);
                if let Some(h) = p.bfd {
                    self.bfd_peers.remove(&h.id());
                }
            }
        }
    }

    /// More accepted prefixes than allowed: Cease/1 and no automatic
    /// restart (RFC 4486; a renew or reload starts it again).
    pub(super) async fn check_max_prefixes(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(max) = peer.spec.max_prefixes else {
            return;
        };
        if peer.accepted <= max as usize {
            return;
        }
        let why = format!("{} prefixes accepted, at most {max} allowed", peer.accepted);
        tracing::warn!(peer = %peer.spec.name, "{why}: closing the session");
        peer.counters.max_prefix_hits += 1;
        peer.halted = Some(why.clone());
        peer.notification = Some(Notification::new(ErrorCode::Cease(
            CeaseSubcode::MaximumPrefixesReached,
        )));
        let event = NewEvent::new("bgp.session.maxprefix", "MaxPrefixes")
            .resource(peer.spec.resource.clone())
            .message(format!("{}: {why}", peer.spec.name))
            .attr("peer", peer.spec.name.clone())
            .attr("accepted", peer.accepted)
            .attr("maxPrefixes", max);
        self.event(event);
        self.feed(id, Event::Error(fsm::Notification::MAX_PREFIXES))
            .await;
        self.feed(id, Event::Stop).await;
    }

    /// The peer asked for our routes again (RFC 2918): resend its
    /// Adj-RIB-Out for the family.
    fn refresh_requested(&mut self, id: PeerId, rr: RouteRefresh) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.counters.refreshes_received += 1;
        if peer.up.is_none() {
            return;
        }
        tracing::info!(peer = %peer.spec.name, family = %rr.afi_safi, "route refresh requested");
        self.resend_adj_out(id, rr.afi_safi);
    }

    /// `renew`: ask peers for their routes again; restart halted ones.
    pub(super) async fn refresh(
        &mut self,
        who: Option<&str>,
    ) -> routerd_contract::server::CommandOutcome {
        use routerd_contract::server::CommandOutcome;
        let ids: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| {
                who.is_none_or(|w| {
                    p.spec.name == w || p.spec.address.to_string() == w || p.spec.resource == w
                })
            })
            .map(|p| p.id)
            .collect();
        if ids.is_empty() {
            return CommandOutcome::Failed(format!("no peer {}", who.unwrap_or("configured")));
        }
        let mut refreshed = Vec::new();
        let mut restarted = Vec::new();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.halted.take().is_some() || peer.fsm.state() == State::Idle {
                restarted.push(peer.spec.name.clone());
                self.feed(id, Event::Start).await;
                continue;
            }
            let (Some(up), Some(c)) = (&peer.up, &peer.conn) else {
                continue;
            };
            if !up.negotiated.route_refresh {
                continue;
            }
            let mut out = Vec::new();
            for f in FAMILIES {
                if up.carries(f) {
                    RouteRefresh::request(f).encode(&mut out);
                    peer.counters.refreshes_sent += 1;
                }
            }
            c.send(out);
            refreshed.push(peer.spec.name.clone());
        }
        CommandOutcome::Done(serde_json::json!({"refreshed": refreshed, "restarted": restarted}))
    }

    /// Starts BFD for a peer that has it configured, once its session tells
    /// which link and address to use.
    async fn start_bfd(&mut self, id: PeerId, local: IpAddr) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let (Some(b), None, Some(ifname)) = (
            peer.spec.bfd.clone(),
            &peer.bfd,
            peer.up.as_ref().and_then(|u| u.ifname.clone()),
        ) else {
            return;
        };
        let spec = SessionSpec {
            peer: peer.spec.address,
            local,
            ifname,
            params: b.params(),
        };
        let bfd = match &self.bfd {
            Some(bfd) => bfd.clone(),
            None => {
                let bfd = Bfd::spawn();
                let mut rx = bfd.subscribe();
                let inputs = self.inputs_tx.clone();
                tokio::spawn(async move {
                    use tokio::sync::broadcast::error::RecvError;
                    loop {
                        match rx.recv().await {
                            Ok(ev) => {
                                if inputs.send(Input::Bfd(ev)).is_err() {
                                    return;
                                }
                            }
                            Err(RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "BFD events lagged")
                            }
                            Err(RecvError::Closed) => return,
                        }
                    }
                });
                self.bfd = Some(bfd.clone());
                bfd
            }
        };
        match bfd.add_session(spec).await {
            Ok(h) => {
                self.bfd_peers.insert(h.id(), id);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.bfd_failures_seen = h.view().failures;
                    p.bfd = Some(h);
                }
            }
            Err(e) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    tracing::warn!(peer = %p.spec.name, error = %e, "cannot start BFD");
                    p.last_error = Some(format!("BFD: {e}"));
                }
            }
        }
    }

    /// BFD saw the path fail: the session goes down now, with its routes
    /// (RFC 5882 §4.2; Cease/10, RFC 9384).
    pub(super) async fn bfd_event(&mut self, ev: SessionEvent) {
        if !ev.change.is_failure() {
            return;
        }
        let Some(&id) = self.bfd_peers.get(&ev.id) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.bfd_failures_seen += 1;
        if peer.fsm.state() != State::Established {
            return;
        }
        peer.counters.bfd_downs += 1;
        tracing::warn!(peer = %peer.spec.name, "BFD down: closing the session");
        let event = NewEvent::new("bgp.bfd.down", "BfdDown")
            .resource(peer.spec.resource.clone())
            .message(format!("{}: BFD detected a path failure", peer.spec.name))
            .attr("peer", peer.spec.name.clone())
            .attr("diag", format!("{:?}", ev.change.diag));
        peer.notification = Some(Notification::new(ErrorCode::Cease(CeaseSubcode::BfdDown)));
        self.event(event);
        self.feed(
            id,
            Event::Error(fsm::Notification {
                code: 6,
                subcode: 10,
            }),
        )
        .await;
        // The routes leave the kernel now, not after this turn's batching
        // delay: BFD is here for speed.
        self.fib.maybe_flush(true);
    }
}

/// Our IPv6 next hop from a session address: a link-local session
/// address needs a global one from the link.
fn v6_next_hop(
    local: std::net::Ipv6Addr,
    ll: Option<std::net::Ipv6Addr>,
    link: &Option<super::kernel::LinkAddrs>,
) -> NextHop {
    if is_link_local(&local) {
        match link.as_ref().and_then(|l| l.v6) {
            Some(global) => NextHop::V6 {
                global,
                link_local: Some(local),
            },
            None => NextHop::V6 {
                global: local,
                link_local: None,
            },
        }
    } else {
        NextHop::V6 {
            global: local,
            link_local: ll,
        }
    }
}

fn send_cease(conn: &Conn, subcode: CeaseSubcode) {
    let mut out = Vec::new();
    Notification::new(ErrorCode::Cease(subcode)).encode(&mut out);
    conn.send(out);
}

/// Answers a refused connection with a Cease and closes it.
fn reject(mut stream: TcpStream, subcode: CeaseSubcode) {
    tokio::spawn(async move {
        let mut out = Vec::new();
        Notification::new(ErrorCode::Cease(subcode)).encode(&mut out);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}
