//! The VRRP state machine of RFC 9568 section 6.4 (and RFC 3768 for v2), with
//! routerd's fencing on top. Pure: no sockets, no clock. Time comes in with every
//! call, work goes out as [`Action`]s, and [`Instance::next_deadline`] says when
//! to call again with [`Event::Timer`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{ConfigError, InstanceConfig};
use crate::error::DropReason;
use crate::fence::{Grant, GrantOutcome, GrantRole};
use crate::packet::{Advert, REQUIRED_TTL, Version};

/// The protocol state (RFC 9568 6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    /// Not running (before startup, after shutdown).
    Initialize,
    /// Watching the Master.
    Backup,
    /// Forwarding for the virtual addresses.
    Master,
}

impl State {
    /// The state's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "Initialize",
            State::Backup => "Backup",
            State::Master => "Master",
        }
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// Startup of a non-owner: wait for the Master.
    Startup,
    /// Startup with priority 255 (address owner) or with a valid owner grant.
    StartupAsOwner,
    /// Master_Down_Timer fired: no Master is advertising.
    MasterDown,
    /// An advert with higher priority (or equal priority and a higher address) arrived.
    PreemptedByHigher,
    /// routerd granted ownership (fenced mode): Master at once.
    Granted,
    /// The grant's deadline passed (fenced mode).
    GrantExpired,
    /// routerd said standby (fenced mode).
    GrantStandby,
    /// Orderly shutdown.
    Shutdown,
}

impl Reason {
    /// The reason's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::StartupAsOwner => "startupAsOwner",
            Reason::MasterDown => "masterDown",
            Reason::PreemptedByHigher => "preemptedByHigher",
            Reason::Granted => "granted",
            Reason::GrantExpired => "grantExpired",
            Reason::GrantStandby => "grantStandby",
            Reason::Shutdown => "shutdown",
        }
    }
}

/// A packet as the socket edge received it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (the multicast group, or ours for unicast).
    pub dst: IpAddr,
    /// TTL / hop limit it arrived with.
    pub ttl: u8,
    /// The VRRP message (without IP header).
    pub bytes: &'a [u8],
}

/// An input to the state machine.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Start the instance (RFC 9568 6.4.1 Startup).
    Startup,
    /// Stop it (orderly: a Master sends priority 0 and removes its addresses).
    Shutdown,
    /// An advertisement arrived.
    Packet(Received<'a>),
    /// Time passed: call at [`Instance::next_deadline`] (early or late calls are harmless).
    Timer,
    /// Change the local priority (1–254; e.g. tracking). 0 and 255 are refused.
    SetPriority(u8),
    /// A grant from routerd (see [`Instance::apply_grant`] for its outcome).
    Grant(Grant),
}

/// Work for the socket and kernel edge, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority (0: leaving Master).
    SendAdvert {
        /// Priority field to send.
        priority: u8,
    },
    /// Install the virtual addresses.
    AddVips,
    /// Remove the virtual addresses.
    RemoveVips,
    /// Gratuitous ARP / unsolicited NA for the virtual addresses.
    AnnounceVips,
    /// The state changed.
    Transition {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
}

/// Counters reported in status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Advertisements sent (including priority 0).
    pub adverts_sent: u64,
    /// Valid advertisements received for this instance.
    pub adverts_received: u64,
    /// Transitions into Master.
    pub became_master: u64,
    /// Releases of Master because a grant's deadline passed.
    pub released_on_deadline: u64,
    /// Valid adverts whose address list differs from ours (logged, not dropped,
    /// per RFC 9568 6.4.2).
    pub address_mismatch: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Every drop reason with its count.
    pub fn dropped_all(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.dropped(*r)))
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// The last state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastTransition {
    /// Old state.
    pub from: State,
    /// New state.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at: Instant,
}

