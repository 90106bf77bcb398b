//! The BFD session state machine of RFC 5880 section 6.2 with the reception,
//! timer and transmission rules of 6.8. Pure: no sockets, no clock. Time comes
//! in with every call, work goes out as [`Action`]s, and
//! [`Session::next_deadline`] says when to call again with [`Event::Timer`].
//!
//! Asynchronous mode only: this end never asks for Demand mode, but it honours
//! a peer that does (6.8.7) and answers its Polls.

use std::time::{Duration, Instant};

use crate::config::{AuthConfig, ConfigError, SLOW_TX, SessionParams, micros};
use crate::error::DropReason;
use crate::jitter::{Jitter, jittered};
use crate::packet::{Auth, ControlPacket, Diag, State};
use crate::status::{Counters, SessionStatus};

/// An input to the state machine.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A decoded packet that the UDP edge demultiplexed to this session (6.3).
    Received(&'a ControlPacket),
    /// Time passed: call at [`Session::next_deadline`] (early or late calls are harmless).
    Timer,
    /// Administratively disable the session (6.8.16): AdminDown, diag 7.
    AdminDown,
    /// Administratively enable it again: Down, and the handshake starts over.
    AdminUp,
}

/// Work for the UDP edge and the session's client, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this packet to the peer.
    Send(ControlPacket),
    /// The session state changed.
    StateChanged(StateChange),
}

/// One state change, as the client (e.g. the BGP daemon) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// Old state.
    pub from: State,
    /// New state.
    pub to: State,
    /// bfd.LocalDiag after the change: why it happened.
    pub diag: Diag,
    /// The peer's state as last heard (AdminDown when it disabled the session).
    pub remote_state: State,
    /// When.
    pub at: Instant,
}

impl StateChange {
    /// True when an Up session went down because the path failed: the client
    /// must act (tear the BGP session down). A peer that administratively
    /// disabled BFD is not a path failure (RFC 5882 3.2), and neither is a
    /// local AdminDown, which the client asked for itself.
    pub fn is_failure(&self) -> bool {
        self.from == State::Up
            && self.to == State::Down
            && !(self.diag == Diag::NeighborSignaledSessionDown
                && self.remote_state == State::AdminDown)
    }
}

/// The peer's variables (bfd.Remote* of 6.8.1), as last received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remote {
    discr: u32,
    state: State,
    diag: Diag,
    demand: bool,
    /// bfd.RemoteMinRxInterval, µs: 1 until heard (6.8.1), 0 means "send nothing".
    min_rx_us: u32,
    /// The last Desired Min TX received, µs (an input of the Detection Time).
    desired_tx_us: u32,
    /// The last Detect Mult received; 0 until heard.
    detect_mult: u8,
}

impl Remote {
    const UNKNOWN: Remote = Remote {
        discr: 0,
        state: State::Down,
        diag: Diag::None,
        demand: false,
        min_rx_us: 1,
        desired_tx_us: 0,
        detect_mult: 0,
    };
}

/// A pair of our interval values: what we advertise, or what we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Intervals {
    /// bfd.DesiredMinTxInterval.
    tx: Duration,
    /// bfd.RequiredMinRxInterval.
    rx: Duration,
}

/// One BFD session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    local_discr: u32,
    params: SessionParams,
    state: State,
    local_diag: Diag,
    remote: Remote,
    /// The values in our packets. Fixed while a Poll Sequence runs, so the
    /// peer's Final always acknowledges exactly what we advertise.
    advertised: Intervals,
    /// The values our own timers use. They lag `advertised` while a Poll runs
    /// when moving them at once would be unsafe (6.8.3): a slower TX rate or a
    /// shorter detection time only takes effect once the peer has acknowledged.
    in_use: Intervals,
    poll_active: bool,
    next_tx: Option<Instant>,
    last_tx: Option<Instant>,
    /// The last packet that counted as received for detection (6.8.4).
    last_rx: Option<Instant>,
    /// After AdminDown, keep announcing it until then (6.8.16), then go quiet.
    admin_tx_until: Option<Instant>,
    counters: Counters,
    last_change: Option<StateChange>,
}

impl Session {
    /// A session in Down that sends its first packet at once (the first
    /// [`Event::Timer`]). The caller allocates `local_discr`: nonzero and
    /// unique among its sessions (6.8.1).
    pub fn new(
        local_discr: u32,
        params: SessionParams,
        now: Instant,
    ) -> Result<Session, ConfigError> {
        if local_discr == 0 {
            return Err(ConfigError::ZeroDiscriminator);
        }
        params.validate()?;
        let mut s = Session {
            local_discr,
            params,
            state: State::Down,
            local_diag: Diag::None,
            remote: Remote::UNKNOWN,
            advertised: Intervals {
                tx: SLOW_TX,
                rx: SLOW_TX,
            },
            in_use: Intervals {
                tx: SLOW_TX,
                rx: SLOW_TX,
            },
            poll_active: false,
            next_tx: Some(now),
            last_tx: None,
            last_rx: None,
            admin_tx_until: None,
            counters: Counters::default(),
            last_change: None,
        };
        s.advertised = s.target();
        s.in_use = s.advertised;
        Ok(s)
    }

