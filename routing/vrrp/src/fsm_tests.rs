//! The state machine in virtual time: a simulated link delivers every advert to
//! the other routers at once, and the clock jumps to the next timer.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::packet::{Auth, MULTICAST_V4};

const GROUP: IpAddr = IpAddr::V4(MULTICAST_V4);

fn addr(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn cfg(last: u8, priority: u8) -> InstanceConfig {
    InstanceConfig {
        vrid: 51,
        version: Version::V3,
        priority,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        accept_mode: false,
        addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254))],
        auth: Auth::None,
        fenced: false,
        primary_address: addr(last),
    }
}

struct Router {
    inst: Instance,
    up: bool,
    vips: bool,
    transitions: Vec<(State, State, Reason)>,
}

/// Routers on one virtual link, and the virtual clock.
struct Link {
    t0: Instant,
    now: Instant,
    routers: Vec<Router>,
    /// (sender index, priority) of every advert on the wire.
    wire: Vec<(usize, u8)>,
}

impl Link {
    fn new(cfgs: Vec<InstanceConfig>) -> Link {
        let t0 = Instant::now();
        Link {
            t0,
            now: t0,
            routers: cfgs
                .into_iter()
                .map(|c| Router {
                    inst: Instance::new(c).unwrap(),
                    up: false,
                    vips: false,
                    transitions: vec![],
                })
                .collect(),
            wire: vec![],
        }
    }

    fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn event(&mut self, i: usize, event: Event<'_>) {
        let actions = self.routers[i].inst.handle(self.now, event);
        self.run(i, actions);
    }

    fn start(&mut self, i: usize) {
        self.routers[i].up = true;
        self.event(i, Event::Startup);
    }

    fn grant(&mut self, i: usize, g: Grant) -> GrantOutcome {
        let (outcome, actions) = self.routers[i].inst.apply_grant(self.now, g);
        self.run(i, actions);
        outcome
    }

