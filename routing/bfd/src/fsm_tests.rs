//! The state machine in virtual time: single transitions driven by hand-made
//! packets, and two sessions talking to each other through a lossy "wire".

use std::time::{Duration, Instant};

use super::*;
use crate::jitter::{FixedJitter, SeededJitter};

const MS: Duration = Duration::from_millis(1);

/// Fixed jitter at the top of the band: intervals are exactly the negotiated ones.
fn nojitter() -> FixedJitter {
    FixedJitter(1000)
}

fn fast() -> SessionParams {
    SessionParams::new(50 * MS, 3)
}

/// A packet from the peer (discriminator 99) with 50 ms / 50 ms × 3.
fn from_peer(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discr: 99,
        your_discr: your,
        desired_min_tx_us: 50_000,
        required_min_rx_us: 50_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

fn sent(actions: &[Action]) -> Vec<&ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn changes(actions: &[Action]) -> Vec<StateChange> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StateChanged(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// A session with its clock and jitter, for hand-driven tests.
struct One {
    s: Session,
    now: Instant,
    j: FixedJitter,
}

impl One {
    fn new(params: SessionParams) -> One {
        let now = Instant::now();
        let s = Session::new(1, params, now).expect("valid params");
        One {
            s,
            now,
            j: nojitter(),
        }
    }

    fn rx(&mut self, p: &ControlPacket) -> Vec<Action> {
        self.s.handle(self.now, Event::Received(p), &mut self.j)
    }

    fn ev(&mut self, e: Event<'_>) -> Vec<Action> {
        self.s.handle(self.now, e, &mut self.j)
    }

    /// Advances to `t` firing every timer on the way; returns all actions.
    fn run_to(&mut self, t: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            match self.s.next_deadline() {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    out.extend(self.s.handle(self.now, Event::Timer, &mut self.j));
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        out
    }

    fn up(&mut self) {
        self.ev(Event::Timer);
        self.rx(&from_peer(State::Init, 1));
        assert_eq!(self.s.state(), State::Up);
    }
}

#[test]
fn a_new_session_is_down_and_sends_slowly_at_once() {
    let mut o = One::new(fast());
    assert_eq!(o.s.state(), State::Down);
    assert_eq!(o.s.next_deadline(), Some(o.now));
    let a = o.ev(Event::Timer);
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].state, State::Down);
    assert_eq!(p[0].your_discr, 0);
    assert_eq!(p[0].my_discr, 1);
    // 6.8.3: not Up, so Desired Min TX is at least 1 s; Required Min RX is ours.
    assert_eq!(p[0].desired_min_tx_us, 1_000_000);
    assert_eq!(p[0].required_min_rx_us, 50_000);
    assert!(!p[0].poll && !p[0].final_);
    assert_eq!(o.s.next_deadline(), Some(o.now + Duration::from_secs(1)));
}

#[test]
fn zero_discriminator_and_bad_params_are_refused() {
    let now = Instant::now();
    assert_eq!(
        Session::new(0, fast(), now).err(),
        Some(ConfigError::ZeroDiscriminator)
    );
    assert_eq!(
        Session::new(1, SessionParams::new(50 * MS, 0), now).err(),
        Some(ConfigError::ZeroDetectMult)
    );
    assert!(matches!(
        Session::new(1, SessionParams::new(Duration::from_micros(10), 3), now).err(),
        Some(ConfigError::IntervalTooShort { .. })
    ));
    assert!(matches!(
        Session::new(1, SessionParams::new(Duration::from_secs(5000), 3), now).err(),
        Some(ConfigError::IntervalTooLong { .. })
    ));
}

#[test]
fn down_to_init_on_peer_down_then_up_on_peer_up() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    let a = o.rx(&from_peer(State::Down, 0));
    assert_eq!(o.s.state(), State::Init);
    assert_eq!(o.s.remote_discr(), 99);
    let c = changes(&a);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].from, c[0].to, c[0].diag),
        (State::Down, State::Init, Diag::None)
    );
    // The change goes out at once, carrying the learnt discriminator.
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].state, p[0].your_discr), (State::Init, 99));

    o.now += 10 * MS;
    let a = o.rx(&from_peer(State::Up, 1));
    assert_eq!(o.s.state(), State::Up);
    assert_eq!(changes(&a)[0].to, State::Up);
}

