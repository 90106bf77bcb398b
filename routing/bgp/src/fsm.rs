//! The BGP session state machine (RFC 4271 §8) for one peer, pure.
//!
//! Inputs are events (the operator, the TCP connection, decoded messages,
//! timers) with `now`; outputs are actions for the edge (connect, send,
//! disconnect) and the session's ups and downs. Messages appear here in a
//! codec-neutral form ([`OpenInfo`], NOTIFICATION codes): the edge decodes
//! and encodes them, so the rules are tested without a wire format.
//!
//! Choices:
//! - Hold time: the smaller of the two OPENs' (§4.2); 0 means no KEEPALIVEs
//!   and no hold timer; keepalives every third of it (§10).
//! - While OPEN is awaited the hold timer is 4 minutes (§8, "large value").
//! - After a session ends, the next automatic start waits an idle hold time
//!   that doubles on each quick failure (§8.1.1 DampPeerOscillations, in
//!   spirit): 1 s up to 60 s, back to 1 s after a session that stayed up.
//! - A passive session never connects; it only accepts.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// An address family / subsequent address family this speaker handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

/// Which ASes a peer may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAs {
    /// Exactly this one.
    Exact(u32),
    /// Any (a dynamic neighbour from a prefix range may say which).
    Any,
}

/// The session's states (§8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not trying.
    Idle,
    /// Waiting for our TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect to us.
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Up: UPDATEs flow.
    Established,
}

/// Graceful restart as a speaker advertises it (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// The R bit: the speaker has restarted.
    pub restarting: bool,
    /// Every family listed: the speaker can keep its state through a
    /// restart for these, so a helper keeps their routes (RFC 4724 §4.2).
    pub families: Vec<Family>,
    /// Of those, the ones whose forwarding state was preserved (the F
    /// bit): after a restart, the others' stale routes go at once.
    pub preserved: Vec<Family>,
}

/// What the peer's OPEN says, decoded by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInfo {
    /// BGP version (must be 4).
    pub version: u8,
    /// The peer's AS: the 4-octet capability's value when present, else My AS.
    pub asn: u32,
    /// My AS as sent (AS_TRANS with a 4-octet AS).
    pub my_as_field: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    /// BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Multiprotocol capabilities (RFC 4760); empty means IPv4 unicast only.
    pub families: Vec<Family>,
    /// The 4-octet AS capability (RFC 6793) was present.
    pub four_octet: bool,
    /// Route refresh (RFC 2918) was offered.
    pub route_refresh: bool,
    /// Graceful restart (RFC 4724), if offered.
    pub graceful_restart: Option<GracefulRestart>,
    /// IPv4 NLRI with IPv6 next hops (RFC 8950) was offered.
    pub extended_nexthop: bool,
}

/// Our side of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// Our AS.
    pub asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Which ASes the peer may have.
    pub peer_as: PeerAs,
    /// Our proposed hold time (0, or 3 and more).
    pub hold_time: u16,
    /// ConnectRetryTimer.
    pub connect_retry: Duration,
    /// Only accept connections.
    pub passive: bool,
    /// Families we handle.
    pub families: Vec<Family>,
    /// Our graceful restart capability, if any.
    pub graceful_restart: Option<GracefulRestart>,
    /// We accept IPv4 NLRI with IPv6 next hops.
    pub extended_nexthop: bool,
}

/// What both OPENs agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS.
    pub peer_asn: u32,
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// External session.
    pub ebgp: bool,
    /// Hold time (zero: none).
    pub hold: Duration,
    /// Keepalive interval (zero: none).
    pub keepalive: Duration,
    /// Families both handle.
    pub families: Vec<Family>,
    /// AS numbers are 4 octets in AS_PATH.
    pub four_octet: bool,
    /// The peer takes ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer's graceful restart capability.
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// Both accept IPv4 NLRI with IPv6 next hops.
    pub extended_nexthop: bool,
}

/// A NOTIFICATION (RFC 4271 §4.5), as codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
}

