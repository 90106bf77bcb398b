//! Decode timing: 100k IPv4 prefixes in full 4 KiB UPDATEs, as a peer sends
//! a table right after Established. Run with
//! `cargo test --release -p routerd-bgp-core --test decode_bench -- --ignored --nocapture`.
//! It prints; it never asserts on time.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use routerd_bgp_core::wire::{
    AsPath, AttrInterner, Community, Framer, Message, NextHop, Nlri, Origin, PathAttributes,
    SessionParams, UpdateEncoder,
};

fn attrs(next_hop: NextHop) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([65001, 65010, 65020]),
        next_hop: Some(next_hop),
        med: Some(10),
        communities: vec![Community::new(65001, 100), Community::new(65001, 200)],
        ..Default::default()
    }
}

/// Framer → decode → intern → one (prefix, shared attributes) entry per
/// route, the way the RIB ingests; returns the routes seen.
fn ingest(stream: &[u8], params: &SessionParams) -> usize {
    let mut framer = Framer::new();
    let mut interner = AttrInterner::new();
    let mut routes: Vec<(IpNet, Arc<PathAttributes>)> = Vec::with_capacity(100_000);
    for chunk in stream.chunks(64 * 1024) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame().expect("framing") {
            let Ok(Message::Update(u)) = frame.decode(params) else {
                panic!("not an UPDATE")
            };
            for r in u.reachable() {
                let shared = interner.intern(u.attrs_for(&r));
                match r.nlri {
                    Nlri::V4(p) => routes.extend(p.map(|p| (IpNet::V4(p), Arc::clone(&shared)))),
                    Nlri::V6(p) => routes.extend(p.map(|p| (IpNet::V6(p), Arc::clone(&shared)))),
                }
            }
        }
    }
    assert_eq!(interner.len(), 1);
    routes.len()
}

fn time(name: &str, stream: &[u8], params: &SessionParams, want: usize) {
    let mut runs: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let n = ingest(stream, params);
            let d = t.elapsed();
            assert_eq!(n, want);
            d
        })
        .collect();
    runs.sort();
    let median = runs[runs.len() / 2];
    println!(
        "{name}: {want} prefixes, {} KiB: median {:.2} ms, best {:.2} ms ({:.1} ns/prefix)",
        stream.len() / 1024,
        median.as_secs_f64() * 1e3,
        runs[0].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e9 / want as f64,
    );
}

#[test]
#[ignore = "timing: run with --ignored"]
fn decode_100k_ipv4_prefixes() {
    let params = SessionParams::new(true, true);
    let a = attrs(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let v4: Vec<Ipv4Net> = (0..100_000u32)
        .map(|i| Ipv4Net::new(Ipv4Addr::from((1 << 24) + (i << 8)), 24).expect("len"))
        .collect();
    let mut stream = Vec::new();
    let n = UpdateEncoder::new(params)
        .announce(&a, v4.iter().copied(), &mut stream)
        .expect("encodes");
    println!("IPv4: {n} UPDATEs");
    time("100k IPv4 /24 in 4 KiB UPDATEs", &stream, &params, v4.len());

    // One prefix per UPDATE: the worst case for per-message work.
    let mut single = Vec::new();
    let mut enc = UpdateEncoder::new(params);
    for p in &v4 {
        enc.announce(&a, [*p], &mut single).expect("encodes");
    }
    time("100k IPv4 /24, one per UPDATE", &single, &params, v4.len());

    let b = attrs(NextHop::V6 {
        global: "2001:db8::1".parse().expect("literal"),
        link_local: Some("fe80::1".parse().expect("literal")),
    });
    let v6: Vec<Ipv6Net> = (0..20_000u128)
        .map(|i| {
            Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | (i << 64)), 64).expect("len")
        })
        .collect();
    let mut stream = Vec::new();
    UpdateEncoder::new(params)
        .announce(&b, v6.iter().copied(), &mut stream)
        .expect("encodes");
    time("20k IPv6 /64 in 4 KiB UPDATEs", &stream, &params, v6.len());
}