#[test]
fn down_goes_straight_up_on_peer_init() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    o.rx(&from_peer(State::Init, 1));
    assert_eq!(o.s.state(), State::Up);
    assert_eq!(o.s.counters().up_transitions, 1);
}

#[test]
fn init_goes_up_on_peer_init() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    o.rx(&from_peer(State::Down, 0));
    o.rx(&from_peer(State::Init, 1));
    assert_eq!(o.s.state(), State::Up);
}

#[test]
fn down_ignores_a_peer_that_says_up() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    let a = o.rx(&from_peer(State::Up, 1));
    assert_eq!(o.s.state(), State::Down);
    assert!(changes(&a).is_empty());
    // It was still received: the peer is known, and its silence would count.
    assert_eq!(o.s.remote_discr(), 99);
    assert!(o.s.status().detection_time_us.is_some());
}

#[test]
fn up_goes_down_when_the_peer_says_down() {
    let mut o = One::new(fast());
    o.up();
    let a = o.rx(&from_peer(State::Down, 1));
    assert_eq!(o.s.state(), State::Down);
    let c = changes(&a)[0];
    assert_eq!(c.diag, Diag::NeighborSignaledSessionDown);
    assert!(c.is_failure());
    assert_eq!(o.s.counters().down_transitions, 1);
}

#[test]
fn peer_admin_down_takes_us_down_without_a_failure() {
    let mut o = One::new(fast());
    o.up();
    let a = o.rx(&ControlPacket {
        diag: Diag::AdministrativelyDown,
        ..from_peer(State::AdminDown, 1)
    });
    let c = changes(&a)[0];
    assert_eq!(
        (c.to, c.diag),
        (State::Down, Diag::NeighborSignaledSessionDown)
    );
    assert_eq!(c.remote_state, State::AdminDown);
    assert!(
        !c.is_failure(),
        "RFC 5882 3.2: an AdminDown peer is not a path failure"
    );
    // In Down, AdminDown from the peer changes nothing.
    let a = o.rx(&from_peer(State::AdminDown, 1));
    assert!(changes(&a).is_empty());
    assert_eq!(o.s.state(), State::Down);
    // Init also falls back to Down.
    o.rx(&from_peer(State::Down, 1));
    assert_eq!(o.s.state(), State::Init);
    o.rx(&from_peer(State::AdminDown, 1));
    assert_eq!(o.s.state(), State::Down);
}

#[test]
fn local_admin_down_announces_then_goes_quiet_and_discards() {
    let mut o = One::new(fast());
    o.up();
    let a = o.ev(Event::AdminDown);
    let c = changes(&a)[0];
    assert_eq!(
        (c.from, c.to, c.diag),
        (State::Up, State::AdminDown, Diag::AdministrativelyDown)
    );
    assert!(!c.is_failure());
    let p = sent(&a);
    assert_eq!(
        p.last().map(|p| (p.state, p.diag)),
        Some((State::AdminDown, Diag::AdministrativelyDown))
    );
    // Packets are discarded and counted; no detection timer runs.
    let a = o.rx(&from_peer(State::Up, 1));
    assert!(a.iter().all(|a| !matches!(a, Action::StateChanged(_))));
    assert_eq!(o.s.counters().dropped.get(DropReason::AdminDown), 1);
    assert_eq!(o.s.state(), State::AdminDown);
    // It keeps telling the peer for a while (slowly), then stops.
    let a = o.run_to(o.now + Duration::from_secs(10));
    let p = sent(&a);
    assert!(
        !p.is_empty() && p.len() <= 4,
        "{} AdminDown packets",
        p.len()
    );
    assert!(
        p.iter()
            .all(|p| p.state == State::AdminDown && p.desired_min_tx_us == 1_000_000)
    );
    assert!(o.s.is_quiescent());
    assert_eq!(o.s.next_deadline(), None);

    let a = o.ev(Event::AdminUp);
    assert_eq!(o.s.state(), State::Down);
    assert_eq!(changes(&a)[0].diag, Diag::None);
    assert_eq!(sent(&a).len(), 1, "sends at once after AdminUp");
    assert!(o.s.next_deadline().is_some());
    o.rx(&from_peer(State::Down, 1));
    assert_eq!(o.s.state(), State::Init);
}