impl Notification {
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: Notification = Notification {
        code: 4,
        subcode: 0,
    };
    /// FSM Error, unexpected message in OpenSent (RFC 6608).
    pub const FSM_OPENSENT: Notification = Notification {
        code: 5,
        subcode: 1,
    };
    /// FSM Error, unexpected message in OpenConfirm (RFC 6608).
    pub const FSM_OPENCONFIRM: Notification = Notification {
        code: 5,
        subcode: 2,
    };
    /// FSM Error, unexpected message in Established (RFC 6608).
    pub const FSM_ESTABLISHED: Notification = Notification {
        code: 5,
        subcode: 3,
    };
    /// Cease, Administrative Shutdown (RFC 4486).
    pub const ADMIN_SHUTDOWN: Notification = Notification {
        code: 6,
        subcode: 2,
    };
    /// Cease, Connection Collision Resolution (RFC 4486).
    pub const COLLISION: Notification = Notification {
        code: 6,
        subcode: 7,
    };
    /// Cease, Maximum Number of Prefixes Reached (RFC 4486).
    pub const MAX_PREFIXES: Notification = Notification {
        code: 6,
        subcode: 1,
    };
    /// OPEN Message Error, Unsupported Version Number.
    pub const BAD_VERSION: Notification = Notification {
        code: 2,
        subcode: 1,
    };
    /// OPEN Message Error, Bad Peer AS.
    pub const BAD_PEER_AS: Notification = Notification {
        code: 2,
        subcode: 2,
    };
    /// OPEN Message Error, Bad BGP Identifier.
    pub const BAD_BGP_ID: Notification = Notification {
        code: 2,
        subcode: 3,
    };
    /// OPEN Message Error, Unacceptable Hold Time.
    pub const BAD_HOLD_TIME: Notification = Notification {
        code: 2,
        subcode: 6,
    };
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The operator (or the config) starts the session.
    Start,
    /// The operator stops it: a Cease goes out if a connection is up.
    Stop,
    /// A deadline passed.
    Timer,
    /// Our outgoing TCP connection completed.
    Connected,
    /// The peer connected to us (and we took the connection).
    Accepted,
    /// The TCP connection failed or closed.
    ConnectionLost,
    /// An OPEN arrived.
    Open(OpenInfo),
    /// A KEEPALIVE arrived.
    Keepalive,
    /// An UPDATE arrived (only its effect on the hold timer matters here).
    Update,
    /// A NOTIFICATION arrived.
    NotificationReceived(Notification),
    /// The edge found an error it must answer with a NOTIFICATION (a bad
    /// header, an UPDATE RFC 7606 says resets the session, max-prefix).
    Error(Notification),
}

/// Outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer.
    Connect,
    /// Send our OPEN.
    SendOpen,
    /// Send a KEEPALIVE.
    SendKeepalive,
    /// Send a NOTIFICATION (then the edge closes the connection).
    SendNotification(Notification),
    /// Close the TCP connection.
    Disconnect,
    /// The session is up with what was agreed: exchange routes.
    Established(Negotiated),
    /// The session left Established: withdraw (or, for a peer that
    /// restarts gracefully, keep as stale) what it gave.
    Down {
        /// Why, for events.
        reason: String,
        /// The peer may be restarting gracefully (RFC 4724 §4.2): the
        /// connection was lost, no NOTIFICATION was sent or received, and
        /// it advertised graceful restart.
        graceful: bool,
    },
    /// The state changed.
    State {
        /// Before.
        from: State,
        /// After.
        to: State,
    },
}

/// Counters for status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Times the session reached Established.
    pub established: u64,
    /// NOTIFICATIONs sent.
    pub notifications_sent: u64,
    /// NOTIFICATIONs received.
    pub notifications_received: u64,
}

const OPEN_HOLD: Duration = Duration::from_secs(240);
const IDLE_HOLD_MIN: Duration = Duration::from_secs(1);
const IDLE_HOLD_MAX: Duration = Duration::from_secs(60);
/// A session up at least this long resets the idle hold time.
const STABLE: Duration = Duration::from_secs(60);

/// One peer's session.
#[derive(Debug, Clone)]
pub struct Session {
    local: LocalConfig,
    state: State,
    started: bool,
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    idle_until: Option<Instant>,
    idle_hold: Duration,
    negotiated: Option<Negotiated>,
    established_at: Option<Instant>,
    counters: Counters,
    /// The last NOTIFICATION either way, for status.
    pub last_error: Option<Notification>,
}

