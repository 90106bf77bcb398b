//! The DHCPv4 client as a pure state machine (RFC 2131 §4.4, figure 5).
//!
//! Events and `now` in, [`Action`]s out; [`Client::next_deadline`] says when
//! to deliver [`Event::Timer`] next. Replies arrive already parsed into
//! [`Reply`] (the codec lives at the edge), so the same machine is driven by
//! packets in virtual-time tests and by sockets in the daemon.
//!
//! Phases (the `Debug` names are what status and events show):
//!
//! | phase        | RFC 2131 state | what the client is doing |
//! |--------------|----------------|--------------------------|
//! | `Init`       | INIT           | waiting to send DHCPDISCOVER (start delay, NAK backoff) |
//! | `Selecting`  | SELECTING      | DHCPDISCOVER sent, waiting for an OFFER |
//! | `Requesting` | REQUESTING     | REQUEST for the offer sent, waiting for ACK/NAK |
//! | `Rebooting`  | INIT-REBOOT, REBOOTING | REQUEST for a stored lease's address sent |
//! | `Bound`      | BOUND          | holding a lease until T1 |
//! | `Renewing`   | RENEWING       | T1 passed: REQUEST unicast to the server |
//! | `Rebinding`  | REBINDING      | T2 passed: REQUEST broadcast to any server |
//! | `Expired`    | —              | the lease time ended (passed through on the way to `Init`) |
//! | `Stopped`    | —              | stopped (after RELEASE, if asked) |
//!
//! Choices where the RFC leaves room, and why:
//! - The first OFFER that makes sense is taken (§4.4.1 allows waiting for
//!   more; a router's WAN link normally has one server).
//! - A REQUEST for an offer is sent at most [`REQUEST_MAX_SENDS`] times, an
//!   INIT-REBOOT REQUEST [`REBOOT_MAX_SENDS`] times (4 s, 8 s, 16 s ...
//!   apart); then the client starts again with DHCPDISCOVER. A stored lease
//!   whose INIT-REBOOT goes unanswered is dropped ([`Action::Lost`]) rather
//!   than used unconfirmed (§3.2 would allow using it).
//! - After a DHCPNAK the client discovers again at once (§3.1, §4.4.1); a
//!   second NAK in a row waits 4 s, then 8 s, up to 64 s, so a server that
//!   NAKs everything cannot drive a packet storm.
//! - An ACK in RENEWING/REBINDING/REBOOTING for a different address than
//!   the one held is ignored: the lease runs out or a NAK comes.
//! - No DHCPDECLINE: the client does not ARP-probe the offered address
//!   (§2.2 "SHOULD"); a router's WAN address is the server's to get right.
//! - The lease is counted from the first transmission of the REQUEST that
//!   got the ACK (§4.4.1: "the time at which the original request was
//!   sent"), never from the ACK's arrival: never longer than granted.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use crate::message::{
    Destination, Identity, LeaseOptions, MessageKind, Outgoing, Reply, ReplyKind,
};
use crate::retransmit::{Backoff, Jitter, MAX_WAIT, extend_wait, random_delay};
use crate::timers::{LeaseTimes, Timers};

/// Transmissions of a REQUEST for an offer before starting over.
pub const REQUEST_MAX_SENDS: u32 = 4;
/// Transmissions of an INIT-REBOOT REQUEST before starting over.
pub const REBOOT_MAX_SENDS: u32 = 3;

/// The client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// MAC, client id, hostname, vendor class.
    pub identity: Identity,
    /// An address to ask for in DHCPDISCOVER (option 50), if any.
    pub requested_address: Option<Ipv4Addr>,
    /// Upper bound of the random wait before the first DHCPDISCOVER
    /// (§4.4.1 suggests 1-10 s to desynchronise many clients).
    pub start_delay_max: Duration,
    /// Set the BROADCAST flag while the client has no address: only for a
    /// client that cannot receive unicast before it has one (§4.1).
    pub broadcast_flag: bool,
}

impl ClientConfig {
    /// Defaults for `identity`: nothing requested, no start delay, no
    /// BROADCAST flag.
    pub fn new(identity: Identity) -> ClientConfig {
        ClientConfig {
            identity,
            requested_address: None,
            start_delay_max: Duration::ZERO,
            broadcast_flag: false,
        }
    }
}

