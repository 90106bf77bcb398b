//! The codec and the state machine take anything from the network without
//! panicking. A deterministic generator keeps the corpus the same on every run;
//! half the inputs are mutations of valid adverts so they reach past the header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use routerd_vrrp_core::packet::{MULTICAST_V4, MULTICAST_V6};
use routerd_vrrp_core::{Advert, Auth, Event, Instance, InstanceConfig, Received, Version};

struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    fn packet(&mut self, seed: &[u8]) -> Vec<u8> {
        if self.next().is_multiple_of(2) {
            let len = usize::from(self.next()) % 128;
            return (0..len).map(|_| self.next()).collect();
        }
        let mut out = seed.to_vec();
        for _ in 0..(self.next() % 4) {
            if out.is_empty() {
                break;
            }
            let i = usize::from(self.next()) % out.len();
            out[i] = self.next();
        }
        let keep = usize::from(self.next()) % (seed.len() + 4);
        out.truncate(keep);
        out
    }
}

fn instance(version: Version, primary: IpAddr, vip: IpAddr, auth: Auth) -> Instance {
    Instance::new(InstanceConfig {
        vrid: 7,
        version,
        priority: 100,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        accept_mode: false,
        addresses: vec![vip],
        auth,
        fenced: false,
        primary_address: primary,
    })
    .expect("valid test config")
}

#[test]
fn garbage_from_the_network_never_panics() {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let peer4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let peer6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
    let g4 = IpAddr::V4(MULTICAST_V4);
    let g6 = IpAddr::V6(MULTICAST_V6);
    let mut cases = vec![
        (
            instance(
                Version::V3,
                v4,
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
                Auth::None,
            ),
            peer4,
            g4,
        ),
        (
            instance(
                Version::V3,
                v6,
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x99, 0x254)),
                Auth::None,
            ),
            peer6,
            g6,
        ),
        (
            instance(
                Version::V2,
                v4,
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
                Auth::simple("pw"),
            ),
            peer4,
            g4,
        ),
    ];
    let mut noise = Noise(0x5eed_1234_abcd_0042);
    let mut now = Instant::now();
    let mut accepted = 0u64;
    for (inst, peer, group) in &mut cases {
        inst.handle(now, Event::Startup);
        let seed = inst.advert(150).encode(*peer, *group);
        assert!(Advert::decode(&seed, *peer, *group).is_ok());
        for _ in 0..30_000 {
            let bytes = noise.packet(&seed);
            let _ = Advert::decode(&bytes, *peer, *group);
            // Mismatched families and hostile TTLs too.
            let ttl = if noise.next() < 240 {
                255
            } else {
                noise.next()
            };
            let src = if noise.next() < 250 { *peer } else { g4 };
            let pkt = Received {
                src,
                dst: *group,
                ttl,
                bytes: &bytes,
            };
            inst.handle(now, Event::Packet(pkt));
            now += Duration::from_millis(u64::from(noise.next()));
            inst.handle(now, Event::Timer);
        }
        accepted += inst.counters().adverts_received;
        assert!(inst.counters().dropped_total() > 10_000);
    }
    assert!(
        accepted > 100,
        "mutations of valid adverts must reach the state machine"
    );
}