impl Session {
    /// A stopped session.
    pub fn new(local: LocalConfig) -> Session {
        Session {
            local,
            state: State::Idle,
            started: false,
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            idle_until: None,
            idle_hold: IDLE_HOLD_MIN,
            negotiated: None,
            established_at: None,
            counters: Counters::default(),
            last_error: None,
        }
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What was agreed, while the session is up.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Our side of the session.
    pub fn local(&self) -> &LocalConfig {
        &self.local
    }

    /// When to call [`Session::handle`] with [`Event::Timer`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.connect_retry_at,
            self.hold_at,
            self.keepalive_at,
            self.idle_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn set_state(&mut self, to: State, out: &mut Vec<Action>) {
        if self.state != to {
            out.push(Action::State {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                self.started = true;
                if self.state == State::Idle {
                    self.idle_until = None;
                    self.begin(now, &mut out);
                }
            }
            Event::Stop => {
                self.started = false;
                if matches!(
                    self.state,
                    State::OpenSent | State::OpenConfirm | State::Established
                ) {
                    self.notify(Notification::ADMIN_SHUTDOWN, &mut out);
                }
                self.close(now, "stopped", false, &mut out);
                self.idle_until = None;
            }
            Event::Timer => self.timers(now, &mut out),
            Event::Connected | Event::Accepted => match self.state {
                State::Connect | State::Active => {
                    self.connect_retry_at = None;
                    out.push(Action::SendOpen);
                    self.hold_at = Some(now + OPEN_HOLD);
                    self.set_state(State::OpenSent, &mut out);
                }
                // A second connection while one is in progress: the edge
                // resolves collisions (§6.8) before feeding events here.
                _ => out.push(Action::Disconnect),
            },
            Event::ConnectionLost => match self.state {
                State::Idle => {}
                State::Connect | State::Active => {
                    // Try again at the ConnectRetry time.
                    self.set_state(State::Active, &mut out);
                    if !self.local.passive {
                        self.connect_retry_at = Some(now + self.local.connect_retry);
                    }
                }
                _ => {
                    let graceful = self.state == State::Established
                        && self
                            .negotiated
                            .as_ref()
                            .is_some_and(|n| n.peer_graceful_restart.is_some());
                    self.close(now, "the connection was lost", graceful, &mut out);
                }
            },
            Event::Open(open) => self.open(now, open, &mut out),
            Event::Keepalive => match self.state {
                State::OpenConfirm => {
                    self.reset_hold(now);
                    self.established(now, &mut out);
                }
                State::Established => self.reset_hold(now),
                State::OpenSent => self.fsm_error(now, Notification::FSM_OPENSENT, &mut out),
                _ => {}
            },
            Event::Update => match self.state {
                State::Established => self.reset_hold(now),
                State::OpenSent => self.fsm_error(now, Notification::FSM_OPENSENT, &mut out),
                State::OpenConfirm => self.fsm_error(now, Notification::FSM_OPENCONFIRM, &mut out),
                _ => {}
            },
            Event::NotificationReceived(n) => {
                self.counters.notifications_received += 1;
                self.last_error = Some(n);
                if self.state != State::Idle {
                    self.close(
                        now,
                        &format!("NOTIFICATION received ({}/{})", n.code, n.subcode),
                        false,
                        &mut out,
                    );
                }
            }
            Event::Error(n) => {
                if self.state != State::Idle {
                    self.fsm_error(now, n, &mut out);
                }
            }
        }
        out
    }

    /// Leaves Idle: connect, or wait to be connected to.
    fn begin(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.local.passive {
            self.set_state(State::Active, out);
        } else {
            out.push(Action::Connect);
            self.connect_retry_at = Some(now + self.local.connect_retry);
            self.set_state(State::Connect, out);
        }
    }

    fn timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.idle_until.is_some_and(|t| now >= t) {
            self.idle_until = None;
            if self.started && self.state == State::Idle {
                self.begin(now, out);
            }
        }
        if self.connect_retry_at.is_some_and(|t| now >= t) {
            self.connect_retry_at = None;
            if matches!(self.state, State::Connect | State::Active) && !self.local.passive {
                // §8.2.2: drop the attempt, start another.
                out.push(Action::Disconnect);
                out.push(Action::Connect);
                self.connect_retry_at = Some(now + self.local.connect_retry);
                self.set_state(State::Connect, out);
            }
        }
        if self.hold_at.is_some_and(|t| now >= t) {
            self.hold_at = None;
            if matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                self.fsm_error(now, Notification::HOLD_TIMER_EXPIRED, out);
                return;
            }
        }
        if self.keepalive_at.is_some_and(|t| now >= t) {
            if let Some(k) = self
                .negotiated
                .as_ref()
                .map(|n| n.keepalive)
                .filter(|k| !k.is_zero())
            {
                out.push(Action::SendKeepalive);
                self.keepalive_at = Some(now + k);
            } else {
                self.keepalive_at = None;
            }
        }
    }