/// Where the client is (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// About to discover.
    Init,
    /// DHCPDISCOVER sent.
    Selecting,
    /// Requesting an offered address.
    Requesting,
    /// Confirming a stored lease (INIT-REBOOT).
    Rebooting,
    /// Holding a lease.
    Bound,
    /// Extending with the server that granted it.
    Renewing,
    /// Extending with any server.
    Rebinding,
    /// The lease ran out.
    Expired,
    /// Stopped.
    Stopped,
}

/// The lease the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address (`yiaddr`).
    pub address: Ipv4Addr,
    /// The server that granted or last extended it.
    pub server_id: Ipv4Addr,
    /// Its configuration.
    pub options: LeaseOptions,
    /// Lease time, T1, T2 as the server sent them.
    pub times: LeaseTimes,
    /// The timers in use (repaired if the server's made no sense).
    pub timers: Timers,
    /// When the REQUEST that got it was first sent.
    pub obtained: Instant,
}

impl Lease {
    fn at(&self, d: Option<Duration>) -> Option<Instant> {
        d.map(|d| self.obtained + d)
    }

    /// T1 (`None`: never).
    pub fn renew_at(&self) -> Option<Instant> {
        self.at(self.timers.renew)
    }

    /// T2 (`None`: never).
    pub fn rebind_at(&self) -> Option<Instant> {
        self.at(self.timers.rebind)
    }

    /// When the address must go (`None`: never).
    pub fn expires_at(&self) -> Option<Instant> {
        self.at(self.timers.expire)
    }

    /// The address with its prefix length.
    pub fn network(&self) -> Ipv4Net {
        self.options.network(self.address)
    }
}

/// What the machine asks of its edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Transmit a message.
    Send(Outgoing),
    /// The phase changed.
    Phase {
        /// Before.
        from: Phase,
        /// After.
        to: Phase,
        /// Why, for events.
        reason: String,
    },
    /// A lease was granted or extended: store it, install or refresh it.
    Bound(Lease),
    /// The lease is gone (expired, refused, released, unconfirmed): its
    /// address and routes must go.
    Lost {
        /// The address that was leased.
        address: Ipv4Addr,
        /// Why.
        reason: String,
    },
    /// A server refused (DHCPNAK).
    Nak {
        /// The server, if it said.
        server_id: Option<Ipv4Addr>,
        /// Its message (option 56), if any.
        message: Option<String>,
    },
}

/// Inputs.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Start acquiring (or confirming a stored lease).
    Start,
    /// A deadline passed.
    Timer,
    /// A reply arrived.
    Received(&'a Reply),
    /// Stop; with `release`, give the lease back first.
    Stop {
        /// Send DHCPRELEASE.
        release: bool,
    },
}

/// Counters for status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages sent, retransmissions included.
    pub sent: u64,
    /// Replies acted on.
    pub accepted: u64,
    /// Replies ignored (another transaction or client, the wrong phase, an
    /// unusable offer).
    pub ignored: u64,
    /// Packets that did not parse (counted by the edge, see
    /// [`Client::note_malformed`]).
    pub malformed: u64,
    /// DHCPNAKs acted on.
    pub naks: u64,
    /// Leases whose T1/T2 were repaired or whose option 121 was refused.
    pub repaired: u64,
}

/// One message exchange in progress.
#[derive(Debug, Clone)]
struct Exchange {
    out: Outgoing,
    /// First transmission of this message: the lease starts here.
    started: Instant,
    /// Start of the acquisition or renewal: `secs` counts from here.
    secs_from: Instant,
    sent: u32,
    next: Instant,
    backoff: Backoff,
}

/// The client.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ClientConfig,
    phase: Phase,
    started: bool,
    lease: Option<Lease>,
    exchange: Option<Exchange>,
    /// When to send the next DHCPDISCOVER (in `Init`).
    discover_at: Option<Instant>,
    /// The offer being requested: (yiaddr, server).
    offered: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The last lease's address, asked for again after it expired.
    last_address: Option<Ipv4Addr>,
    naks_in_a_row: u32,
    counters: Counters,
    xid_seq: u32,
}