#[test]
fn up_starts_a_poll_for_the_fast_rate_and_final_completes_it() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    let a = o.rx(&from_peer(State::Init, 1));
    let p = sent(&a);
    // The Up packet goes out at once, with P and the fast Desired Min TX.
    let last = p.last().expect("a packet");
    assert_eq!(last.state, State::Up);
    assert!(last.poll && !last.final_);
    assert_eq!(last.desired_min_tx_us, 50_000);
    assert_eq!(o.s.counters().polls_started, 1);
    // A faster TX is safe at once: the next packet is due within 50 ms.
    assert_eq!(o.s.status().tx_interval_us, Some(50_000));
    assert_eq!(o.s.next_deadline(), Some(o.now + 50 * MS));
    // Periodic packets keep P until the Final.
    let a = o.run_to(o.now + 50 * MS);
    assert!(sent(&a).iter().all(|p| p.poll));
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.counters().polls_completed, 1);
    assert!(!o.s.status().poll_active);
    let a = o.run_to(o.now + 50 * MS);
    assert!(sent(&a).iter().all(|p| !p.poll));
}

#[test]
fn a_poll_is_answered_at_once_with_a_final() {
    let mut o = One::new(fast());
    o.up();
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    let a = o.rx(&ControlPacket {
        poll: true,
        ..from_peer(State::Up, 1)
    });
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert!(p[0].final_ && !p[0].poll, "F, never with P (6.8.7)");
    assert_eq!(o.s.counters().finals_sent, 1);
    // Even in Down, and even while our own Poll runs: F alone, P later.
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    let a = o.rx(&ControlPacket {
        poll: true,
        ..from_peer(State::Down, 0)
    });
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert!(p[0].final_ && !p[0].poll);
    assert_eq!(p[0].state, State::Init);
}

#[test]
fn timer_negotiation_takes_the_slower_side() {
    let mut o = One::new(fast());
    o.up();
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    // 6.8.2: TX = max(our Desired Min TX, their Required Min RX).
    o.rx(&ControlPacket {
        required_min_rx_us: 200_000,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.status().tx_interval_us, Some(200_000));
    // 6.8.4: detection = their mult × max(our Required Min RX, their Desired Min TX).
    o.rx(&ControlPacket {
        detect_mult: 5,
        desired_min_tx_us: 80_000,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.status().detection_time_us, Some(400_000));
    assert_eq!(o.s.status().tx_interval_us, Some(50_000));
    o.rx(&ControlPacket {
        detect_mult: 2,
        desired_min_tx_us: 10_000,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.status().detection_time_us, Some(100_000));
}

#[test]
fn a_shorter_remote_rx_is_honoured_immediately() {
    let slow_peer = ControlPacket {
        required_min_rx_us: 1_000_000,
        desired_min_tx_us: 1_000_000,
        ..from_peer(State::Up, 1)
    };
    let mut o = One::new(fast());
    o.up();
    o.rx(&ControlPacket {
        final_: true,
        ..slow_peer.clone()
    });
    // Sending once a second now; keep the peer alive and find our last packet.
    let mut last_tx = o.now;
    for _ in 0..3 {
        let a = o.run_to(o.now + Duration::from_secs(1));
        if !sent(&a).is_empty() {
            last_tx = o.now;
        }
        o.rx(&slow_peer);
    }
    assert_eq!(o.s.state(), State::Up);
    assert_eq!(o.s.status().tx_interval_us, Some(1_000_000));
    // The peer drops to 50 ms: we must not wait longer than 50 ms after our
    // previous packet (6.8.3), so a packet is due at once.
    o.now += 100 * MS;
    assert!(o.now > last_tx + 50 * MS);
    o.rx(&ControlPacket {
        desired_min_tx_us: 1_000_000,
        ..from_peer(State::Up, 1)
    });
    let next = o.s.next_deadline().expect("armed");
    assert!(next <= o.now, "next TX {:?} after now", next - o.now);
    let a = o.ev(Event::Timer);
    assert_eq!(sent(&a).len(), 1);
    let next = o.s.next_deadline().expect("armed");
    assert_eq!(next, o.now + 50 * MS);
}

#[test]
fn detection_timeout_takes_up_down_with_diag_1() {
    let mut o = One::new(fast());
    o.up();
    let last_rx = o.now;
    // Their mult 3 × max(50 ms, their 50 ms) = 150 ms.
    let a = o.run_to(last_rx + 149 * MS);
    assert!(changes(&a).is_empty());
    let a = o.run_to(last_rx + 150 * MS);
    let c = changes(&a);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].to, c[0].diag),
        (State::Down, Diag::ControlDetectionTimeExpired)
    );
    assert_eq!(c[0].at, last_rx + 150 * MS);
    assert!(c[0].is_failure());
    // The peer is forgotten (6.8.1) and we are back to the slow rate.
    assert_eq!(o.s.remote_discr(), 0);
    assert_eq!(o.s.counters().detection_expiries, 1);
    let p = sent(&a);
    let last = p.last().expect("the Down goes out");
    assert_eq!(
        (last.state, last.your_discr, last.desired_min_tx_us),
        (State::Down, 0, 1_000_000)
    );
    assert_eq!(o.s.status().tx_interval_us, Some(1_000_000));
}