    fn reset_hold(&mut self, now: Instant) {
        if let Some(h) = self
            .negotiated
            .as_ref()
            .map(|n| n.hold)
            .filter(|h| !h.is_zero())
        {
            self.hold_at = Some(now + h);
        }
    }

    fn open(&mut self, now: Instant, open: OpenInfo, out: &mut Vec<Action>) {
        if self.state != State::OpenSent {
            let n = match self.state {
                State::OpenConfirm => Notification::FSM_OPENCONFIRM,
                State::Established => Notification::FSM_ESTABLISHED,
                // In Connect/Active the edge has not passed the connection on.
                _ => return,
            };
            self.fsm_error(now, n, out);
            return;
        }
        match negotiate(&self.local, &open) {
            Ok(n) => {
                out.push(Action::SendKeepalive);
                self.hold_at = (!n.hold.is_zero()).then(|| now + n.hold);
                self.keepalive_at = (!n.keepalive.is_zero()).then(|| now + n.keepalive);
                self.negotiated = Some(n);
                self.set_state(State::OpenConfirm, out);
            }
            Err(n) => self.fsm_error(now, n, out),
        }
    }

    fn established(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.counters.established += 1;
        self.established_at = Some(now);
        self.set_state(State::Established, out);
        if let Some(n) = &self.negotiated {
            out.push(Action::Established(n.clone()));
        }
    }

    fn notify(&mut self, n: Notification, out: &mut Vec<Action>) {
        self.counters.notifications_sent += 1;
        self.last_error = Some(n);
        out.push(Action::SendNotification(n));
    }

    fn fsm_error(&mut self, now: Instant, n: Notification, out: &mut Vec<Action>) {
        self.notify(n, out);
        self.close(
            now,
            &format!("NOTIFICATION sent ({}/{})", n.code, n.subcode),
            false,
            out,
        );
    }

    /// Back to Idle: the connection goes, timers stop, and an automatic
    /// restart is scheduled while the session is started.
    fn close(&mut self, now: Instant, reason: &str, graceful: bool, out: &mut Vec<Action>) {
        if self.state == State::Idle {
            return;
        }
        if self.state == State::Established {
            out.push(Action::Down {
                reason: reason.to_string(),
                graceful,
            });
        }
        if self.state != State::Active || !self.local.passive {
            out.push(Action::Disconnect);
        }
        let stable = self
            .established_at
            .is_some_and(|t| now.saturating_duration_since(t) >= STABLE);
        self.idle_hold = if stable {
            IDLE_HOLD_MIN
        } else {
            (self.idle_hold * 2).min(IDLE_HOLD_MAX)
        };
        self.connect_retry_at = None;
        self.hold_at = None;
        self.keepalive_at = None;
        self.negotiated = None;
        self.established_at = None;
        self.set_state(State::Idle, out);
        if self.started {
            self.idle_until = Some(now + self.idle_hold);
        }
    }
}

/// Checks the peer's OPEN against ours (§6.2) and agrees on the session.
pub fn negotiate(local: &LocalConfig, open: &OpenInfo) -> Result<Negotiated, Notification> {
    if open.version != 4 {
        return Err(Notification::BAD_VERSION);
    }
    // Hold time 1 or 2 is unacceptable (§6.2); the peer also refuses ours
    // if it finds it unacceptable.
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(Notification::BAD_HOLD_TIME);
    }
    match local.peer_as {
        PeerAs::Exact(want) if want != open.asn => return Err(Notification::BAD_PEER_AS),
        _ => {}
    }
    // RFC 6793 §4.1: a 4-octet speaker's My AS is AS_TRANS when its AS does
    // not fit two octets, and its own AS otherwise.
    if open.four_octet {
        let expected = u16::try_from(open.asn).unwrap_or(23456);
        if open.my_as_field != expected && open.my_as_field != 23456 {
            return Err(Notification::BAD_PEER_AS);
        }
    }
    let ebgp = open.asn != local.asn;
    // RFC 6286 §2.2: zero is never valid; inside one AS the identifiers
    // must differ.
    if open.router_id.is_unspecified() || (!ebgp && open.router_id == local.router_id) {
        return Err(Notification::BAD_BGP_ID);
    }
    let hold = open.hold_time.min(local.hold_time);
    let hold = Duration::from_secs(u64::from(hold));
    let peer_families: Vec<Family> = if open.families.is_empty() {
        vec![Family::Ipv4Unicast]
    } else {
        open.families.clone()
    };
    let families = local
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    Ok(Negotiated {
        peer_asn: open.asn,
        peer_id: open.router_id,
        ebgp,
        hold,
        keepalive: hold / 3,
        families,
        four_octet: open.four_octet,
        route_refresh: open.route_refresh,
        peer_graceful_restart: open.graceful_restart.clone(),
        extended_nexthop: open.extended_nexthop && local.extended_nexthop,
    })
}