    /// Handles one event at `now` and returns the work it causes.
    pub fn handle(
        &mut self,
        now: Instant,
        event: Event<'_>,
        jitter: &mut dyn Jitter,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let mut step = Step::default();
        match event {
            Event::Received(p) => self.on_packet(now, p, &mut step, &mut out),
            Event::Timer => self.on_timer(now, &mut step, &mut out),
            Event::AdminDown => {
                if self.state != State::AdminDown {
                    self.transition(
                        now,
                        State::AdminDown,
                        Diag::AdministrativelyDown,
                        &mut step,
                        &mut out,
                    );
                    // Packets are discarded from now on (6.8.6): no detection,
                    // and no Poll that nobody would complete.
                    self.last_rx = None;
                    self.poll_active = false;
                }
            }
            Event::AdminUp => {
                if self.state == State::AdminDown {
                    self.transition(now, State::Down, Diag::None, &mut step, &mut out);
                    self.admin_tx_until = None;
                }
            }
        }
        self.finish(now, step, jitter, &mut out);
        out
    }

    /// Replaces the parameters. A change of the advertised intervals starts a
    /// Poll Sequence (6.8.3); Detect Mult and authentication apply at once.
    pub fn set_params(
        &mut self,
        now: Instant,
        params: SessionParams,
        jitter: &mut dyn Jitter,
    ) -> Result<Vec<Action>, ConfigError> {
        params.validate()?;
        self.params = params;
        let mut out = Vec::new();
        self.finish(now, Step::default(), jitter, &mut out);
        Ok(out)
    }

    /// When to call [`Event::Timer`] next: the next periodic packet or the
    /// detection deadline, whichever comes first.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// bfd.RemoteDiscr (0 while unknown).
    pub fn remote_discr(&self) -> u32 {
        self.remote.discr
    }

    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    /// The configured parameters.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The last state change, if any.
    pub fn last_change(&self) -> Option<StateChange> {
        self.last_change
    }

    /// True once an AdminDown session has finished announcing it: nothing more
    /// will be sent, so a caller removing the session may drop it now.
    pub fn is_quiescent(&self) -> bool {
        self.state == State::AdminDown && self.next_tx.is_none()
    }

    /// A snapshot for status reports.
    pub fn status(&self) -> SessionStatus {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        SessionStatus {
            state: self.state,
            local_diag: self.local_diag,
            local_discr: self.local_discr,
            remote_discr: self.remote.discr,
            remote_state: self.remote.state,
            remote_diag: self.remote.diag,
            desired_min_tx_us: us(self.advertised.tx),
            required_min_rx_us: us(self.advertised.rx),
            detect_mult: self.params.detect_mult,
            remote_desired_min_tx_us: self.remote.desired_tx_us,
            remote_required_min_rx_us: self.remote.min_rx_us,
            remote_detect_mult: self.remote.detect_mult,
            tx_interval_us: self.tx_interval().map(us),
            detection_time_us: self.detection_time().map(us),
            poll_active: self.poll_active,
            counters: self.counters.clone(),
        }
    }

