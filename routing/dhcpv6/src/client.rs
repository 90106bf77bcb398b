//! The DHCPv6 prefix-delegation client as a pure state machine (RFC 8415 §18).
//!
//! Events and `now` in, [`Action`]s out; [`Client::next_deadline`] says when to
//! call [`Event::Timer`] next. Messages arrive already parsed into [`Message`]
//! (the codec lives at the edge), so the same machine is driven by packets in
//! virtual-time tests and by the socket in the daemon.
//!
//! Phases: Idle → Soliciting → Requesting → Bound → Renewing (T1) → Rebinding
//! (T2) → Expired (valid lifetime over) → Soliciting again.
//!
//! Choices where the RFC leaves room, and why:
//! - The first Solicit waits a random time in `[0, solicit_max_delay]`
//!   (SOL_MAX_DELAY, 1 s, §18.2.1 "SHOULD"), so routers that boot together
//!   after a power cut do not solicit in step. It is configurable.
//! - A restored lease that is still valid is not Solicited again: before T2
//!   the client Renews at once with the server that granted it, after T2 it
//!   Rebinds (Confirm does not apply to delegated prefixes). No initial delay:
//!   the lease is already held, and the Reply confirms it.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::advertise::{Choice, Collector, Offer, StatusCode};
use crate::lifetimes::{IaTimes, PrefixLifetimes, Timers, check_prefix};
use crate::retransmit::{Exchange, Jitter, MessageKind, Params, random_delay, transaction_id};

/// The client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The IA_PD's IAID (persisted by the daemon).
    pub iaid: u32,
    /// A prefix length to hint in Solicit (e.g. 56), if any.
    pub prefix_hint: Option<u8>,
    /// Ask for Rapid Commit (a two-message exchange).
    pub rapid_commit: bool,
    /// Upper bound of the random delay before the first Solicit.
    pub solicit_max_delay: Duration,
}

impl ClientConfig {
    /// RFC defaults for `iaid`: no hint, no rapid commit, SOL_MAX_DELAY 1 s.
    pub fn new(iaid: u32) -> ClientConfig {
        ClientConfig {
            iaid,
            prefix_hint: None,
            rapid_commit: false,
            solicit_max_delay: Duration::from_secs(1),
        }
    }
}

/// Where the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Not started, or stopped.
    Idle,
    /// Looking for a server.
    Soliciting,
    /// Asking the chosen server for the prefix.
    Requesting,
    /// Holding a lease.
    Bound,
    /// T1 passed: extending with the same server.
    Renewing,
    /// T2 passed: extending with any server.
    Rebinding,
    /// The valid lifetime ended without a reply.
    Expired,
}

/// One delegated prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delegated {
    /// The prefix (host bits zero).
    pub prefix: Ipv6Addr,
    /// Its length.
    pub len: u8,
    /// Its lifetimes as the server sent them.
    pub lifetimes: PrefixLifetimes,
}

/// The lease the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The server that granted or last extended it.
    pub server_id: Vec<u8>,
    /// T1/T2 as sent.
    pub times: IaTimes,
    /// The prefixes held (valid lifetime > 0).
    pub prefixes: Vec<Delegated>,
    /// When the Reply that granted or extended it arrived.
    pub obtained: Instant,
    /// Renew, rebind and expiry, counted from `obtained`.
    pub timers: Timers,
}

impl Lease {
    fn at(&self, d: Option<Duration>) -> Option<Instant> {
        d.map(|d| self.obtained + d)
    }

    /// When the lease ends (`None`: never).
    pub fn expires(&self) -> Option<Instant> {
        self.at(self.timers.expire)
    }
}

/// The kind of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// ADVERTISE (2).
    Advertise,
    /// REPLY (7).
    Reply,
}

/// An IA_PD as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPd {
    /// Its IAID.
    pub iaid: u32,
    /// T1/T2 as sent.
    pub times: IaTimes,
    /// The IA Prefix options.
    pub prefixes: Vec<Delegated>,
    /// The IA_PD's status code, if any.
    pub status: Option<StatusCode>,
}