    fn run(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SendAdvert { priority } => {
                    self.wire.push((i, priority));
                    let src = self.routers[i].inst.config().primary_address;
                    let bytes = self.routers[i].inst.advert(priority).encode(src, GROUP);
                    for j in 0..self.routers.len() {
                        if j != i && self.routers[j].up {
                            let pkt = Received {
                                src,
                                dst: GROUP,
                                ttl: 255,
                                bytes: &bytes,
                            };
                            let out = self.routers[j].inst.handle(self.now, Event::Packet(pkt));
                            self.run(j, out);
                        }
                    }
                }
                Action::AddVips => self.routers[i].vips = true,
                Action::RemoveVips => self.routers[i].vips = false,
                Action::AnnounceVips => {}
                Action::Transition { from, to, reason } => {
                    self.routers[i].transitions.push((from, to, reason));
                }
            }
        }
    }

    /// Advances to `until`, firing every timer on the way in order.
    fn advance(&mut self, until: Duration) {
        let end = self.t0 + until;
        for _ in 0..100_000 {
            let next = self
                .routers
                .iter()
                .enumerate()
                .filter(|(_, r)| r.up)
                .filter_map(|(i, r)| r.inst.next_deadline().map(|d| (d, i)))
                .min();
            match next {
                Some((d, i)) if d <= end => {
                    self.now = self.now.max(d);
                    self.event(i, Event::Timer);
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("timers did not settle");
    }

    fn state(&self, i: usize) -> State {
        self.routers[i].inst.state()
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|i| self.routers[*i].up && self.state(*i) == State::Master)
            .collect()
    }

    /// Router `i` dies silently (kill -9 and link down).
    fn crash(&mut self, i: usize) {
        self.routers[i].up = false;
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn timers_follow_the_rfc_formulas() {
    let inst = Instance::new(cfg(1, 100)).unwrap();
    // Skew = (256-100)*1 s/256 = 609.375 ms; Master_Down = 3 s + skew.
    assert_eq!(inst.skew_time(), Duration::from_micros(609_375));
    assert_eq!(
        inst.master_down_interval(),
        Duration::from_micros(3_609_375)
    );
}

#[test]
fn lone_backup_becomes_master_after_master_down_interval() {
    let mut link = Link::new(vec![cfg(1, 100)]);
    link.start(0);
    assert_eq!(link.state(0), State::Backup);
    link.advance(secs(3.6));
    assert_eq!(link.state(0), State::Backup, "not before 3.609 s");
    link.advance(secs(3.61));
    assert_eq!(link.state(0), State::Master);
    assert!(link.routers[0].vips);
    assert_eq!(
        link.routers[0].transitions.last(),
        Some(&(State::Backup, State::Master, Reason::MasterDown))
    );
}

#[test]
fn address_owner_is_master_at_startup() {
    let mut link = Link::new(vec![cfg(1, 255)]);
    link.start(0);
    assert_eq!(link.state(0), State::Master);
    assert_eq!(link.wire, vec![(0, 255)]);
}

#[test]
fn higher_priority_wins_and_the_other_stays_backup() {
    let mut link = Link::new(vec![cfg(1, 100), cfg(2, 200)]);
    link.start(0);
    link.start(1);
    link.advance(secs(20.0));
    assert_eq!(link.masters(), vec![1]);
    // One transition into Master, no flapping.
    assert_eq!(link.routers[1].inst.counters().became_master, 1);
    assert_eq!(link.routers[0].inst.counters().became_master, 0);
    assert_eq!(link.routers[0].inst.master_address(), Some(addr(2)));
}

#[test]
fn equal_priority_tie_goes_to_the_higher_address() {
    let mut link = Link::new(vec![cfg(9, 100), cfg(3, 100)]);
    link.start(0);
    link.start(1);
    link.advance(secs(20.0));
    assert_eq!(link.masters(), vec![0], "10.0.0.9 > 10.0.0.3");
}

#[test]
fn preempt_takes_over_from_a_lower_master() {
    let mut link = Link::new(vec![cfg(1, 100), cfg(2, 200)]);
    link.start(0);
    link.advance(secs(10.0));
    assert_eq!(link.masters(), vec![0]);
    link.start(1);
    // The higher one ignores the lower adverts and its master-down timer runs out:
    // 3 s + skew (56/256 s) after startup.
    link.advance(secs(10.0 + 3.2));
    assert_eq!(link.masters(), vec![0]);
    link.advance(secs(10.0 + 3.25));
    assert_eq!(link.masters(), vec![1]);
    assert_eq!(
        link.routers[0].transitions.last(),
        Some(&(State::Master, State::Backup, Reason::PreemptedByHigher))
    );
}

#[test]
fn without_preempt_a_higher_backup_defers_to_the_master() {
    let mut lower = cfg(1, 100);
    lower.preempt = false;
    let mut higher = cfg(2, 200);
    higher.preempt = false;
    let mut link = Link::new(vec![lower, higher]);
    link.start(0);
    link.advance(secs(10.0));
    link.start(1);
    link.advance(secs(60.0));
    assert_eq!(link.masters(), vec![0]);
}

#[test]
fn preempt_delay_postpones_preemption() {
    let mut higher = cfg(2, 200);
    higher.preempt_delay = secs(5.0);
    let mut link = Link::new(vec![cfg(1, 100), higher]);
    link.start(0);
    link.advance(secs(10.0));
    link.start(1);
    link.advance(secs(10.0 + 7.0));
    assert_eq!(
        link.masters(),
        vec![0],
        "still within the 5 s delay plus master down"
    );
    link.advance(secs(10.0 + 9.0));
    assert_eq!(link.masters(), vec![1]);
}

#[test]
fn priority_zero_lets_the_backup_take_over_after_skew() {
    let mut link = Link::new(vec![cfg(1, 100), cfg(2, 200)]);
    link.start(0);
    link.start(1);
    link.advance(secs(10.0));
    assert_eq!(link.masters(), vec![1]);
    link.event(1, Event::Shutdown);
    link.routers[1].up = false;
    assert_eq!(link.wire.last(), Some(&(1, 0)));
    assert!(!link.routers[1].vips);
    // Skew for priority 100 is 0.609 s, far below the 3.6 s master-down interval.
    link.advance(secs(10.0 + 0.6));
    assert_eq!(link.masters(), Vec::<usize>::new());
    link.advance(secs(10.0 + 0.62));
    assert_eq!(link.masters(), vec![0]);
}

#[test]
fn crash_of_the_master_hands_over_after_master_down() {
    let mut link = Link::new(vec![cfg(1, 100), cfg(2, 200)]);
    link.start(0);
    link.start(1);
    link.advance(secs(10.0));
    link.crash(1);
    let crashed = link.at();
    link.advance(crashed + secs(4.0));
    assert_eq!(link.masters(), vec![0]);
}

#[test]
fn v3_backup_learns_the_masters_interval() {
    let mut fast = cfg(2, 200);
    fast.advert_interval_cs = 10;
    let mut link = Link::new(vec![cfg(1, 100), fast]);
    link.start(1);
    link.advance(secs(1.0));
    link.start(0);
    link.advance(secs(2.0));
    assert_eq!(link.routers[0].inst.master_adver_interval_cs(), 10);
    link.crash(1);
    link.advance(secs(2.0 + 0.37));
    assert_eq!(link.masters(), vec![0], "3*0.1 s + skew 0.061 s");
}

#[test]
fn v2_interval_mismatch_and_bad_password_are_dropped() {
    let mut a = cfg(1, 100);
    a.version = Version::V2;
    a.auth = Auth::simple("secret");
    let mut b = a.clone();
    b.primary_address = addr(2);
    b.priority = 200;
    b.advert_interval_cs = 200;
    let mut c = a.clone();
    c.primary_address = addr(3);
    c.priority = 200;
    c.auth = Auth::simple("wrong");
    let mut link = Link::new(vec![a, b, c]);
    link.start(1);
    link.start(2);
    link.advance(secs(5.0));
    link.start(0);
    link.advance(secs(10.0));
    let counters = link.routers[0].inst.counters();
    assert!(counters.dropped(DropReason::Interval) > 0);
    assert!(counters.dropped(DropReason::Auth) > 0);
    assert_eq!(counters.adverts_received, 0);
    assert_eq!(link.state(0), State::Master, "neither peer was heard");
}

#[test]
fn ttl_and_vrid_are_checked_before_anything_else() {
    let mut inst = Instance::new(cfg(1, 100)).unwrap();
    let now = Instant::now();
    inst.handle(now, Event::Startup);
    let src = addr(2);
    let bytes = inst.advert(200).encode(src, GROUP);
    let pkt = |ttl| Received {
        src,
        dst: GROUP,
        ttl,
        bytes: &bytes,
    };
    inst.handle(now, Event::Packet(pkt(254)));
    assert_eq!(inst.counters().dropped(DropReason::Ttl), 1);
    let mut other = cfg(2, 200);
    other.vrid = 52;
    let other_bytes = Instance::new(other).unwrap().advert(200).encode(src, GROUP);
    let pkt = Received {
        src,
        dst: GROUP,
        ttl: 255,
        bytes: &other_bytes,
    };
    inst.handle(now, Event::Packet(pkt));
    assert_eq!(inst.counters().dropped(DropReason::Vrid), 1);
    assert_eq!(inst.counters().adverts_received, 0);
}

// ---- fencing ----

fn fenced(last: u8, priority: u8) -> InstanceConfig {
    InstanceConfig {
        fenced: true,
        ..cfg(last, priority)
    }
}

fn owner(epoch: u64, deadline: Option<Instant>) -> Grant {
    Grant {
        epoch,
        role: GrantRole::Owner,
        deadline,
    }
}

#[test]
fn fenced_instances_are_never_master_without_a_grant() {
    let mut link = Link::new(vec![fenced(1, 100), fenced(2, 255)]);
    link.start(0);
    link.start(1);
    link.advance(secs(60.0));
    assert_eq!(link.masters(), Vec::<usize>::new());
    assert!(link.routers[0].inst.master_down_seen());
    assert!(link.routers[1].inst.master_down_seen());
    assert!(link.routers.iter().all(|r| !r.vips));
}

#[test]
fn a_grant_makes_master_at_once_and_the_deadline_releases_exactly() {
    let mut link = Link::new(vec![fenced(1, 100), fenced(2, 200)]);
    link.start(0);
    link.start(1);
    link.advance(secs(1.0));
    let deadline = link.now + secs(5.0);
    // The lower priority node gets the grant: priority does not matter when fenced.
    assert_eq!(
        link.grant(0, owner(1, Some(deadline))),
        GrantOutcome::Accepted
    );
    assert_eq!(link.masters(), vec![0], "no wait for master down");
    assert!(link.routers[0].vips);
    assert_eq!(
        link.routers[0].inst.next_deadline().map(|d| d <= deadline),
        Some(true)
    );
    link.advance(secs(6.0) - Duration::from_nanos(1));
    assert_eq!(link.masters(), vec![0]);
    link.advance(secs(6.0));
    assert_eq!(link.masters(), Vec::<usize>::new());
    assert!(!link.routers[0].vips);
    assert_eq!(link.routers[0].inst.counters().released_on_deadline, 1);
    assert_eq!(link.wire.last(), Some(&(0, 0)), "priority 0 on release");
    assert_eq!(
        link.routers[0].transitions.last(),
        Some(&(State::Master, State::Backup, Reason::GrantExpired))
    );
}

#[test]
fn renewals_keep_master_and_standby_releases_it() {
    let mut link = Link::new(vec![fenced(1, 100)]);
    link.start(0);
    for k in 0..10u32 {
        let deadline = link.now + secs(1.0);
        link.grant(0, owner(3, Some(deadline)));
        link.advance(secs(0.5 * f64::from(k + 1)));
        assert_eq!(link.state(0), State::Master);
    }
    assert_eq!(link.routers[0].inst.counters().became_master, 1);
    let standby = Grant {
        epoch: 3,
        role: GrantRole::Standby,
        deadline: None,
    };
    link.grant(0, standby);
    assert_eq!(link.state(0), State::Backup);
    assert_eq!(
        link.routers[0].transitions.last(),
        Some(&(State::Master, State::Backup, Reason::GrantStandby))
    );
}

#[test]
fn older_epochs_are_ignored_entirely() {
    let mut link = Link::new(vec![fenced(1, 100)]);
    link.start(0);
    link.grant(0, owner(7, None));
    assert_eq!(link.state(0), State::Master);
    let stale = Grant {
        epoch: 6,
        role: GrantRole::Standby,
        deadline: None,
    };
    assert_eq!(link.grant(0, stale), GrantOutcome::IgnoredOlderEpoch);
    assert_eq!(link.state(0), State::Master);
    assert_eq!(link.routers[0].inst.grant().map(|g| g.epoch), Some(7));
    link.advance(secs(100.0));
    assert_eq!(link.state(0), State::Master, "no deadline: hold");
}

#[test]
fn a_grant_at_startup_resumes_master_at_once() {
    let mut link = Link::new(vec![fenced(1, 100)]);
    link.grant(0, owner(2, Some(link.now + secs(10.0))));
    assert_eq!(link.state(0), State::Initialize);
    link.start(0);
    assert_eq!(link.state(0), State::Master);
    assert_eq!(
        link.routers[0].transitions,
        vec![(State::Initialize, State::Master, Reason::StartupAsOwner)]
    );
}

#[test]
fn a_granted_master_still_yields_to_a_higher_third_party() {
    let mut link = Link::new(vec![fenced(1, 100), cfg(2, 200)]);
    link.start(0);
    link.grant(0, owner(1, None));
    assert_eq!(link.masters(), vec![0]);
    link.start(1);
    link.advance(secs(5.0));
    assert_eq!(link.masters(), vec![1]);
    assert_eq!(
        link.routers[0].transitions.last(),
        Some(&(State::Master, State::Backup, Reason::PreemptedByHigher))
    );
    // A renewal does not undo that; the third party's death does.
    link.grant(0, owner(1, None));
    assert_eq!(link.masters(), vec![1]);
    link.crash(1);
    link.advance(secs(10.0));
    assert_eq!(link.masters(), vec![0]);
}

#[test]
fn the_vrrp_only_fallback_never_preempts() {
    let mut link = Link::new(vec![fenced(1, 100), fenced(2, 200)]);
    let vrrp = Grant {
        epoch: 1,
        role: GrantRole::Vrrp,
        deadline: None,
    };
    link.start(0);
    link.grant(0, vrrp);
    link.advance(secs(5.0));
    assert_eq!(
        link.masters(),
        vec![0],
        "alone: master-down makes it master"
    );
    link.start(1);
    link.grant(1, vrrp);
    link.advance(secs(20.0));
    assert_eq!(
        link.masters(),
        vec![0],
        "a higher priority in fallback does not preempt the serving master"
    );
    link.crash(0);
    link.advance(secs(30.0));
    assert_eq!(link.masters(), vec![1], "but takes over when it is gone");
}

#[test]
fn unfencing_at_runtime_falls_back_to_plain_vrrp_and_back() {
    let mut link = Link::new(vec![fenced(1, 100), fenced(2, 200)]);
    link.start(0);
    link.start(1);
    link.advance(secs(10.0));
    assert_eq!(link.masters(), Vec::<usize>::new());
    let vrrp = Grant {
        epoch: 1,
        role: GrantRole::Vrrp,
        deadline: None,
    };
    link.grant(0, vrrp);
    link.grant(1, vrrp);
    link.advance(secs(20.0));
    assert_eq!(
        link.masters(),
        vec![0],
        "plain VRRP without preemption: the first to fall back serves"
    );
    let standby = Grant {
        epoch: 2,
        role: GrantRole::Standby,
        deadline: None,
    };
    link.grant(1, standby);
    link.grant(0, owner(2, None));
    link.advance(secs(30.0));
    assert_eq!(link.masters(), vec![0], "fenced again: the grant decides");
}
