//! Any bytes as a sequence of received packets, through the codec and into a
//! client that is soliciting (or, with the selector's low bit, renewing a
//! restored lease). The selector's second bit stamps each packet with the
//! transaction id the client is waiting for, so the fuzzer reaches the
//! state machine and not just the transaction check.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use routerd_dhcpv6_core::codec::decode;
use routerd_dhcpv6_core::lifetimes::{IaTimes, PrefixLifetimes, Timers};
use routerd_dhcpv6_core::{Action, Client, ClientConfig, Delegated, Event, FixedJitter, Lease};

const DUID: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
const IAID: u32 = 7;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let mut jitter = FixedJitter(i32::from(selector) * 7 - 900);
    let restored = (selector & 1 == 1).then(|| Lease {
        server_id: vec![0, 2, 0, 0, 9, 1],
        times: IaTimes { t1: 100, t2: 160 },
        prefixes: vec![Delegated {
            prefix: "fd00:99:100:100::".parse().expect("literal"),
            len: 56,
            lifetimes: PrefixLifetimes {
                preferred: 200,
                valid: 300,
            },
        }],
        obtained: t0,
        timers: Timers {
            renew: Some(Duration::from_secs(100)),
            rebind: Some(Duration::from_secs(160)),
            expire: Some(Duration::from_secs(300)),
        },
    });
    let mut client = Client::new(ClientConfig::new(IAID), restored);
    let mut now = t0;
    let mut xid = [0u8; 3];
    let mut note = |actions: Vec<Action>, xid: &mut [u8; 3]| {
        for a in actions {
            if let Action::Send(o) = a {
                *xid = o.xid;
            }
        }
    };
    note(client.handle(now, Event::Start, &mut jitter), &mut xid);
    // Up to 16 packets, each prefixed by a one-byte length; a timer between
    // them moves time on.
    for _ in 0..16 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let mut packet = tail[..len].to_vec();
        rest = &tail[len..];
        if selector & 2 != 0 && packet.len() >= 4 {
            packet[1..4].copy_from_slice(&xid);
        }
        if let Ok(m) = decode(&packet, DUID, IAID) {
            note(client.handle(now, Event::Received(&m), &mut jitter), &mut xid);
        }
        if let Some(at) = client.next_deadline() {
            now = now.max(at);
            note(client.handle(now, Event::Timer, &mut jitter), &mut xid);
        }
    }
    let _ = client.handle(now, Event::Stop { release: true }, &mut jitter);
});