/// A received Advertise or Reply, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Advertise or Reply.
    pub kind: Received,
    /// Its transaction id.
    pub xid: [u8; 3],
    /// Server Identifier.
    pub server_id: Option<Vec<u8>>,
    /// The Client Identifier matched ours (§16: otherwise discarded).
    pub client_id_ok: bool,
    /// Preference (0 when absent).
    pub preference: u8,
    /// A Rapid Commit option was included.
    pub rapid_commit: bool,
    /// The top-level status code, if any.
    pub status: Option<StatusCode>,
    /// Our IA_PD, if present.
    pub ia_pd: Option<IaPd>,
    /// SOL_MAX_RT option, seconds.
    pub sol_max_rt: Option<u32>,
    /// Configuration options (DNS, domains, SNTP, AFTR, refresh time).
    pub info: crate::info::InfoOptions,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Which message.
    pub kind: MessageKind,
    /// Its transaction id (the same for every retransmission).
    pub xid: [u8; 3],
    /// Server Identifier to include (Request, Renew, Release).
    pub server_id: Option<Vec<u8>>,
    /// The IAID of the IA_PD to include.
    pub iaid: u32,
    /// Prefixes to include in the IA_PD (empty in Solicit: a hint instead).
    pub prefixes: Vec<Delegated>,
    /// Prefix-length hint (Solicit).
    pub prefix_hint: Option<u8>,
    /// Include Rapid Commit (Solicit).
    pub rapid_commit: bool,
    /// Elapsed Time option, in hundredths of a second (§21.9).
    pub elapsed_cs: u16,
}

/// What the machine asks of its edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Transmit a message (to All_DHCP_Relay_Agents_and_Servers).
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
    /// A lease was granted or extended: install or refresh it.
    Bound(Lease),
    /// The lease is gone (expired, refused, released): stop using it.
    Lost {
        /// Why.
        reason: String,
    },
}

/// Inputs.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Start acquiring.
    Start,
    /// A deadline passed.
    Timer,
    /// A message arrived.
    Received(&'a Message),
    /// Stop; with `release`, give the lease back first.
    Stop {
        /// Send Release.
        release: bool,
    },
}

/// Counters for status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages sent, retransmissions included.
    pub sent: u64,
    /// Messages accepted.
    pub accepted: u64,
    /// Messages ignored (wrong transaction, client id, phase, or content).
    pub ignored: u64,
}

#[derive(Debug, Clone)]
struct Current {
    out: Outgoing,
    exchange: Exchange,
    started: Instant,
}

/// The client.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ClientConfig,
    phase: Phase,
    lease: Option<Lease>,
    current: Option<Current>,
    /// The delayed first Solicit.
    solicit_at: Option<Instant>,
    collector: Option<Collector>,
    /// Usable prefixes of each acceptable Advertise, by server.
    offered: Vec<(Vec<u8>, Vec<Delegated>)>,
    sol_max_rt: Option<u32>,
    counters: Counters,
    xid_seq: u32,
}

impl Client {
    /// A stopped client; `restored` is a lease from the previous run that the
    /// daemon already checked (same interface, DUID and IAID).
    pub fn new(cfg: ClientConfig, restored: Option<Lease>) -> Client {
        Client {
            cfg,
            phase: Phase::Idle,
            lease: restored,
            current: None,
            solicit_at: None,
            collector: None,
            offered: Vec::new(),
            sol_max_rt: None,
            counters: Counters::default(),
            xid_seq: 0,
        }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The lease held, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// When to deliver the next [`Event::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut times: Vec<Instant> = Vec::new();
        times.extend(self.solicit_at);
        if let Some(c) = &self.current {
            times.push(c.exchange.next());
        }
        if let Some(l) = &self.lease {
            match self.phase {
                Phase::Bound => times.extend(l.at(l.timers.renew).or(l.expires())),
                Phase::Renewing | Phase::Rebinding => times.extend(l.expires()),
                _ => {}
            }
        }
        times.into_iter().min()
    }

    /// Renews at once (an operator's `renew`): from Bound, the same as
    /// reaching T1 now. Nothing happens in any other phase.
    pub fn renew_now(&mut self, now: Instant, jitter: &mut dyn Jitter) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase != Phase::Bound {
            return out;
        }
        let Some(l) = &self.lease else { return out };
        let t2 = l.at(l.timers.rebind);
        let server = l.server_id.clone();
        let mrd = t2.map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        self.set_phase(Phase::Renewing, "renew asked for", &mut out);
        self.begin(
            now,
            MessageKind::Renew,
            Params::for_kind(MessageKind::Renew).with_mrd(mrd),
            Some(server),
            jitter,
            &mut out,
        );
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
            Event::Received(m) => self.receive(now, m, jitter, &mut out),
            Event::Stop { release } => self.stop(now, release, jitter, &mut out),
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