/// Whether `a` can be a host's unicast address.
pub fn usable_address(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || first == 0
        || first >= 240)
}

impl Client {
    /// A client that has not started; `restored` is a lease from the
    /// previous run that the edge already checked (same interface and
    /// client id, still valid).
    pub fn new(cfg: ClientConfig, restored: Option<Lease>) -> Client {
        Client {
            cfg,
            phase: Phase::Init,
            started: false,
            lease: restored,
            exchange: None,
            discover_at: None,
            offered: None,
            last_address: None,
            naks_in_a_row: 0,
            counters: Counters::default(),
            xid_seq: 0,
        }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The lease held (in `Rebooting`: the stored one, not yet confirmed).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Counts a packet the edge could not parse.
    pub fn note_malformed(&mut self) {
        self.counters.malformed += 1;
    }

    /// When to deliver the next [`Event::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut times: Vec<Instant> = Vec::new();
        if self.phase == Phase::Init {
            times.extend(self.discover_at);
        }
        times.extend(self.exchange.as_ref().map(|e| e.next));
        if let Some(l) = &self.lease {
            match self.phase {
                Phase::Bound => times.extend(l.renew_at().or(l.expires_at())),
                Phase::Renewing => times.extend(l.rebind_at().or(l.expires_at())),
                Phase::Rebinding | Phase::Rebooting => times.extend(l.expires_at()),
                _ => {}
            }
        }
        times.into_iter().min()
    }