#[test]
fn detection_timeout_in_init_and_in_down() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    o.rx(&from_peer(State::Down, 0));
    assert_eq!(o.s.state(), State::Init);
    // A Down peer advertises 1 s in real life; this one says 50 ms.
    let a = o.run_to(o.now + 150 * MS);
    assert_eq!(changes(&a)[0].diag, Diag::ControlDetectionTimeExpired);
    assert_eq!(o.s.state(), State::Down);

    // In Down the timer only forgets the peer.
    o.rx(&from_peer(State::Up, 1));
    assert_eq!(o.s.remote_discr(), 99);
    let a = o.run_to(o.now + 150 * MS);
    assert!(changes(&a).is_empty());
    assert_eq!(o.s.remote_discr(), 0);
    assert_eq!(o.s.counters().detection_expiries, 1);
}

#[test]
fn set_params_polls_and_a_slower_tx_waits_for_the_final() {
    let mut o = One::new(fast());
    o.up();
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    let a =
        o.s.set_params(o.now, SessionParams::new(200 * MS, 3), &mut o.j)
            .expect("valid");
    let p = sent(&a);
    assert_eq!(p.len(), 1, "the Poll goes out at once");
    assert!(p[0].poll);
    assert_eq!(
        (p[0].desired_min_tx_us, p[0].required_min_rx_us),
        (200_000, 200_000)
    );
    // 6.8.3: a slower TX waits for the Final; a longer detection time is safe at once.
    let st = o.s.status();
    assert_eq!(st.tx_interval_us, Some(50_000));
    assert_eq!(st.detection_time_us, Some(600_000));
    o.now += 5 * MS;
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.status().tx_interval_us, Some(200_000));

    // Back to 50 ms: faster TX at once, the shorter detection time after the Final.
    let a = o.s.set_params(o.now, fast(), &mut o.j).expect("valid");
    assert!(sent(&a)[0].poll);
    let st = o.s.status();
    assert_eq!(st.tx_interval_us, Some(50_000));
    assert_eq!(st.detection_time_us, Some(600_000));
    o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(o.s.status().detection_time_us, Some(150_000));
    assert_eq!(o.s.counters().polls_completed, 3);
}