    fn next_xid(&mut self, jitter: &mut dyn Jitter) -> [u8; 3] {
        self.xid_seq = self.xid_seq.wrapping_add(1);
        transaction_id(self.xid_seq, jitter)
    }

    fn begin(
        &mut self,
        now: Instant,
        kind: MessageKind,
        params: Params,
        server_id: Option<Vec<u8>>,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        let prefixes = match kind {
            MessageKind::Solicit => Vec::new(),
            MessageKind::Request => self
                .offered
                .iter()
                .find(|(id, _)| Some(id) == server_id.as_ref())
                .map(|(_, p)| p.clone())
                .unwrap_or_default(),
            _ => self
                .lease
                .as_ref()
                .map(|l| l.prefixes.clone())
                .unwrap_or_default(),
        };
        let outgoing = Outgoing {
            kind,
            xid: self.next_xid(jitter),
            server_id,
            iaid: self.cfg.iaid,
            prefixes,
            prefix_hint: (kind == MessageKind::Solicit)
                .then_some(self.cfg.prefix_hint)
                .flatten(),
            rapid_commit: kind == MessageKind::Solicit && self.cfg.rapid_commit,
            elapsed_cs: 0,
        };
        let exchange = Exchange::start(params, now, jitter);
        if kind == MessageKind::Solicit {
            self.collector = Some(Collector::new(exchange.next()));
        }
        self.counters.sent += 1;
        out.push(Action::Send(outgoing.clone()));
        self.current = Some(Current {
            out: outgoing,
            exchange,
            started: now,
        });
    }

    fn solicit_later(
        &mut self,
        now: Instant,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
        why: &str,
    ) {
        self.current = None;
        self.collector = None;
        self.solicit_at = Some(now + random_delay(self.cfg.solicit_max_delay, jitter));
        self.set_phase(Phase::Soliciting, why, out);
    }

    fn start(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        if self.phase != Phase::Idle {
            return;
        }
        let Some(lease) = self.lease.clone() else {
            self.solicit_later(now, jitter, out, "started");
            return;
        };
        let ends = lease.expires();
        if ends.is_some_and(|e| now >= e) {
            self.lease = None;
            out.push(Action::Lost {
                reason: "the stored lease has expired".into(),
            });
            self.solicit_later(now, jitter, out, "started; stored lease expired");
            return;
        }
        let t2 = lease.at(lease.timers.rebind);
        if t2.is_none_or(|t| now < t) {
            let mrd = t2.map_or(Duration::ZERO, |t| t - now);
            self.set_phase(Phase::Renewing, "started with a stored lease", out);
            self.begin(
                now,
                MessageKind::Renew,
                Params::for_kind(MessageKind::Renew).with_mrd(mrd),
                Some(lease.server_id.clone()),
                jitter,
                out,
            );
        } else {
            self.start_rebind(now, jitter, out, "started with a stored lease past T2");
        }
    }

    fn start_rebind(
        &mut self,
        now: Instant,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
        why: &str,
    ) {
        let mrd = self
            .lease
            .as_ref()
            .and_then(Lease::expires)
            .map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
        self.set_phase(Phase::Rebinding, why, out);
        self.begin(
            now,
            MessageKind::Rebind,
            Params::for_kind(MessageKind::Rebind).with_mrd(mrd),
            None,
            jitter,
            out,
        );
    }

    fn expire(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        self.lease = None;
        self.current = None;
        self.set_phase(Phase::Expired, "valid lifetime ended without a reply", out);
        out.push(Action::Lost {
            reason: "valid lifetime ended".into(),
        });
        self.solicit_later(now, jitter, out, "lease expired");
    }