/// One VRRP virtual router on one link.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    priority: u8,
    /// Master_Adver_Interval: learnt from the Master in v3 Backup.
    master_adver_interval_cs: u16,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// When a lower priority Master was first seen in this Backup period
    /// (the start of the preempt delay).
    lower_master_since: Option<Instant>,
    fenced: bool,
    grant: Option<Grant>,
    newest_epoch: Option<u64>,
    master_down_seen: bool,
    master_address: Option<IpAddr>,
    counters: Counters,
    last_transition: Option<LastTransition>,
}

impl Instance {
    /// A validated instance in Initialize.
    pub fn new(cfg: InstanceConfig) -> Result<Instance, ConfigError> {
        cfg.validate()?;
        Ok(Instance {
            state: State::Initialize,
            priority: cfg.priority,
            master_adver_interval_cs: cfg.advert_interval_cs,
            adver_timer: None,
            master_down_timer: None,
            lower_master_since: None,
            fenced: cfg.fenced,
            grant: None,
            newest_epoch: None,
            master_down_seen: false,
            master_address: None,
            counters: Counters::default(),
            last_transition: None,
            cfg,
        })
    }

    /// Handles one event at `now`.
    pub fn handle(&mut self, now: Instant, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Startup => self.startup(now, &mut out),
            Event::Shutdown => self.shutdown(now, &mut out),
            Event::Packet(pkt) => self.receive(now, pkt, &mut out),
            Event::Timer => self.timer(now, &mut out),
            Event::SetPriority(p) => {
                if (1..=254).contains(&p) {
                    self.priority = p;
                }
            }
            Event::Grant(g) => {
                self.grant_into(now, g, &mut out);
            }
        }
        out
    }

    /// Applies a grant and says whether it was taken (plus the resulting work).
    pub fn apply_grant(&mut self, now: Instant, grant: Grant) -> (GrantOutcome, Vec<Action>) {
        let mut out = Vec::new();
        let outcome = self.grant_into(now, grant, &mut out);
        (outcome, out)
    }

    /// When [`Event::Timer`] is next due, if any timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        let grant_deadline = match (self.state, self.fenced, self.grant) {
            (State::Master, true, Some(g)) => g.deadline,
            _ => None,
        };
        [self.adver_timer, self.master_down_timer, grant_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The advertisement this instance sends with `priority`.
    pub fn advert(&self, priority: u8) -> Advert {
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.advert_interval_cs,
            addresses: self.cfg.addresses.clone(),
            auth: self.cfg.auth.clone(),
        }
    }

    /// Counts a drop decided at the edge (e.g. a source that is not a unicast peer).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.counters.dropped[reason as usize] += 1;
    }

    /// Replaces the primary address (the interface's changed); takes effect on
    /// the next advert and tie break.
    pub fn set_primary_address(&mut self, addr: IpAddr) {
        if addr.is_ipv4() == self.cfg.primary_address.is_ipv4() {
            self.cfg.primary_address = addr;
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Current (effective) priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Whether a grant is currently needed to be Master.
    pub fn fenced(&self) -> bool {
        self.fenced
    }

    /// The grant in force, if any.
    pub fn grant(&self) -> Option<Grant> {
        self.grant
    }

    /// Whether the master-down timer fired while fencing kept this Backup.
    pub fn master_down_seen(&self) -> bool {
        self.master_down_seen
    }

    /// The current Master's address (ours when Master), if known.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// Master_Adver_Interval in centiseconds.
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The last state change.
    pub fn last_transition(&self) -> Option<LastTransition> {
        self.last_transition
    }

    /// Skew_Time (RFC 9568 6.1): ((256 - Priority) * Master_Adver_Interval) / 256,
    /// computed in microseconds so small intervals keep their skew.
    pub fn skew_time(&self) -> Duration {
        let us =
            (256 - u64::from(self.priority)) * u64::from(self.master_adver_interval_cs) * 10_000
                / 256;
        Duration::from_micros(us)
    }

    /// Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        cs(self.master_adver_interval_cs) * 3 + self.skew_time()
    }

    fn may_be_master(&self, now: Instant) -> bool {
        !self.fenced || self.grant.is_some_and(|g| g.permits_master(now))
    }

    // RFC 9568 6.4.1
    fn startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.master_adver_interval_cs = self.cfg.advert_interval_cs;
        let owner = if self.fenced {
            self.may_be_master(now)
        } else {
            self.priority == 255
        };
        if owner {
            self.become_master(now, Reason::StartupAsOwner, out);
        } else {
            self.become_backup(now, Reason::Startup, out);
        }
    }

    // RFC 9568 6.4.2 / 6.4.3 "If a Shutdown event is received"
    fn shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => return,
            State::Master => {
                out.push(Action::RemoveVips);
                self.send(0, out);
            }
            State::Backup => {}
        }
        self.adver_timer = None;
        self.master_down_timer = None;
        self.master_address = None;
        self.transition(now, State::Initialize, Reason::Shutdown, out);
    }

    fn timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Initialize => {}
            State::Master => {
                if self.fenced && !self.may_be_master(now) {
                    self.release(now, Reason::GrantExpired, out);
                    return;
                }
                if self.adver_timer.is_some_and(|t| now >= t) {
                    self.send(self.priority, out);
                    self.adver_timer = Some(now + cs(self.cfg.advert_interval_cs));
                }
            }
            State::Backup => {
                if self.master_down_timer.is_some_and(|t| now >= t) {
                    if self.may_be_master(now) {
                        self.become_master(now, Reason::MasterDown, out);
                    } else {
                        // Fenced: the grant, not the timer, decides. Remember that
                        // nobody is advertising and keep watching.
                        self.master_down_seen = true;
                        self.master_address = None;
                        self.master_down_timer = Some(now + self.master_down_interval());
                    }
                }
            }
        }
    }

    fn receive(&mut self, now: Instant, pkt: Received<'_>, out: &mut Vec<Action>) {
        // RFC 9568 7.1: checks in order; any failure drops the packet.
        if pkt.ttl != REQUIRED_TTL {
            return self.count_drop(DropReason::Ttl);
        }
        let advert = match Advert::decode(pkt.bytes, pkt.src, pkt.dst) {
            Ok(a) => a,
            Err(e) => return self.count_drop(DropReason::from(&e)),
        };
        if pkt.src.is_ipv4() != self.cfg.primary_address.is_ipv4() {
            return self.count_drop(DropReason::Family);
        }
        if advert.version != self.cfg.version {
            return self.count_drop(DropReason::Version);
        }
        if advert.vrid != self.cfg.vrid {
            return self.count_drop(DropReason::Vrid);
        }
        if pkt.src == self.cfg.primary_address {
            return self.count_drop(DropReason::Source);
        }
        if self.cfg.version == Version::V2 {
            // RFC 3768 7.1: authentication must match, and so must the interval.
            if advert.auth != self.cfg.auth {
                return self.count_drop(DropReason::Auth);
            }
            if advert.interval_cs != self.cfg.advert_interval_cs {
                return self.count_drop(DropReason::Interval);
            }
        }
        self.counters.adverts_received += 1;
        if advert.priority != 255 && !same_addresses(&advert.addresses, &self.cfg.addresses) {
            self.counters.address_mismatch += 1;
        }
        match self.state {
            State::Initialize => {}
            State::Backup => self.backup_receive(now, pkt.src, &advert),
            State::Master => self.master_receive(now, pkt.src, &advert, out),
        }
    }

    // RFC 9568 6.4.2 "If an ADVERTISEMENT is received"
    fn backup_receive(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        if advert.priority == 0 {
            self.master_down_timer = Some(now + self.skew_time());
            return;
        }
        let lower = advert.priority < self.priority;
        // routerd's VRRP-only fallback (a fenced instance told to run plain
        // VRRP because the cluster lost quorum) never preempts: an isolated
        // router that still hears the real owner must stay quiet.
        let fallback = self.cfg.fenced && !self.fenced;
        let defer = if !self.cfg.preempt || fallback || !lower {
            self.lower_master_since = None;
            true
        } else {
            // A lower priority Master: preempt by letting the timer run out,
            // after the preempt delay counted from the first sighting.
            let since = *self.lower_master_since.get_or_insert(now);
            now < since + self.cfg.preempt_delay
        };
        if defer {
            if self.cfg.version == Version::V3 {
                self.master_adver_interval_cs = advert.interval_cs;
            }
            self.master_address = Some(src);
            self.master_down_seen = false;
            self.master_down_timer = Some(now + self.master_down_interval());
        }
    }

    // RFC 9568 6.4.3 "If an ADVERTISEMENT is received"
    fn master_receive(
        &mut self,
        now: Instant,
        src: IpAddr,
        advert: &Advert,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == 0 {
            self.send(self.priority, out);
            self.adver_timer = Some(now + cs(self.cfg.advert_interval_cs));
            return;
        }
        let beats_us = advert.priority > self.priority
            || (advert.priority == self.priority && ip_greater(src, self.cfg.primary_address));
        if beats_us {
            self.adver_timer = None;
            if self.cfg.version == Version::V3 {
                self.master_adver_interval_cs = advert.interval_cs;
            }
            out.push(Action::RemoveVips);
            self.become_backup(now, Reason::PreemptedByHigher, out);
            self.master_address = Some(src);
        }
    }

    fn grant_into(&mut self, now: Instant, grant: Grant, out: &mut Vec<Action>) -> GrantOutcome {
        if self.newest_epoch.is_some_and(|e| grant.epoch < e) {
            return GrantOutcome::IgnoredOlderEpoch;
        }
        let held = self.fenced && self.may_be_master(now);
        self.newest_epoch = Some(grant.epoch);
        self.grant = Some(grant);
        self.fenced = grant.role != GrantRole::Vrrp;
        if !self.fenced {
            return GrantOutcome::Accepted;
        }
        match self.state {
            State::Initialize => {}
            State::Master if !self.may_be_master(now) => {
                let reason = if grant.role == GrantRole::Standby {
                    Reason::GrantStandby
                } else {
                    Reason::GrantExpired
                };
                self.release(now, reason, out);
            }
            State::Master => {}
            // Only a grant that newly permits Master forces it: a renewal must
            // not undo an RFC preemption by a third-party router.
            State::Backup if !held && self.may_be_master(now) => {
                self.become_master(now, Reason::Granted, out);
            }
            State::Backup => {}
        }
        GrantOutcome::Accepted
    }

    /// Fenced exit from Master: addresses gone and a priority 0 advert at once,
    /// so the next owner does not wait.
    fn release(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        out.push(Action::RemoveVips);
        self.send(0, out);
        if reason == Reason::GrantExpired {
            self.counters.released_on_deadline += 1;
        }
        self.adver_timer = None;
        self.master_adver_interval_cs = self.cfg.advert_interval_cs;
        self.master_address = None;
        self.become_backup(now, reason, out);
    }

    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        out.push(Action::AddVips);
        self.send(self.priority, out);
        out.push(Action::AnnounceVips);
        self.adver_timer = Some(now + cs(self.cfg.advert_interval_cs));
        self.master_down_timer = None;
        self.lower_master_since = None;
        self.master_down_seen = false;
        self.master_address = Some(self.cfg.primary_address);
        self.counters.became_master += 1;
        self.transition(now, State::Master, reason, out);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        self.lower_master_since = None;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.transition(now, State::Backup, reason, out);
    }

    fn send(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        out.push(Action::SendAdvert { priority });
    }

    fn transition(&mut self, now: Instant, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.last_transition = Some(LastTransition {
            from,
            to,
            reason,
            at: now,
        });
        out.push(Action::Transition { from, to, reason });
    }
}

fn cs(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

/// Compares addresses as unsigned integers (RFC 9568 6.4.3); another family never wins.
fn ip_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets() > b.octets(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets() > b.octets(),
        _ => false,
    }
}

fn same_addresses(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