#[test]
fn a_change_during_a_poll_waits_for_it_then_polls_again() {
    let mut o = One::new(fast());
    o.up();
    assert!(o.s.status().poll_active);
    let a =
        o.s.set_params(o.now, SessionParams::new(100 * MS, 3), &mut o.j)
            .expect("valid");
    // Still advertising what the running Poll carries.
    assert!(sent(&a).is_empty());
    assert_eq!(o.s.status().desired_min_tx_us, 50_000);
    let a = o.rx(&ControlPacket {
        final_: true,
        ..from_peer(State::Up, 1)
    });
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert!(p[0].poll);
    assert_eq!(p[0].desired_min_tx_us, 100_000);
    assert_eq!(o.s.counters().polls_started, 2);
}

#[test]
fn invalid_params_are_refused_and_change_nothing() {
    let mut o = One::new(fast());
    let before = o.s.params().clone();
    assert!(
        o.s.set_params(o.now, SessionParams::new(50 * MS, 0), &mut o.j)
            .is_err()
    );
    assert_eq!(o.s.params(), &before);
}

#[test]
fn periodic_tx_is_jittered_within_the_band() {
    for (mult, lo, hi) in [(3u8, 750u16, 1000u16), (1, 750, 900)] {
        for j in [0u16, 800, 1000, u16::MAX] {
            let mut o = One::new(SessionParams::new(100 * MS, mult));
            o.j = FixedJitter(j);
            o.up();
            o.rx(&ControlPacket {
                final_: true,
                detect_mult: mult,
                ..from_peer(State::Up, 1)
            });
            let start = o.now;
            let next = o.s.next_deadline().expect("armed") - start;
            let want = Duration::from_millis(u64::from(j.clamp(lo, hi)) / 10);
            assert_eq!(next, want, "mult {mult} jitter {j}");
        }
    }
}

#[test]
fn seeded_jitter_keeps_every_gap_in_the_band() {
    let mut o = One::new(SessionParams::new(100 * MS, 3));
    o.up();
    let mut j = SeededJitter::new(7);
    let mut last = o.now;
    let mut gaps = Vec::new();
    for _ in 0..200 {
        let d = o.s.next_deadline().expect("armed");
        o.now = d;
        // Keep the peer alive.
        o.s.handle(
            d,
            Event::Received(&ControlPacket {
                final_: true,
                ..from_peer(State::Up, 1)
            }),
            &mut j,
        );
        let a = o.s.handle(d, Event::Timer, &mut j);
        if !sent(&a).is_empty() {
            gaps.push(d - last);
            last = d;
        }
    }
    assert!(gaps.len() > 100);
    assert!(
        gaps.iter().all(|g| *g >= 75 * MS && *g <= 100 * MS),
        "{gaps:?}"
    );
}

#[test]
fn no_periodic_tx_when_the_peer_wants_none_or_is_in_demand_mode() {
    let mut o = One::new(fast());
    o.up();
    o.rx(&ControlPacket {
        final_: true,
        required_min_rx_us: 0,
        ..from_peer(State::Up, 1)
    });
    let a = o.run_to(o.now + 100 * MS);
    assert!(sent(&a).is_empty());
    assert_eq!(o.s.status().tx_interval_us, None);
    // A Poll is still answered.
    let a = o.rx(&ControlPacket {
        poll: true,
        required_min_rx_us: 0,
        ..from_peer(State::Up, 1)
    });
    assert_eq!(sent(&a).len(), 1);
    // Demand mode on the peer, both Up: silence too; sending resumes when it ends.
    let a = o.rx(&ControlPacket {
        demand: true,
        ..from_peer(State::Up, 1)
    });
    assert!(sent(&a).is_empty());
    let a = o.run_to(o.now + 40 * MS);
    assert!(sent(&a).is_empty());
    let a = o.rx(&from_peer(State::Up, 1));
    assert_eq!(sent(&a).len(), 0);
    assert_eq!(o.s.next_deadline().map(|d| d <= o.now), Some(true));
    let a = o.ev(Event::Timer);
    assert_eq!(sent(&a).len(), 1);
}