    fn timer(&mut self, now: Instant, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        // The lease's own end comes first, whatever is in flight.
        if let Some(l) = &self.lease
            && l.expires().is_some_and(|e| now >= e)
            && matches!(
                self.phase,
                Phase::Bound | Phase::Renewing | Phase::Rebinding
            )
        {
            self.expire(now, jitter, out);
            return;
        }
        if let Some(at) = self.solicit_at
            && now >= at
        {
            self.solicit_at = None;
            let params = match self.sol_max_rt {
                Some(s) => Params::for_kind(MessageKind::Solicit).with_server_mrt(s),
                None => Params::for_kind(MessageKind::Solicit),
            };
            self.begin(now, MessageKind::Solicit, params, None, jitter, out);
            return;
        }
        if self.phase == Phase::Bound {
            if let Some(l) = &self.lease
                && l.at(l.timers.renew).is_some_and(|t| now >= t)
            {
                let t2 = l.at(l.timers.rebind);
                let server = l.server_id.clone();
                if t2.is_some_and(|t| now >= t) {
                    self.start_rebind(now, jitter, out, "T2 reached");
                } else {
                    let mrd = t2.map_or(Duration::ZERO, |t| t - now);
                    self.set_phase(Phase::Renewing, "T1 reached", out);
                    self.begin(
                        now,
                        MessageKind::Renew,
                        Params::for_kind(MessageKind::Renew).with_mrd(mrd),
                        Some(server),
                        jitter,
                        out,
                    );
                }
            }
            return;
        }
        let Some(cur) = &mut self.current else {
            return;
        };
        if now < cur.exchange.next() {
            return;
        }
        let kind = cur.out.kind;
        if kind == MessageKind::Solicit
            && let Some(c) = &mut self.collector
            && let Choice::Request(offer) = c.first_rt_ended(now)
        {
            self.request(now, offer, jitter, out);
            return;
        }
        if cur.exchange.retransmit(now, jitter) {
            let elapsed = now.duration_since(cur.started).as_millis() / 10;
            cur.out.elapsed_cs = u16::try_from(elapsed).unwrap_or(u16::MAX);
            self.counters.sent += 1;
            out.push(Action::Send(cur.out.clone()));
            return;
        }
        // The exchange gave up (MRC or MRD).
        self.current = None;
        match kind {
            MessageKind::Request => self.solicit_later(now, jitter, out, "no Reply to Request"),
            MessageKind::Renew => self.start_rebind(now, jitter, out, "T2 reached"),
            MessageKind::Rebind => self.expire(now, jitter, out),
            MessageKind::Release => {
                self.set_phase(Phase::Idle, "released", out);
            }
            MessageKind::Solicit | MessageKind::InformationRequest => {}
        }
    }

    fn request(
        &mut self,
        now: Instant,
        offer: Offer,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        self.collector = None;
        self.set_phase(Phase::Requesting, "server chosen", out);
        self.begin(
            now,
            MessageKind::Request,
            Params::for_kind(MessageKind::Request),
            Some(offer.server_id),
            jitter,
            out,
        );
        self.offered.clear();
    }

    fn stop(
        &mut self,
        now: Instant,
        release: bool,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        self.solicit_at = None;
        self.collector = None;
        self.current = None;
        if release && let Some(lease) = self.lease.take() {
            // Stop using the prefixes before giving them back (§18.2.7).
            out.push(Action::Lost {
                reason: "released".into(),
            });
            self.begin(
                now,
                MessageKind::Release,
                Params::for_kind(MessageKind::Release),
                Some(lease.server_id.clone()),
                jitter,
                out,
            );
            // Release carries the prefixes given back.
            if let Some(c) = &mut self.current {
                c.out.prefixes = lease.prefixes;
                if let Some(Action::Send(o)) = out.last_mut() {
                    o.prefixes = c.out.prefixes.clone();
                }
            }
            self.set_phase(Phase::Idle, "stopped; releasing", out);
            return;
        }
        self.set_phase(Phase::Idle, "stopped", out);
    }

