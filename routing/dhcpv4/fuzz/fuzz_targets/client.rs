//! Any bytes as a sequence of received packets, through the frame parser
//! (sometimes), the codec and into a client that is selecting (or, with the
//! selector's low bit, confirming a restored lease with INIT-REBOOT). The
//! selector's second bit stamps each packet with what the client checks
//! first (BOOTREPLY, the awaited xid, our chaddr, the magic cookie), so the
//! fuzzer reaches the option walk and the state machine, not just the
//! header checks; the third bit wraps nothing and hands the bytes to the
//! IPv4/UDP parser first, as the daemon's packet socket does.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use routerd_dhcpv4_core::codec::decode;
use routerd_dhcpv4_core::frame::udp_in_ipv4;
use routerd_dhcpv4_core::timers::Timers;
use routerd_dhcpv4_core::{
    Action, Client, ClientConfig, Event, FixedJitter, Identity, Lease, LeaseOptions, LeaseTimes,
};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let mut jitter = FixedJitter(i32::from(selector) * 7 - 900);
    let times = LeaseTimes {
        lease: Some(120),
        t1: Some(10),
        t2: Some(20),
    };
    let restored = (selector & 1 == 1).then(|| Lease {
        address: [192, 0, 2, 10].into(),
        server_id: [192, 0, 2, 1].into(),
        options: LeaseOptions::default(),
        times,
        timers: Timers::from_reply(times).map(|t| t.0).unwrap_or(Timers {
            renew: None,
            rebind: None,
            expire: None,
        }),
        obtained: t0,
    });
    let cfg = ClientConfig::new(Identity {
        mac: MAC,
        client_id: Identity::default_client_id(MAC),
        hostname: None,
        class_id: None,
    });
    let mut client = Client::new(cfg, restored);
    let mut now = t0;
    let mut xid = 0u32;
    let note = |actions: Vec<Action>, xid: &mut u32| {
        for a in actions {
            if let Action::Send(o) = a {
                *xid = o.xid;
            }
        }
    };
    note(client.handle(now, Event::Start, &mut jitter), &mut xid);
    // Up to 16 packets, each prefixed by a two-byte length; a timer between
    // them moves time on.
    for _ in 0..16 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let mut packet = tail[..len].to_vec();
        rest = &tail[len..];
        let mut payload = packet.as_slice();
        let framed;
        if selector & 4 != 0 {
            match udp_in_ipv4(&packet) {
                Ok(d) => {
                    framed = d.payload.to_vec();
                    payload = &framed;
                }
                Err(_) => continue,
            }
        } else if selector & 2 != 0 && packet.len() >= 240 {
            packet[0] = 2;
            packet[2] = 6;
            packet[4..8].copy_from_slice(&xid.to_be_bytes());
            packet[28..34].copy_from_slice(&MAC);
            packet[236..240].copy_from_slice(&[99, 130, 83, 99]);
            payload = &packet;
        }
        match decode(payload) {
            Ok(r) => note(client.handle(now, Event::Received(&r), &mut jitter), &mut xid),
            Err(_) => client.note_malformed(),
        }
        if let Some(at) = client.next_deadline() {
            now = now.max(at).max(now + Duration::from_millis(1));
            note(client.handle(now, Event::Timer, &mut jitter), &mut xid);
        }
    }
    let _ = client.renew_now(now, &mut jitter);
    let _ = client.handle(now, Event::Stop { release: true }, &mut jitter);
});