    /// RFC 5880 6.8.6, the part that needs this session's state: the
    /// discriminator, authentication, AdminDown, then the state table.
    fn on_packet(
        &mut self,
        now: Instant,
        p: &ControlPacket,
        step: &mut Step,
        out: &mut Vec<Action>,
    ) {
        if p.your_discr != 0 && p.your_discr != self.local_discr {
            self.counters
                .dropped
                .count(DropReason::DiscriminatorMismatch);
            return;
        }
        if let Err(reason) = self.check_auth(p.auth.as_ref()) {
            self.counters.dropped.count(reason);
            return;
        }
        self.remote = Remote {
            discr: p.my_discr,
            state: p.state,
            diag: p.diag,
            demand: p.demand,
            min_rx_us: p.required_min_rx_us,
            desired_tx_us: p.desired_min_tx_us,
            detect_mult: p.detect_mult,
        };
        // 6.5: a Final ends our Poll; the values it acknowledged take effect.
        if p.final_ && self.poll_active {
            self.poll_active = false;
            self.in_use = self.advertised;
            self.counters.polls_completed += 1;
        }
        if self.state == State::AdminDown {
            self.counters.dropped.count(DropReason::AdminDown);
            return;
        }
        self.counters.packets_received += 1;
        self.last_rx = Some(now);
        // The state table of 6.8.6.
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.transition(
                    now,
                    State::Down,
                    Diag::NeighborSignaledSessionDown,
                    step,
                    out,
                );
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => {
                    self.transition(now, State::Init, Diag::None, step, out)
                }
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    self.transition(now, State::Up, Diag::None, step, out)
                }
                (State::Up, State::Down) => self.transition(
                    now,
                    State::Down,
                    Diag::NeighborSignaledSessionDown,
                    step,
                    out,
                ),
                _ => {}
            }
        }
        // 6.8.7: a Poll is answered with a Final at once, whatever our state.
        step.final_due |= p.poll;
    }

    /// 6.8.6 and 6.7: the A bit must match the configuration, and the section
    /// must verify.
    fn check_auth(&self, auth: Option<&Auth>) -> Result<(), DropReason> {
        match (&self.params.auth, auth) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(DropReason::AuthUnexpected),
            (Some(_), None) => Err(DropReason::AuthMissing),
            (Some(_), Some(Auth::KeyedMd5 { .. } | Auth::KeyedSha1 { .. })) => {
                Err(DropReason::AuthUnsupported)
            }
            (
                Some(AuthConfig::SimplePassword { key_id, password }),
                Some(Auth::SimplePassword {
                    key_id: got_id,
                    password: got,
                }),
            ) => {
                // 6.7.2: the key id must name a key we have, and the password match it.
                if key_id == got_id && password == got {
                    Ok(())
                } else {
                    Err(DropReason::AuthFailed)
                }
            }
        }
    }

    fn on_timer(&mut self, now: Instant, step: &mut Step, out: &mut Vec<Action>) {
        if self.detect_at().is_some_and(|at| now >= at) {
            self.detection_expired(now, step, out);
        }
        if self.next_tx.is_some_and(|at| now >= at) && self.periodic_allowed(now) {
            step.periodic_due = true;
        }
    }

    /// 6.8.4: no packet for a Detection Time. An Init or Up session goes Down
    /// with diag 1; in every state the peer is forgotten (6.8.1: bfd.RemoteDiscr
    /// is zeroed), so the next handshake starts from scratch.
    fn detection_expired(&mut self, now: Instant, step: &mut Step, out: &mut Vec<Action>) {
        self.last_rx = None;
        if matches!(self.state, State::Init | State::Up) {
            self.counters.detection_expiries += 1;
            self.transition(
                now,
                State::Down,
                Diag::ControlDetectionTimeExpired,
                step,
                out,
            );
        }
        self.remote = Remote::UNKNOWN;
        // Nobody is left to answer a Poll: what we advertise is what we use.
        self.poll_active = false;
        self.in_use = self.advertised;
    }

    fn transition(
        &mut self,
        now: Instant,
        to: State,
        diag: Diag,
        step: &mut Step,
        out: &mut Vec<Action>,
    ) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        match to {
            State::Up => self.counters.up_transitions += 1,
            State::Down if from == State::Up => self.counters.down_transitions += 1,
            State::AdminDown => {
                // 6.8.16: keep telling the peer for at least a Detection Time,
                // as it sees it (its multiplier of our slow rate).
                let linger = SLOW_TX * u32::from(self.params.detect_mult.max(3));
                self.admin_tx_until = now.checked_add(linger);
            }
            _ => {}
        }
        let change = StateChange {
            from,
            to,
            diag,
            remote_state: self.remote.state,
            at: now,
        };
        self.last_change = Some(change);
        step.changed = true;
        out.push(Action::StateChanged(change));
    }

    /// The common tail of every event: move the advertised intervals toward
    /// the configuration (maybe starting a Poll), send what is due, and rearm
    /// the periodic timer.
    fn finish(&mut self, now: Instant, step: Step, jitter: &mut dyn Jitter, out: &mut Vec<Action>) {
        let poll_started = self.reconcile_intervals();
        if step.final_due {
            // F never goes with P in one packet (6.8.7); the Poll, if any,
            // rides on the next packet.
            self.send(now, false, true, out);
            self.counters.finals_sent += 1;
        }
        // A state change or a new Poll is sent at once rather than at the next
        // tick: the three-way handshake then takes one round trip per step,
        // and a peer waiting for our faster rate gets it without delay.
        let immediate = (step.changed && !step.final_due) || poll_started;
        if (immediate && self.remote.min_rx_us != 0) || step.periodic_due {
            self.send(now, self.poll_active, false, out);
            self.schedule_next(now, jitter);
        }
        self.rearm(now, jitter);
    }

    /// What we want to advertise now: the configuration, with the TX floor of
    /// one second while not Up (6.8.3).
    fn target(&self) -> Intervals {
        let tx = if self.state == State::Up {
            self.params.desired_min_tx
        } else {
            self.params.desired_min_tx.max(SLOW_TX)
        };
        Intervals {
            tx,
            rx: self.params.required_min_rx,
        }
    }

    /// Applies a change of the target intervals (6.8.3). Returns true when it
    /// started a Poll Sequence.
    fn reconcile_intervals(&mut self) -> bool {
        let target = self.target();
        if self.poll_active || target == self.advertised {
            // A change during a Poll waits for its Final, then starts its own.
            return false;
        }
        self.advertised = target;
        let up = self.state == State::Up;
        // While Up, a slower TX or a shorter detection time must wait for the
        // peer's Final; everything else is safe at once.
        if !(up && target.tx > self.in_use.tx) {
            self.in_use.tx = target.tx;
        }
        if !(up && target.rx < self.in_use.rx) {
            self.in_use.rx = target.rx;
        }
        if self.remote.discr == 0 || self.state == State::AdminDown {
            // No peer to acknowledge (or no session wanted): nothing to wait for.
            self.in_use = self.advertised;
            return false;
        }
        self.poll_active = true;
        self.counters.polls_started += 1;
        true
    }

    /// 6.8.2: the negotiated transmit interval, or None when the peer asked
    /// for no packets at all (Required Min RX of zero).
    fn tx_interval(&self) -> Option<Duration> {
        if self.remote.min_rx_us == 0 {
            return None;
        }
        Some(
            self.in_use
                .tx
                .max(Duration::from_micros(u64::from(self.remote.min_rx_us))),
        )
    }

    /// 6.8.4: the peer's Detect Mult times the greater of our Required Min RX
    /// and its last Desired Min TX. None until the peer was heard.
    fn detection_time(&self) -> Option<Duration> {
        if self.remote.detect_mult == 0 {
            return None;
        }
        let remote_tx = Duration::from_micros(u64::from(self.remote.desired_tx_us));
        Some(self.in_use.rx.max(remote_tx) * u32::from(self.remote.detect_mult))
    }

    fn detect_at(&self) -> Option<Instant> {
        self.last_rx?.checked_add(self.detection_time()?)
    }

    /// 6.8.7: when periodic packets may be sent at all.
    fn periodic_allowed(&self, now: Instant) -> bool {
        if self.remote.min_rx_us == 0 {
            return false;
        }
        // A peer in Demand mode wants no periodic packets once both are Up,
        // except those carrying our Poll.
        if self.remote.demand
            && self.state == State::Up
            && self.remote.state == State::Up
            && !self.poll_active
        {
            return false;
        }
        if self.state == State::AdminDown {
            return self.admin_tx_until.is_some_and(|t| now < t);
        }
        true
    }

    fn schedule_next(&mut self, now: Instant, jitter: &mut dyn Jitter) {
        self.next_tx = self
            .tx_interval()
            .and_then(|i| now.checked_add(jittered(i, self.params.detect_mult, jitter)));
    }

    /// Keeps the periodic timer consistent with what is allowed and with the
    /// current interval: stopped when nothing may be sent, started at once when
    /// sending resumes, and pulled in when the interval shrank (6.8.3: a reduced
    /// interval is honoured immediately, never waiting longer than it since the
    /// previous packet).
    fn rearm(&mut self, now: Instant, jitter: &mut dyn Jitter) {
        if !self.periodic_allowed(now) {
            self.next_tx = None;
            return;
        }
        let Some(interval) = self.tx_interval() else {
            return;
        };
        match (self.next_tx, self.last_tx) {
            (None, _) => self.next_tx = Some(now),
            (Some(at), Some(last)) if last.checked_add(interval).is_some_and(|l| at > l) => {
                let next = last.checked_add(jittered(interval, self.params.detect_mult, jitter));
                self.next_tx = next.map(|n| n.max(now));
            }
            _ => {}
        }
    }

    fn send(&mut self, now: Instant, poll: bool, final_: bool, out: &mut Vec<Action>) {
        let auth = self.params.auth.as_ref().map(|a| match a {
            AuthConfig::SimplePassword { key_id, password } => Auth::SimplePassword {
                key_id: *key_id,
                password: password.clone(),
            },
        });
        out.push(Action::Send(ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            // We are a control-plane process: BFD shares fate with it.
            control_plane_independent: false,
            demand: false,
            detect_mult: self.params.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote.discr,
            // Validated to fit at configuration time; the floor of 1 s fits too.
            desired_min_tx_us: micros(self.advertised.tx).unwrap_or(u32::MAX),
            required_min_rx_us: micros(self.advertised.rx).unwrap_or(u32::MAX),
            // No Echo function.
            required_min_echo_rx_us: 0,
            auth,
        }));
        self.last_tx = Some(now);
        self.counters.packets_sent += 1;
    }
}

/// What one event left for [`Session::finish`].
#[derive(Debug, Default)]
struct Step {
    changed: bool,
    final_due: bool,
    periodic_due: bool,
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