#[test]
fn discriminator_and_auth_mismatches_are_counted_drops() {
    let mut o = One::new(fast());
    o.ev(Event::Timer);
    o.rx(&from_peer(State::Up, 7));
    assert_eq!(
        o.s.counters()
            .dropped
            .get(DropReason::DiscriminatorMismatch),
        1
    );
    o.rx(&ControlPacket {
        auth: Some(Auth::SimplePassword {
            key_id: 1,
            password: b"x".to_vec(),
        }),
        ..from_peer(State::Down, 0)
    });
    assert_eq!(o.s.counters().dropped.get(DropReason::AuthUnexpected), 1);
    assert_eq!(o.s.state(), State::Down);
    assert_eq!(o.s.remote_discr(), 0, "a dropped packet teaches nothing");

    let auth = AuthConfig::SimplePassword {
        key_id: 3,
        password: b"secret".to_vec(),
    };
    let mut o = One::new(SessionParams {
        auth: Some(auth),
        ..fast()
    });
    let a = o.ev(Event::Timer);
    assert_eq!(
        sent(&a)[0].auth,
        Some(Auth::SimplePassword {
            key_id: 3,
            password: b"secret".to_vec()
        })
    );
    o.rx(&from_peer(State::Down, 0));
    assert_eq!(o.s.counters().dropped.get(DropReason::AuthMissing), 1);
    for (auth, reason) in [
        (
            Auth::SimplePassword {
                key_id: 3,
                password: b"wrong".to_vec(),
            },
            DropReason::AuthFailed,
        ),
        (
            Auth::SimplePassword {
                key_id: 4,
                password: b"secret".to_vec(),
            },
            DropReason::AuthFailed,
        ),
        (
            Auth::KeyedSha1 {
                meticulous: true,
                key_id: 3,
                sequence: 1,
                hash: [0; 20],
            },
            DropReason::AuthUnsupported,
        ),
        (
            Auth::KeyedMd5 {
                meticulous: false,
                key_id: 3,
                sequence: 1,
                digest: [0; 16],
            },
            DropReason::AuthUnsupported,
        ),
    ] {
        o.rx(&ControlPacket {
            auth: Some(auth),
            ..from_peer(State::Down, 0)
        });
        assert!(o.s.counters().dropped.get(reason) >= 1, "{reason:?}");
    }
    assert_eq!(o.s.state(), State::Down);
    o.rx(&ControlPacket {
        auth: Some(Auth::SimplePassword {
            key_id: 3,
            password: b"secret".to_vec(),
        }),
        ..from_peer(State::Down, 0)
    });
    assert_eq!(o.s.state(), State::Init);
}

/// Two sessions and a wire between them, in virtual time. Packets arrive
/// after `delay`; while `cut` is set they are lost.
struct Pair {
    a: Session,
    b: Session,
    ja: SeededJitter,
    jb: SeededJitter,
    now: Instant,
    delay: Duration,
    cut: bool,
    wire: Vec<(Instant, bool, ControlPacket)>,
    log: Vec<(bool, StateChange)>,
    sent_at: Vec<(bool, Instant)>,
}

impl Pair {
    fn new(pa: SessionParams, pb: SessionParams) -> Pair {
        let now = Instant::now();
        Pair {
            a: Session::new(1, pa, now).expect("valid"),
            b: Session::new(2, pb, now).expect("valid"),
            ja: SeededJitter::new(1),
            jb: SeededJitter::new(2),
            now,
            delay: MS,
            cut: false,
            wire: Vec::new(),
            log: Vec::new(),
            sent_at: Vec::new(),
        }
    }

    fn take(&mut self, from_a: bool, actions: Vec<Action>) {
        for act in actions {
            match act {
                Action::Send(p) => {
                    self.sent_at.push((from_a, self.now));
                    if !self.cut {
                        self.wire.push((self.now + self.delay, !from_a, p));
                    }
                }
                Action::StateChanged(c) => self.log.push((from_a, c)),
            }
        }
    }

