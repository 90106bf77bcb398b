//! Any bytes as a sequence of ICMPv6 messages arriving on an advertising
//! interface: through the Router Solicitation parser (from a link-local or,
//! with the selector's low bit, the unspecified address) into a running
//! advertiser, and through the Router Advertisement parser into the
//! consistency check. Time moves on between packets and every RA the
//! advertiser emits must parse back to what it built.
#![no_main]

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use routerd_dhcpv6_core::FixedJitter;
use routerd_lan::ra::packet::parse_rs;
use routerd_lan::ra::{AdvertisedPrefix, Advertiser, RaConfig, RaStats, RouterAdvert};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let mut jitter = FixedJitter(i32::from(selector) * 7 - 900);
    let src = if selector & 1 == 1 {
        Ipv6Addr::UNSPECIFIED
    } else {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)
    };
    let config = RaConfig {
        other: true,
        router_lifetime: Duration::from_secs(30),
        min_interval: Duration::from_secs(3),
        max_interval: Duration::from_secs(10),
        prefixes: vec![AdvertisedPrefix::new("fd00:99:1::/64".parse().expect("literal"))
            .with_lease(t0 + Duration::from_secs(20), t0 + Duration::from_secs(40))],
        rdnss: vec!["fd00:99:1::53".parse().expect("literal")],
        dnssl: vec!["lab.example".into()],
        source_mac: Some([2, 0, 0, 0, 0, 1]),
        ..RaConfig::default()
    };
    let mut adv =
        Advertiser::new(config, t0, Arc::new(RaStats::default())).expect("a valid config");
    let mut now = t0;
    for _ in 0..16 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let packet = &tail[..len];
        rest = &tail[len..];
        if let Ok(rs) = parse_rs(packet, src) {
            assert!(packet.len() >= 8 && packet[0] == 133 && packet[1] == 0);
            assert!(!(src.is_unspecified() && rs.source_lla.is_some()));
        }
        let _ = adv.solicitation(now, packet, src, &mut jitter);
        if let Ok(ra) = RouterAdvert::parse(packet) {
            let _ = ra.encode();
            let _ = adv.inconsistencies(now, &ra);
        }
        now += Duration::from_millis(700) * u32::from(len as u8 % 16);
        while let Some(at) = adv.next_deadline() {
            if at > now {
                break;
            }
            if let Some(out) = adv.poll(at, &mut jitter) {
                assert_eq!(RouterAdvert::parse(&out.bytes).as_ref(), Ok(&out.advert));
            }
        }
    }
    if let Some(out) = adv.stop(now) {
        assert_eq!(RouterAdvert::parse(&out.bytes).map(|r| r.router_lifetime), Ok(0));
    }
});