/// §6.8 collision resolution: whether the connection *we* initiated is
/// the one to keep (ours wins when our BGP Identifier is higher).
pub fn keep_ours_on_collision(local_id: Ipv4Addr, peer_id: Ipv4Addr) -> bool {
    u32::from(local_id) > u32::from(peer_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalConfig {
        LocalConfig {
            asn: 65000,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            peer_as: PeerAs::Exact(65001),
            hold_time: 9,
            connect_retry: Duration::from_secs(5),
            passive: false,
            families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
            graceful_restart: None,
            extended_nexthop: false,
        }
    }

    fn open() -> OpenInfo {
        OpenInfo {
            version: 4,
            asn: 65001,
            my_as_field: 65001,
            hold_time: 90,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            families: vec![Family::Ipv4Unicast],
            four_octet: true,
            route_refresh: true,
            graceful_restart: None,
            extended_nexthop: false,
        }
    }

    fn up(s: &mut Session, t: Instant) -> Vec<Action> {
        s.handle(t, Event::Start);
        s.handle(t, Event::Connected);
        s.handle(t, Event::Open(open()));
        s.handle(t, Event::Keepalive)
    }

    #[test]
    fn a_session_comes_up_with_the_smaller_hold_time_and_common_families() {
        let t = Instant::now();
        let mut s = Session::new(local());
        assert_eq!(s.handle(t, Event::Start)[0], Action::Connect);
        let a = s.handle(t, Event::Connected);
        assert!(a.contains(&Action::SendOpen) && s.state() == State::OpenSent);
        let a = s.handle(t, Event::Open(open()));
        assert!(a.contains(&Action::SendKeepalive) && s.state() == State::OpenConfirm);
        let a = s.handle(t, Event::Keepalive);
        let Some(Action::Established(n)) = a.iter().find(|x| matches!(x, Action::Established(_)))
        else {
            panic!("{a:?}");
        };
        assert_eq!(n.hold, Duration::from_secs(9));
        assert_eq!(n.keepalive, Duration::from_secs(3));
        assert_eq!(n.families, vec![Family::Ipv4Unicast]);
        assert!(n.ebgp && n.four_octet && n.route_refresh);
        assert_eq!(s.counters().established, 1);
    }

    #[test]
    fn keepalives_go_out_and_silence_expires_the_hold_timer() {
        let t = Instant::now();
        let mut s = Session::new(local());
        up(&mut s, t);
        let a = s.handle(t + Duration::from_secs(3), Event::Timer);
        assert_eq!(a, vec![Action::SendKeepalive]);
        s.handle(t + Duration::from_secs(4), Event::Keepalive);
        // Nothing heard for 9 s after that.
        let a = s.handle(t + Duration::from_secs(13), Event::Timer);
        assert!(
            a.contains(&Action::SendNotification(Notification::HOLD_TIMER_EXPIRED)),
            "{a:?}"
        );
        assert!(a.iter().any(|x| matches!(
            x,
            Action::Down {
                graceful: false,
                ..
            }
        )));
        assert_eq!(s.state(), State::Idle);
        // It comes back on its own after the idle hold time.
        let next = s.next_deadline().expect("restart scheduled");
        assert!(next > t + Duration::from_secs(13));
        assert_eq!(s.handle(next, Event::Timer)[0], Action::Connect);
    }

    #[test]
    fn bad_opens_are_refused_with_the_right_notification() {
        let cases = [
            (
                OpenInfo {
                    version: 3,
                    ..open()
                },
                Notification::BAD_VERSION,
            ),
            (
                OpenInfo {
                    asn: 65009,
                    my_as_field: 65009,
                    ..open()
                },
                Notification::BAD_PEER_AS,
            ),
            (
                OpenInfo {
                    hold_time: 2,
                    ..open()
                },
                Notification::BAD_HOLD_TIME,
            ),
            (
                OpenInfo {
                    router_id: Ipv4Addr::UNSPECIFIED,
                    ..open()
                },
                Notification::BAD_BGP_ID,
            ),
            (
                OpenInfo {
                    my_as_field: 1234,
                    ..open()
                },
                Notification::BAD_PEER_AS,
            ),
        ];
        for (o, want) in cases {
            assert_eq!(negotiate(&local(), &o).err(), Some(want), "{o:?}");
        }
        // iBGP with our own identifier.
        let mut ibgp = local();
        ibgp.peer_as = PeerAs::Exact(65000);
        let o = OpenInfo {
            asn: 65000,
            my_as_field: 65000,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            ..open()
        };
        assert_eq!(negotiate(&ibgp, &o).err(), Some(Notification::BAD_BGP_ID));
        // A 4-octet AS behind AS_TRANS is fine.
        let mut far = local();
        far.peer_as = PeerAs::Exact(4_200_000_001);
        let o = OpenInfo {
            asn: 4_200_000_001,
            my_as_field: 23456,
            ..open()
        };
        assert!(negotiate(&far, &o).is_ok());
        // Hold 0 on either side: no keepalives, no hold timer.
        let n = negotiate(
            &local(),
            &OpenInfo {
                hold_time: 0,
                ..open()
            },
        )
        .expect("ok");
        assert!(n.hold.is_zero() && n.keepalive.is_zero());
    }

    #[test]
    fn a_lost_connection_of_a_graceful_peer_is_a_graceful_down() {
        let t = Instant::now();
        let mut s = Session::new(local());
        s.handle(t, Event::Start);
        s.handle(t, Event::Connected);
        s.handle(
            t,
            Event::Open(OpenInfo {
                graceful_restart: Some(GracefulRestart {
                    restart_time: 120,
                    restarting: false,
                    families: vec![Family::Ipv4Unicast],
                    preserved: vec![Family::Ipv4Unicast],
                }),
                ..open()
            }),
        );
        s.handle(t, Event::Keepalive);
        let a = s.handle(t, Event::ConnectionLost);
        assert!(
            a.iter()
                .any(|x| matches!(x, Action::Down { graceful: true, .. })),
            "{a:?}"
        );
        // A NOTIFICATION is never graceful.
        s.handle(t + Duration::from_secs(2), Event::Timer);
        up(&mut s, t + Duration::from_secs(2));
        let a = s.handle(
            t + Duration::from_secs(3),
            Event::NotificationReceived(Notification::ADMIN_SHUTDOWN),
        );
        assert!(
            a.iter().any(|x| matches!(
                x,
                Action::Down {
                    graceful: false,
                    ..
                }
            )),
            "{a:?}"
        );
    }

    #[test]
    fn unexpected_messages_and_errors_reset_the_session() {
        let t = Instant::now();
        let mut s = Session::new(local());
        s.handle(t, Event::Start);
        s.handle(t, Event::Connected);
        let a = s.handle(t, Event::Update);
        assert!(a.contains(&Action::SendNotification(Notification::FSM_OPENSENT)));
        assert_eq!(s.state(), State::Idle);
        let mut s = Session::new(local());
        up(&mut s, t);
        let malformed = Notification {
            code: 3,
            subcode: 1,
        };
        let a = s.handle(t, Event::Error(malformed));
        assert!(a.contains(&Action::SendNotification(malformed)));
        assert!(a.contains(&Action::Disconnect));
        let a = s.handle(t, Event::Stop);
        assert!(a.is_empty(), "already idle: {a:?}");
        assert_eq!(s.next_deadline(), None, "stopped: no restart");
    }

    #[test]
    fn a_passive_session_waits_and_failures_back_off() {
        let t = Instant::now();
        let mut s = Session::new(LocalConfig {
            passive: true,
            ..local()
        });
        let a = s.handle(t, Event::Start);
        assert!(!a.contains(&Action::Connect));
        assert_eq!(s.state(), State::Active);
        s.handle(t, Event::Accepted);
        assert_eq!(s.state(), State::OpenSent);
        // Quick failures double the idle hold time.
        let mut gaps = Vec::new();
        let mut now = t;
        for _ in 0..4 {
            s.handle(now, Event::ConnectionLost);
            let next = s.next_deadline().expect("restart");
            gaps.push(next - now);
            now = next;
            s.handle(now, Event::Timer);
            s.handle(now, Event::Accepted);
        }
        assert!(gaps.windows(2).all(|w| w[1] == w[0] * 2), "{gaps:?}");
        assert!(keep_ours_on_collision(
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::new(10, 0, 0, 2)
        ));
    }
}