    /// Runs until `t`, with a bound on the steps so a livelock fails the test.
    fn run_to(&mut self, t: Instant) {
        for _ in 0..1_000_000 {
            let next_wire = self.wire.iter().map(|w| w.0).min();
            let next = [self.a.next_deadline(), self.b.next_deadline(), next_wire]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|n| *n <= t) else {
                self.now = t;
                return;
            };
            self.now = self.now.max(next);
            if let Some(i) = self.wire.iter().position(|w| w.0 <= self.now) {
                let (_, to_a, p) = self.wire.remove(i);
                let (s, j) = if to_a {
                    (&mut self.a, &mut self.ja)
                } else {
                    (&mut self.b, &mut self.jb)
                };
                let out = s.handle(self.now, Event::Received(&p), j);
                self.take(to_a, out);
                continue;
            }
            if self.a.next_deadline().is_some_and(|d| d <= self.now) {
                let out = self.a.handle(self.now, Event::Timer, &mut self.ja);
                self.take(true, out);
            }
            if self.b.next_deadline().is_some_and(|d| d <= self.now) {
                let out = self.b.handle(self.now, Event::Timer, &mut self.jb);
                self.take(false, out);
            }
        }
        panic!("no progress bound reached: livelock");
    }
}

#[test]
fn two_sessions_come_up_negotiate_and_detect_a_cut() {
    let mut p = Pair::new(fast(), fast());
    p.run_to(p.now + 100 * MS);
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    // Three-way handshake: both went Down → Init/Up within a few round trips.
    assert!(p.log.iter().all(|(_, c)| c.at <= p.now));
    p.run_to(p.now + Duration::from_secs(1));
    for s in [&p.a, &p.b] {
        let st = s.status();
        assert_eq!(st.tx_interval_us, Some(50_000));
        assert_eq!(st.detection_time_us, Some(150_000));
        assert!(!st.poll_active);
        assert_eq!(st.counters.polls_completed, 1);
    }
    // About 50 ms × 0.875 per packet once Up.
    let rate = p.a.counters().packets_sent;
    assert!(rate > 15, "{rate} packets in 1.1 s");

    p.log.clear();
    p.cut = true;
    let cut_at = p.now;
    p.run_to(p.now + Duration::from_secs(1));
    for side in [true, false] {
        let c = p
            .log
            .iter()
            .find(|(a, c)| *a == side && c.to == State::Down)
            .map(|(_, c)| *c)
            .expect("went Down");
        assert_eq!(c.diag, Diag::ControlDetectionTimeExpired);
        let took = c.at - cut_at;
        // The last packet arrived at most one TX interval before the cut.
        assert!(took <= 150 * MS + MS && took >= 100 * MS - MS, "{took:?}");
    }

    p.cut = false;
    p.run_to(p.now + Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
}

#[test]
fn two_sessions_with_different_timers_settle_on_the_slower_side() {
    let pa = SessionParams {
        desired_min_tx: 20 * MS,
        required_min_rx: 300 * MS,
        detect_mult: 4,
        auth: None,
    };
    let mut p = Pair::new(pa, fast());
    p.run_to(p.now + Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    // A sends at max(20, B's 50) = 50 ms; B at max(50, A's 300) = 300 ms.
    assert_eq!(p.a.status().tx_interval_us, Some(50_000));
    assert_eq!(p.b.status().tx_interval_us, Some(300_000));
    // A detects B by B's mult 3 × max(A's rx 300, B's tx 50) = 900 ms;
    // B detects A by A's mult 4 × max(50, 20) = 200 ms.
    assert_eq!(p.a.status().detection_time_us, Some(900_000));
    assert_eq!(p.b.status().detection_time_us, Some(200_000));

    // Live parameter change on B through a Poll: both sides follow.
    let out =
        p.b.set_params(p.now, SessionParams::new(400 * MS, 2), &mut p.jb)
            .expect("valid");
    p.take(false, out);
    p.run_to(p.now + Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    assert_eq!(p.a.status().tx_interval_us, Some(400_000));
    assert_eq!(p.a.status().detection_time_us, Some(800_000));
    assert_eq!(p.b.status().detection_time_us, Some(1_600_000));
    assert!(
        p.log.iter().all(|(_, c)| c.to != State::Down),
        "no flap during the change"
    );
}

#[test]
fn admin_down_on_one_side_is_seen_as_neighbor_down_by_the_other() {
    let mut p = Pair::new(fast(), fast());
    p.run_to(p.now + Duration::from_secs(1));
    p.log.clear();
    let out = p.a.handle(p.now, Event::AdminDown, &mut p.ja);
    p.take(true, out);
    p.run_to(p.now + 20 * MS);
    let (_, c) = p.log.iter().find(|(a, _)| !*a).copied().expect("B changed");
    assert_eq!(
        (c.to, c.diag, c.remote_state),
        (
            State::Down,
            Diag::NeighborSignaledSessionDown,
            State::AdminDown
        )
    );
    assert!(!c.is_failure());
    // B stays Down (not Init) while A is AdminDown, and nothing flaps.
    p.run_to(p.now + Duration::from_secs(5));
    assert_eq!(p.b.state(), State::Down);
    let out = p.a.handle(p.now, Event::AdminUp, &mut p.ja);
    p.take(true, out);
    p.run_to(p.now + Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
}

#[test]
fn packet_loss_below_the_multiplier_does_not_flap() {
    let mut p = Pair::new(fast(), fast());
    p.run_to(p.now + Duration::from_secs(1));
    p.log.clear();
    // Lose about 60 ms at a time: at most one packet each way.
    for _ in 0..20 {
        p.cut = true;
        p.run_to(p.now + 40 * MS);
        p.cut = false;
        p.run_to(p.now + 100 * MS);
    }
    assert!(p.log.is_empty(), "{:?}", p.log);
}

/// Hostile input at the session level: random (decodable) packets, timer
/// ticks, admin toggles and parameter changes never panic, every sent packet
/// decodes back to itself, and an Up session always knows its peer. The fuzz
/// target does the same with coverage guidance; this runs in every `cargo test`.
#[test]
fn random_scripts_never_break_the_session() {
    let mut rng = SeededJitter::new(0xbfd);
    let mut accepted = 0u32;
    for _ in 0..2_000 {
        let mut now = Instant::now();
        let mult = (rng.next_u64() % 4) as u8 + 1;
        let mut s = Session::new(
            7,
            SessionParams::new(((rng.next_u64() % 100 + 1) as u32) * MS, mult),
            now,
        )
        .expect("valid");
        let mut j = SeededJitter::new(rng.next_u64());
        for _ in 0..60 {
            let actions = match rng.next_u64() % 6 {
                0..=2 => {
                    let mut b: Vec<u8> = (0..24 + rng.next_u64() % 8)
                        .map(|_| rng.next_u64() as u8)
                        .collect();
                    // Mostly plausible headers, often addressed to us.
                    b[0] = (b[0] & 0x1f) | 0x20;
                    b[1] &= !0x05;
                    b[3] = 24;
                    b[2] = b[2].max(1);
                    if rng.next_u64().is_multiple_of(2) {
                        b[8..12].copy_from_slice(&7u32.to_be_bytes());
                    }
                    match ControlPacket::decode(&b) {
                        Ok(p) => {
                            accepted += 1;
                            s.handle(now, Event::Received(&p), &mut j)
                        }
                        Err(_) => continue,
                    }
                }
                3 => {
                    let e = if rng.next_u64().is_multiple_of(2) {
                        Event::AdminDown
                    } else {
                        Event::AdminUp
                    };
                    s.handle(now, e, &mut j)
                }
                4 => {
                    let v = rng.next_u64();
                    let p = SessionParams::new(((v % 300) as u32) * MS, (v >> 8) as u8 % 5);
                    s.set_params(now, p, &mut j).unwrap_or_default()
                }
                _ => {
                    now = s.next_deadline().map_or(now, |d| now.max(d));
                    s.handle(now, Event::Timer, &mut j)
                }
            };
            for a in &actions {
                if let Action::Send(p) = a {
                    assert_eq!(ControlPacket::decode(&p.encode()).as_ref(), Ok(p));
                    assert!(!(p.poll && p.final_));
                }
            }
            if s.state() == State::Up {
                assert_ne!(s.remote_discr(), 0);
            }
        }
    }
    assert!(
        accepted > 10_000,
        "only {accepted} packets reached the session"
    );
}
