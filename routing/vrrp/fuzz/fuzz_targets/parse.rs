//! Any bytes, as any version/family, through the decoder and a running instance.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use routerd_vrrp_core::{Advert, Auth, Event, Instance, InstanceConfig, Received, Version};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let (src, dst, primary, vip) = if selector & 1 == 0 {
        (
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
        )
    } else {
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x99, 0x254)),
        )
    };
    let _ = Advert::decode(bytes, src, dst);
    let v2 = selector & 2 != 0 && primary.is_ipv4();
    let Ok(mut inst) = Instance::new(InstanceConfig {
        vrid: bytes.get(1).copied().unwrap_or(1).max(1),
        version: if v2 { Version::V2 } else { Version::V3 },
        priority: 100,
        advert_interval_cs: 100,
        preempt: selector & 4 != 0,
        preempt_delay: Duration::ZERO,
        accept_mode: false,
        addresses: vec![vip],
        auth: if v2 { Auth::simple("pw") } else { Auth::None },
        fenced: selector & 8 != 0,
        primary_address: primary,
    }) else {
        return;
    };
    let now = Instant::now();
    inst.handle(now, Event::Startup);
    let pkt = Received { src, dst, ttl: 255, bytes };
    inst.handle(now, Event::Packet(pkt));
    inst.handle(now + Duration::from_secs(5), Event::Timer);
});
