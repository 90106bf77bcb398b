//! Any bytes as a script for one BFD session: received packets (through
//! `ControlPacket::decode`), timer ticks, AdminDown/AdminUp and parameter
//! changes. Opcode bits can stamp a packet with the session's discriminator
//! and a valid version and length, so the fuzzer reaches the state machine
//! and not only the decoder. Every packet the session sends must decode back
//! to itself, and an Up session must know its peer.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use routerd_bfd_core::{Action, ControlPacket, Event, FixedJitter, Session, SessionParams, State};

const LOCAL: u32 = 0x0102_0304;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let mut jitter = FixedJitter(700 + u16::from(selector) * 2);
    let params = SessionParams::new(
        Duration::from_millis(1 + u64::from(selector & 0x3f)),
        (selector >> 6) + 1,
    );
    let Ok(mut s) = Session::new(LOCAL, params, now) else {
        return;
    };
    let first = s.handle(now, Event::Timer, &mut jitter);
    check(&s, first);
    let mut admin_down = false;
    for _ in 0..64 {
        let Some((&op, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        let actions = match op % 8 {
            0..=4 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = usize::from(len).min(tail.len());
                let mut packet = tail[..len].to_vec();
                rest = &tail[len..];
                if op & 0x10 != 0 && packet.len() >= 12 {
                    packet[8..12].copy_from_slice(&LOCAL.to_be_bytes());
                }
                if op & 0x20 != 0 && packet.len() >= 4 {
                    packet[0] = (packet[0] & 0x1f) | 0x20;
                    packet[3] = u8::try_from(packet.len()).unwrap_or(255);
                }
                match ControlPacket::decode(&packet) {
                    Ok(p) => s.handle(now, Event::Received(&p), &mut jitter),
                    Err(_) => continue,
                }
            }
            5 => {
                admin_down = !admin_down;
                let e = if admin_down {
                    Event::AdminDown
                } else {
                    Event::AdminUp
                };
                s.handle(now, e, &mut jitter)
            }
            6 => {
                let Some((&v, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                let p = SessionParams {
                    desired_min_tx: Duration::from_millis(u64::from(v & 0x0f) * 20),
                    required_min_rx: Duration::from_millis(u64::from(v >> 4) * 20),
                    detect_mult: v & 0x07,
                    auth: None,
                };
                // Invalid parameters are refused and change nothing.
                s.set_params(now, p, &mut jitter).unwrap_or_default()
            }
            _ => {
                // Time passes: to the next deadline, or by a few ms.
                now = match s.next_deadline() {
                    Some(d) if op & 0x08 != 0 => now.max(d),
                    _ => now + Duration::from_millis(u64::from(op >> 3)),
                };
                s.handle(now, Event::Timer, &mut jitter)
            }
        };
        check(&s, actions);
    }
});

fn check(s: &Session, actions: Vec<Action>) {
    for a in actions {
        if let Action::Send(p) = a {
            assert_eq!(ControlPacket::decode(&p.encode()).as_ref(), Ok(&p));
            assert!(!(p.poll && p.final_), "P and F together");
        }
    }
    if s.state() == State::Up {
        assert_ne!(s.remote_discr(), 0, "Up without a peer");
    }
}
