//! Hostile input: random bytes, every truncation and every length field off
//! by one must give an error or a verdict, never a panic. Whatever decodes
//! is also walked completely and re-encoded, so lazily read parts are
//! exercised too.

mod common;

use std::net::Ipv4Addr;

use common::{Rng, family_for};
use ipnet::{Ipv4Net, Ipv6Net};
use routerd_bgp_core::wire::{
    AfiSafi, Capability, ExtendedNextHop, Fqdn, Framer, GracefulRestart, Message, Nlri,
    Notification, Open, RouteRefresh, SessionParams, Update, UpdateEncoder,
};

fn all_params() -> Vec<SessionParams> {
    let mut v = Vec::new();
    for four in [false, true] {
        for external in [false, true] {
            let mut p = SessionParams::new(four, external);
            p.ipv4_extended_next_hop = four;
            v.push(p);
        }
    }
    v
}

/// Uses everything a decoded message offers.
fn exercise(m: &Message<'_>, params: &SessionParams) {
    match m {
        Message::Update(u) => exercise_update(u, params),
        Message::Open(o) => {
            let mut out = Vec::new();
            o.encode(&mut out);
            let _ = o.asn();
        }
        Message::Notification(n) => {
            let _ = n.to_string();
            n.encode(&mut Vec::new());
        }
        Message::RouteRefresh(r) => r.encode(&mut Vec::new()),
        Message::Keepalive => {}
    }
}

fn exercise_update(u: &Update<'_>, params: &SessionParams) {
    let _ = (u.action(), u.end_of_rib(), u.disabled_families().count());
    for p in &u.problems {
        let _ = (p.to_string(), p.notification());
    }
    let mut enc = UpdateEncoder::new(*params);
    let mut out = Vec::new();
    for r in u.reachable() {
        let attrs = u.attrs_for(&r);
        let _ = match r.nlri {
            Nlri::V4(p) => enc.announce(&attrs, p, &mut out),
            Nlri::V6(p) => enc.announce(&attrs, p, &mut out),
        };
    }
    for n in u.unreachable() {
        match n {
            Nlri::V4(p) => enc.withdraw(p, &mut out),
            Nlri::V6(p) => enc.withdraw(p, &mut out),
        };
    }
    // What we re-encode must itself decode without a reset.
    let mut f = Framer::new();
    f.set_max_len(65535);
    f.push(&out);
    while let Some(frame) = f.next_frame().expect("our own framing") {
        let m = frame.decode(params).expect("our own UPDATEs decode");
        let Message::Update(u) = m else {
            panic!("not an UPDATE")
        };
        assert!(u.announces(), "{:?}", u.problems);
    }
}

fn decode_everywhere(raw: &[u8]) {
    for params in all_params() {
        if let Ok(m) = Message::decode(raw, 65535, &params) {
            exercise(&m, &params);
        }
        if let Some(body) = raw.get(19..) {
            if let Ok(u) = Update::decode(body, &params) {
                exercise_update(&u, &params);
            }
            let _ = Open::decode(body);
            let _ = Notification::decode(body);
        }
        let _ = RouteRefresh::decode(raw);
    }
}

fn with_header(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(
        &u16::try_from((body.len() + 19).min(65535))
            .unwrap_or(0)
            .to_be_bytes(),
    );
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// Valid messages of every kind to mutate.
fn corpus() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let open = Open::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(10, 0, 0, 1),
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedMessage,
            Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]),
            Capability::GracefulRestart(GracefulRestart {
                restart_time: 120,
                ..Default::default()
            }),
            Capability::Fqdn(Fqdn {
                hostname: "r1".into(),
                domain: "lab".into(),
            }),
        ],
    );
    let mut m = Vec::new();
    open.encode(&mut m);
    v.push(m);
    let mut rng = Rng::new(7);
    for _ in 0..12 {
        let params = rng.params();
        let (family, nh) = family_for(&params, &mut rng);
        let attrs = rng.attrs(&params, nh);
        let mut enc = UpdateEncoder::new(SessionParams {
            max_send_len: 4096,
            ..params
        });
        let mut out = Vec::new();
        if family == AfiSafi::IPV4_UNICAST {
            let p: Vec<Ipv4Net> = (0..8).map(|_| rng.prefix4()).collect();
            let _ = enc.announce(&attrs, p.iter().copied(), &mut out);
        } else {
            let p: Vec<Ipv6Net> = (0..8).map(|_| rng.prefix6()).collect();
            let _ = enc.announce(&attrs, p.iter().copied(), &mut out);
            enc.withdraw(p.iter().copied(), &mut out);
        }
        // The first message only.
        let len = usize::from(u16::from_be_bytes([out[16], out[17]]));
        out.truncate(len);
        v.push(out);
    }
    let mut n = Vec::new();
    Notification::cease_with_message(
        routerd_bgp_core::wire::CeaseSubcode::AdministrativeShutdown,
        "bye",
    )
    .encode(&mut n);
    v.push(n);
    let mut rr = Vec::new();
    RouteRefresh::request(AfiSafi::IPV6_UNICAST).encode(&mut rr);
    v.push(rr);
    v
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(1);
    for _ in 0..20_000 {
        let len = rng.range(0, 400);
        let body = rng.bytes(len);
        // Raw garbage, and garbage behind a valid header of each type.
        decode_everywhere(&body);
        let kind = u8::try_from(rng.range(1, 5)).unwrap_or(2);
        decode_everywhere(&with_header(kind, &body));
        // And as a stream, in random pieces.
        let mut f = Framer::new();
        for chunk in body.chunks(rng.range(1, 64)) {
            f.push(chunk);
            while let Ok(Some(frame)) = f.next_frame() {
                let _ = frame.decode(&SessionParams::new(true, true));
            }
        }
    }
}

#[test]
fn every_truncation() {
    for m in corpus() {
        for n in 0..m.len() {
            decode_everywhere(&m[..n]);
            // Truncated body behind a header that agrees with it.
            if n >= 19 {
                decode_everywhere(&with_header(m[18], &m[19..n]));
            }
        }
    }
}

#[test]
fn every_length_field_off_by_one() {
    // Every octet (so every one-octet length and the low octet of every
    // two-octet one) and every aligned and unaligned 16-bit field, ±1.
    for m in corpus() {
        for i in 16..m.len() {
            for delta in [1u8, 255] {
                let mut x = m.clone();
                x[i] = x[i].wrapping_add(delta);
                decode_everywhere(&x);
            }
            if i + 1 < m.len() {
                for delta in [1u16, u16::MAX] {
                    let mut x = m.clone();
                    let v = u16::from_be_bytes([x[i], x[i + 1]]).wrapping_add(delta);
                    x[i..i + 2].copy_from_slice(&v.to_be_bytes());
                    decode_everywhere(&x);
                }
            }
        }
    }
}

#[test]
fn random_mutations_of_valid_messages() {
    let corpus = corpus();
    let mut rng = Rng::new(3);
    for _ in 0..30_000 {
        let mut m = corpus[rng.range(0, corpus.len() - 1)].clone();
        for _ in 0..rng.range(1, 4) {
            let i = rng.range(16, m.len() - 1);
            match rng.below(3) {
                0 => m[i] ^= 1 << rng.below(8),
                1 => m[i] = rng.u8(),
                _ => {
                    let len = rng.range(1, 8);
                    let extra = rng.bytes(len);
                    m.splice(i..i, extra);
                }
            }
        }
        decode_everywhere(&m);
    }
}