    /// Renews at once (an operator's `renew`): from `Bound`, the same as
    /// reaching T1 now. Nothing happens in any other phase.
    pub fn renew_now(&mut self, now: Instant, jitter: &mut dyn Jitter) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Bound && self.lease.is_some() {
            self.renew(now, "renew asked for", jitter, &mut out);
        }
        out
    }

    /// Handles one event at `now`.
    pub fn handle(
        &mut self,
        now: Instant,
        event: Event<'_>,
        jitter: &mut dyn Jitter,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.start(now, jitter, &mut out),
            Event::Timer => self.timer(now, jitter, &mut out),
            Event::Received(r) => self.receive(now, r, jitter, &mut out),
            Event::Stop { release } => self.stop(release, jitter, &mut out),
        }
        out
    }

    fn set_phase(&mut self, to: Phase, reason: impl Into<String>, out: &mut Vec<Action>) {
        if self.phase != to {
            out.push(Action::Phase {
                from: self.phase,
                to,
                reason: reason.into(),
            });
            self.phase = to;
        }
    }

    fn next_xid(&mut self, jitter: &mut dyn Jitter) -> u32 {
        use routerd_dhcpv6_core::retransmit::transaction_id;
        self.xid_seq = self.xid_seq.wrapping_add(1);
        let a = transaction_id(self.xid_seq, jitter);
        let b = transaction_id(self.xid_seq.rotate_left(16), jitter);
        u32::from_be_bytes([a[0], a[1], a[2], b[2]])
    }

    /// Sends `out` now and keeps it as the exchange in progress, the next
    /// transmission after `wait` (or, with `None`, the §4.1 backoff).
    fn send(
        &mut self,
        now: Instant,
        out: Outgoing,
        secs_from: Instant,
        wait: Option<Duration>,
        jitter: &mut dyn Jitter,
        actions: &mut Vec<Action>,
    ) {
        let mut backoff = Backoff::new();
        let wait = wait.unwrap_or_else(|| backoff.next_wait(jitter));
        self.counters.sent += 1;
        actions.push(Action::Send(out.clone()));
        self.exchange = Some(Exchange {
            out,
            started: now,
            secs_from,
            sent: 1,
            next: now + wait,
            backoff,
        });
    }

    fn outgoing(&self, kind: MessageKind, to: Destination, xid: u32) -> Outgoing {
        Outgoing {
            kind,
            to,
            xid,
            secs: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
            broadcast_flag: self.cfg.broadcast_flag,
        }
    }

    fn start(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        if self.started && self.phase != Phase::Stopped {
            return;
        }
        self.started = true;
        if self.phase == Phase::Stopped {
            self.set_phase(Phase::Init, "started again", out);
        }
        let Some(lease) = self.lease.clone() else {
            let delay = random_delay(self.cfg.start_delay_max, jitter);
            self.discover_after(now, delay, jitter, out);
            return;
        };
        if lease.expires_at().is_some_and(|e| now >= e) {
            self.drop_lease("the stored lease has expired", out);
            self.discover_after(now, Duration::ZERO, jitter, out);
            return;
        }
        // INIT-REBOOT (§3.2, §4.4.2): ask for the stored address, no server id.
        let xid = self.next_xid(jitter);
        let request = Outgoing {
            requested: Some(lease.address),
            ..self.outgoing(MessageKind::Request, Destination::Broadcast, xid)
        };
        self.set_phase(Phase::Rebooting, "started with a stored lease", out);
        self.send(now, request, now, None, jitter, out);
    }

    /// To `Init`, with DHCPDISCOVER after `delay` (at once when zero).
    fn discover_after(
        &mut self,
        now: Instant,
        delay: Duration,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        self.exchange = None;
        self.offered = None;
        if delay.is_zero() {
            self.discover(now, jitter, out);
        } else {
            self.discover_at = Some(now + delay);
        }
    }

    fn discover(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        self.discover_at = None;
        let xid = self.next_xid(jitter);
        let discover = Outgoing {
            requested: self.cfg.requested_address.or(self.last_address),
            ..self.outgoing(MessageKind::Discover, Destination::Broadcast, xid)
        };
        self.set_phase(Phase::Selecting, "DHCPDISCOVER sent", out);
        self.send(now, discover, now, None, jitter, out);
    }

    fn drop_lease(&mut self, reason: &str, out: &mut Vec<Action>) {
        if let Some(l) = self.lease.take() {
            out.push(Action::Lost {
                address: l.address,
                reason: reason.into(),
            });
        }
    }

    fn renew(&mut self, now: Instant, why: &str, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        let Some(l) = &self.lease else { return };
        let (address, server) = (l.address, l.server_id);
        let left = l
            .rebind_at()
            .map_or(MAX_WAIT, |t2| t2.saturating_duration_since(now));
        let xid = self.next_xid(jitter);
        let request = Outgoing {
            ciaddr: address,
            broadcast_flag: false,
            ..self.outgoing(MessageKind::Request, Destination::Unicast(server), xid)
        };
        self.set_phase(Phase::Renewing, why, out);
        self.send(now, request, now, Some(extend_wait(left)), jitter, out);
    }

    fn rebind(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        let Some(l) = &self.lease else { return };
        let address = l.address;
        let left = l
            .expires_at()
            .map_or(MAX_WAIT, |e| e.saturating_duration_since(now));
        let xid = self.next_xid(jitter);
        let request = Outgoing {
            ciaddr: address,
            broadcast_flag: false,
            ..self.outgoing(MessageKind::Request, Destination::Broadcast, xid)
        };
        self.set_phase(Phase::Rebinding, "T2 reached", out);
        self.send(now, request, now, Some(extend_wait(left)), jitter, out);
    }

    fn timer(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        // The lease's end comes first, whatever is in flight (§4.4.5).
        let held = matches!(
            self.phase,
            Phase::Bound | Phase::Renewing | Phase::Rebinding | Phase::Rebooting
        );
        if held
            && let Some(l) = &self.lease
            && l.expires_at().is_some_and(|e| now >= e)
        {
            self.last_address = Some(l.address);
            self.exchange = None;
            self.drop_lease("the lease time ended", out);
            self.set_phase(Phase::Expired, "lease time ended without a DHCPACK", out);
            self.set_phase(Phase::Init, "lease expired", out);
            self.discover_after(now, Duration::ZERO, jitter, out);
            return;
        }
        match self.phase {
            Phase::Init => {
                if self.discover_at.is_some_and(|t| now >= t) {
                    self.discover(now, jitter, out);
                }
            }
            Phase::Bound => {
                let Some(l) = &self.lease else { return };
                if l.renew_at().is_some_and(|t| now >= t) {
                    if l.rebind_at().is_some_and(|t| now >= t) {
                        self.rebind(now, jitter, out);
                    } else {
                        self.renew(now, "T1 reached", jitter, out);
                    }
                }
            }
            Phase::Renewing => {
                let t2 = self.lease.as_ref().and_then(Lease::rebind_at);
                if t2.is_some_and(|t| now >= t) {
                    self.rebind(now, jitter, out);
                } else {
                    let left = t2.map_or(MAX_WAIT, |t| t - now);
                    self.retransmit(now, Some(extend_wait(left)), jitter, out);
                }
            }
            Phase::Rebinding => {
                let left = self
                    .lease
                    .as_ref()
                    .and_then(Lease::expires_at)
                    .map_or(MAX_WAIT, |e| e.saturating_duration_since(now));
                self.retransmit(now, Some(extend_wait(left)), jitter, out);
            }
            Phase::Selecting => self.retransmit(now, None, jitter, out),
            Phase::Requesting | Phase::Rebooting => {
                let (max, what) = if self.phase == Phase::Requesting {
                    (REQUEST_MAX_SENDS, "no DHCPACK for the offered address")
                } else {
                    (REBOOT_MAX_SENDS, "no reply to INIT-REBOOT")
                };
                let due = self.exchange.as_ref().filter(|e| now >= e.next);
                if due.is_some_and(|e| e.sent >= max) {
                    self.drop_lease(what, out);
                    self.set_phase(Phase::Init, what, out);
                    self.discover_after(now, Duration::ZERO, jitter, out);
                } else {
                    self.retransmit(now, None, jitter, out);
                }
            }
            Phase::Expired | Phase::Stopped => {}
        }
    }

    /// Sends the exchange's message again if it is due; the next wait is
    /// `wait`, or the §4.1 backoff.
    fn retransmit(
        &mut self,
        now: Instant,
        wait: Option<Duration>,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        let Some(e) = &mut self.exchange else { return };
        if now < e.next {
            return;
        }
        let secs = now.saturating_duration_since(e.secs_from).as_secs();
        e.out.secs = u16::try_from(secs).unwrap_or(u16::MAX);
        let wait = wait.unwrap_or_else(|| e.backoff.next_wait(jitter));
        e.sent += 1;
        e.next = now + wait;
        self.counters.sent += 1;
        out.push(Action::Send(e.out.clone()));
    }

    fn stop(&mut self, release: bool, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        self.discover_at = None;
        self.exchange = None;
        self.offered = None;
        let held = matches!(
            self.phase,
            Phase::Bound | Phase::Renewing | Phase::Rebinding | Phase::Rebooting
        );
        if release
            && held
            && let Some(l) = self.lease.clone()
        {
            // Stop using the address before giving it back (§4.4.6).
            self.drop_lease("released", out);
            let xid = self.next_xid(jitter);
            let release = Outgoing {
                ciaddr: l.address,
                server_id: Some(l.server_id),
                broadcast_flag: false,
                ..self.outgoing(MessageKind::Release, Destination::Unicast(l.server_id), xid)
            };
            // Not retransmitted, and no reply comes (§4.4.6).
            self.counters.sent += 1;
            out.push(Action::Send(release));
            self.set_phase(Phase::Stopped, "stopped; lease released", out);
            return;
        }
        self.set_phase(Phase::Stopped, "stopped", out);
    }

    fn ours(&self, r: &Reply) -> bool {
        let id = &self.cfg.identity;
        let xid_ok = self.exchange.as_ref().is_some_and(|e| e.out.xid == r.xid);
        // A server that echoes the client id must echo ours (RFC 6842 §3).
        let client_ok = r.client_id.as_ref().is_none_or(|c| *c == id.client_id);
        xid_ok && r.chaddr == id.mac && client_ok
    }

    fn receive(&mut self, now: Instant, r: &Reply, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        if !self.ours(r) {
            self.counters.ignored += 1;
            return;
        }
        match (self.phase, r.kind) {
            (Phase::Selecting, ReplyKind::Offer) => self.offer(now, r, jitter, out),
            (Phase::Requesting, ReplyKind::Ack) => {
                let ok = self
                    .offered
                    .is_some_and(|(a, s)| a == r.yiaddr && r.server_id == Some(s));
                self.ack_if(ok, r, "bound", out);
            }
            (Phase::Rebooting | Phase::Renewing | Phase::Rebinding, ReplyKind::Ack) => {
                let ok = self.lease.as_ref().is_some_and(|l| l.address == r.yiaddr);
                let why = match self.phase {
                    Phase::Rebooting => "stored lease confirmed",
                    Phase::Renewing => "renewed",
                    _ => "rebound",
                };
                self.ack_if(ok, r, why, out);
            }
            (Phase::Requesting, ReplyKind::Nak)
                if r.server_id
                    .is_some_and(|s| self.offered.is_some_and(|(_, o)| o != s)) =>
            {
                // Another server's NAK does not speak for the one chosen.
                self.counters.ignored += 1;
            }
            (
                Phase::Requesting | Phase::Rebooting | Phase::Renewing | Phase::Rebinding,
                ReplyKind::Nak,
            ) => self.nak(now, r, jitter, out),
            _ => self.counters.ignored += 1,
        }
    }

    fn offer(&mut self, now: Instant, r: &Reply, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        let Some(server) = r.server_id.filter(|s| usable_address(*s)) else {
            self.counters.ignored += 1;
            return;
        };
        if !usable_address(r.yiaddr) || Timers::from_reply(r.times).is_err() {
            self.counters.ignored += 1;
            return;
        }
        self.counters.accepted += 1;
        self.offered = Some((r.yiaddr, server));
        let Some(e) = &self.exchange else { return };
        // Same xid as the DISCOVER and OFFER (Table 5); secs keeps counting.
        let secs_from = e.secs_from;
        let secs = now.saturating_duration_since(secs_from).as_secs();
        let request = Outgoing {
            requested: Some(r.yiaddr),
            server_id: Some(server),
            secs: u16::try_from(secs).unwrap_or(u16::MAX),
            ..self.outgoing(MessageKind::Request, Destination::Broadcast, e.out.xid)
        };
        self.set_phase(Phase::Requesting, "DHCPOFFER received", out);
        self.send(now, request, secs_from, None, jitter, out);
    }

    fn ack_if(&mut self, ok: bool, r: &Reply, why: &str, out: &mut Vec<Action>) {
        let server = r
            .server_id
            .or(self.lease.as_ref().map(|l| l.server_id))
            .filter(|s| usable_address(*s));
        let (Some(server), Some(e), true) = (server, &self.exchange, ok) else {
            self.counters.ignored += 1;
            return;
        };
        let Ok((timers, repaired)) = Timers::from_reply(r.times) else {
            self.counters.ignored += 1;
            return;
        };
        if repaired || r.routes_refused {
            self.counters.repaired += 1;
        }
        self.counters.accepted += 1;
        let lease = Lease {
            address: r.yiaddr,
            server_id: server,
            options: r.options.clone(),
            times: r.times,
            timers,
            obtained: e.started,
        };
        self.exchange = None;
        self.offered = None;
        self.naks_in_a_row = 0;
        self.lease = Some(lease.clone());
        self.set_phase(Phase::Bound, why, out);
        out.push(Action::Bound(lease));
    }

    fn nak(&mut self, now: Instant, r: &Reply, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        self.counters.naks += 1;
        self.counters.accepted += 1;
        out.push(Action::Nak {
            server_id: r.server_id,
            message: r.message.clone(),
        });
        // §3.1/§4.4: stop using the address, start over from INIT; the
        // refused address is not asked for again.
        self.drop_lease("DHCPNAK", out);
        self.last_address = None;
        let why = match &r.message {
            Some(m) => format!("DHCPNAK: {m}"),
            None => "DHCPNAK".to_string(),
        };
        self.set_phase(Phase::Init, why, out);
        self.naks_in_a_row += 1;
        let delay = match self.naks_in_a_row {
            0 | 1 => Duration::ZERO,
            n => (Duration::from_secs(4) * 2u32.saturating_pow(n - 2)).min(MAX_WAIT),
        };
        self.discover_after(now, delay, jitter, out);
    }
}