    fn receive(
        &mut self,
        now: Instant,
        m: &Message,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        let Some(cur) = &self.current else {
            self.counters.ignored += 1;
            return;
        };
        if m.xid != cur.out.xid || !m.client_id_ok || m.server_id.is_none() {
            self.counters.ignored += 1;
            return;
        }
        let kind = cur.out.kind;
        let server_id = m.server_id.clone().unwrap_or_default();
        match (kind, m.kind) {
            (MessageKind::Solicit, Received::Advertise) => {
                let usable: Vec<Delegated> = m
                    .ia_pd
                    .as_ref()
                    .filter(|ia| ia.iaid == self.cfg.iaid)
                    .map(|ia| {
                        ia.prefixes
                            .iter()
                            .copied()
                            .filter(|p| check_prefix(p.lifetimes).is_ok() && p.lifetimes.valid != 0)
                            .collect()
                    })
                    .unwrap_or_default();
                let offer = Offer {
                    server_id: server_id.clone(),
                    preference: m.preference,
                    usable_prefixes: usable.len(),
                    ia_status: m.ia_pd.as_ref().and_then(|ia| ia.status).or(m.status),
                    sol_max_rt: m.sol_max_rt,
                };
                if let Some(s) = m.sol_max_rt {
                    self.sol_max_rt = Some(s);
                }
                if offer.acceptable() {
                    self.offered.retain(|(id, _)| *id != server_id);
                    self.offered.push((server_id, usable));
                    self.counters.accepted += 1;
                } else {
                    self.counters.ignored += 1;
                }
                let Some(c) = &mut self.collector else { return };
                if let Choice::Request(o) = c.offer(offer, now) {
                    self.request(now, o, jitter, out);
                }
            }
            (MessageKind::Solicit, Received::Reply) if self.cfg.rapid_commit && m.rapid_commit => {
                self.accept_reply(now, m, server_id, jitter, out);
            }
            (MessageKind::Request | MessageKind::Renew | MessageKind::Rebind, Received::Reply) => {
                self.accept_reply(now, m, server_id, jitter, out);
            }
            (MessageKind::Release, Received::Reply) => {
                self.counters.accepted += 1;
                self.current = None;
            }
            _ => self.counters.ignored += 1,
        }
    }

    fn accept_reply(
        &mut self,
        now: Instant,
        m: &Message,
        server_id: Vec<u8>,
        jitter: &mut dyn Jitter,
        out: &mut Vec<Action>,
    ) {
        let kind = self.current.as_ref().map(|c| c.out.kind);
        match m.status {
            // The server could not do it now, or wants multicast (we always
            // multicast): keep retransmitting with the backoff (§18.2.10).
            Some(StatusCode::UnspecFail | StatusCode::UseMulticast) => {
                self.counters.ignored += 1;
                return;
            }
            Some(StatusCode::Success) | None => {}
            Some(_) => {
                self.counters.ignored += 1;
                return;
            }
        }
        let Some(ia) = m.ia_pd.as_ref().filter(|ia| ia.iaid == self.cfg.iaid) else {
            self.counters.ignored += 1;
            return;
        };
        match ia.status {
            Some(StatusCode::NoBinding)
                if matches!(kind, Some(MessageKind::Renew | MessageKind::Rebind)) =>
            {
                // The server does not know our binding: ask for it again
                // with a Request to that server (§18.2.10.1).
                self.counters.accepted += 1;
                if let Some(l) = &self.lease {
                    self.offered = vec![(server_id.clone(), l.prefixes.clone())];
                }
                self.set_phase(Phase::Requesting, "NoBinding: requesting again", out);
                self.begin(
                    now,
                    MessageKind::Request,
                    Params::for_kind(MessageKind::Request),
                    Some(server_id),
                    jitter,
                    out,
                );
                return;
            }
            Some(StatusCode::NoPrefixAvail) if kind == Some(MessageKind::Request) => {
                self.counters.accepted += 1;
                self.solicit_later(now, jitter, out, "NoPrefixAvail: soliciting again");
                return;
            }
            Some(StatusCode::Success) | None => {}
            Some(_) => {
                self.counters.ignored += 1;
                return;
            }
        }
        let prefixes: Vec<Delegated> = ia
            .prefixes
            .iter()
            .copied()
            .filter(|p| check_prefix(p.lifetimes).is_ok() && p.lifetimes.valid != 0)
            .collect();
        let lifetimes: Vec<PrefixLifetimes> = prefixes.iter().map(|p| p.lifetimes).collect();
        let timers = match Timers::from_ia(ia.times, &lifetimes) {
            Ok(t) => t,
            Err(_) => {
                // Treated as if the IA_PD were absent: keep trying.
                self.counters.ignored += 1;
                return;
            }
        };
        self.counters.accepted += 1;
        let lease = Lease {
            server_id,
            times: ia.times,
            prefixes,
            obtained: now,
            timers,
        };
        self.current = None;
        self.lease = Some(lease.clone());
        let why = match kind {
            Some(MessageKind::Renew) => "renewed",
            Some(MessageKind::Rebind) => "rebound",
            _ => "bound",
        };
        self.set_phase(Phase::Bound, why, out);
        out.push(Action::Bound(lease));
    }
}
