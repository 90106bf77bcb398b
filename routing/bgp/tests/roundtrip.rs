//! Property-style round trips over generated inputs: whatever the encoders
//! write, the framer and decoders read back unchanged.

mod common;

use std::net::Ipv4Addr;

use common::{Rng, expected_after_roundtrip, family_for};
use ipnet::IpNet;
use routerd_bgp_core::wire::{
    AddPath, AddPathMode, Afi, AfiSafi, Capability, ErrorCode, ExtendedNextHop, Fqdn, Framer,
    GracefulRestart, GracefulRestartFamily, Message, Notification, Open, PathAttributes,
    RefreshSubtype, RouteRefresh, Safi, SessionParams, UpdateEncoder, encode_keepalive,
};

const CASES: u64 = 300;

/// Feeds `stream` to a framer in random chunks and decodes every message.
fn read_all(
    stream: &[u8],
    params: &SessionParams,
    rng: &mut Rng,
    mut each: impl FnMut(Message<'_>),
) {
    let max_len = params.max_send_len;
    let mut f = Framer::new();
    f.set_max_len(max_len);
    let mut at = 0;
    while at < stream.len() {
        let n = rng.range(1, 9000).min(stream.len() - at);
        f.push(&stream[at..at + n]);
        at += n;
        while let Some(frame) = f.next_frame().expect("valid framing") {
            each(frame.decode(params).expect("decodes"));
        }
    }
    assert_eq!(f.buffered(), 0);
}

#[test]
fn updates_roundtrip() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let params = rng.params();
        let (family, nh) = family_for(&params, &mut rng);
        let attrs = rng.attrs(&params, nh);
        let n = rng.range(0, 3000);
        let mut enc = UpdateEncoder::new(params);
        let mut stream = Vec::new();
        let (announced, withdrawn): (Vec<IpNet>, Vec<IpNet>) = if family.afi == Afi::IPV4 {
            let a: Vec<_> = (0..n).map(|_| rng.prefix4()).collect();
            let w: Vec<_> = (0..rng.range(0, 500)).map(|_| rng.prefix4()).collect();
            enc.announce(&attrs, a.iter().copied(), &mut stream)
                .expect("encodes");
            enc.withdraw(w.iter().copied(), &mut stream);
            (
                a.into_iter().map(IpNet::V4).collect(),
                w.into_iter().map(IpNet::V4).collect(),
            )
        } else {
            let a: Vec<_> = (0..n).map(|_| rng.prefix6()).collect();
            let w: Vec<_> = (0..rng.range(0, 500)).map(|_| rng.prefix6()).collect();
            enc.announce(&attrs, a.iter().copied(), &mut stream)
                .expect("encodes");
            enc.withdraw(w.iter().copied(), &mut stream);
            (
                a.into_iter().map(IpNet::V6).collect(),
                w.into_iter().map(IpNet::V6).collect(),
            )
        };
        enc.end_of_rib(family, &mut stream);
        let want = expected_after_roundtrip(&attrs, &params);
        let (mut got_a, mut got_w, mut eor) = (Vec::new(), Vec::new(), None);
        read_all(&stream, &params, &mut rng, |m| {
            let Message::Update(u) = m else {
                panic!("seed {seed}: not an UPDATE")
            };
            assert_eq!(u.problems, vec![], "seed {seed}");
            for r in u.reachable() {
                let a: PathAttributes = u.attrs_for(&r);
                assert_eq!(a, want, "seed {seed}");
                got_a.extend(r.nlri.iter());
            }
            for n in u.unreachable() {
                got_w.extend(n.iter());
            }
            if let Some(f) = u.end_of_rib() {
                eor = Some(f);
            }
        });
        assert_eq!(got_a, announced, "seed {seed}");
        assert_eq!(got_w, withdrawn, "seed {seed}");
        assert_eq!(eor, Some(family), "seed {seed}");
    }
}

fn random_capability(rng: &mut Rng) -> Capability {
    let fam = |rng: &mut Rng| AfiSafi::new(Afi(rng.u16()), Safi(rng.u8()));
    match rng.below(10) {
        0 => Capability::Multiprotocol(fam(rng)),
        1 => Capability::RouteRefresh,
        2 => Capability::ExtendedNextHop(
            (0..rng.range(1, 4))
                .map(|_| ExtendedNextHop {
                    nlri_afi: Afi(rng.u16()),
                    nlri_safi: rng.u16(),
                    next_hop_afi: Afi(rng.u16()),
                })
                .collect(),
        ),
        3 => Capability::ExtendedMessage,
        4 => Capability::GracefulRestart(GracefulRestart {
            restart_state: rng.chance(50),
            notification: rng.chance(50),
            restart_time: rng.u16() & 0x0fff,
            families: (0..rng.range(0, 6))
                .map(|_| GracefulRestartFamily {
                    afi_safi: fam(rng),
                    forwarding_preserved: rng.chance(50),
                })
                .collect(),
        }),
        5 => Capability::FourOctetAs(rng.u32()),
        6 => Capability::AddPath(
            (0..rng.range(1, 4))
                .map(|_| AddPath {
                    afi_safi: fam(rng),
                    mode: match rng.below(4) {
                        0 => AddPathMode::Receive,
                        1 => AddPathMode::Send,
                        2 => AddPathMode::Both,
                        _ => AddPathMode::Other(4 + rng.u8() % 200),
                    },
                })
                .collect(),
        ),
        7 => Capability::EnhancedRouteRefresh,
        8 => {
            let word = |rng: &mut Rng| {
                (0..rng.range(0, 20))
                    .map(|_| char::from(b'a' + rng.u8() % 26))
                    .collect()
            };
            Capability::Fqdn(Fqdn {
                hostname: word(rng),
                domain: word(rng),
            })
        }
        _ => {
            let code = loop {
                let c = rng.u8();
                if ![1, 2, 5, 6, 64, 65, 69, 70, 73].contains(&c) {
                    break c;
                }
            };
            let len = rng.range(0, 40);
            Capability::Unknown {
                code,
                value: rng.bytes(len),
            }
        }
    }
}

#[test]
fn opens_roundtrip() {
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let caps: Vec<Capability> = (0..rng.range(0, 40))
            .map(|_| random_capability(&mut rng))
            .collect();
        let open = Open::new(rng.asn(), rng.u16(), Ipv4Addr::from(rng.u32()), caps);
        let mut out = Vec::new();
        open.encode(&mut out);
        assert!(out.len() <= 4096);
        let params = SessionParams::new(true, true);
        match Message::decode(&out, 4096, &params) {
            Ok(Message::Open(back)) => assert_eq!(back, open, "seed {seed}"),
            other => panic!("seed {seed}: {other:?}"),
        }
    }
}

#[test]
fn notifications_refreshes_and_keepalives_roundtrip() {
    let params = SessionParams::new(true, true);
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let len = rng.range(0, 200);
        let n = Notification::with_data(ErrorCode::from_wire(rng.u8(), rng.u8()), rng.bytes(len));
        let rr = RouteRefresh {
            afi_safi: AfiSafi::new(Afi(rng.u16()), Safi(rng.u8())),
            subtype: match rng.below(3) {
                0 => RefreshSubtype::Normal,
                1 => RefreshSubtype::BeginRefresh,
                _ => RefreshSubtype::EndRefresh,
            },
        };
        let mut stream = Vec::new();
        n.encode(&mut stream);
        rr.encode(&mut stream);
        encode_keepalive(&mut stream);
        let mut f = Framer::new();
        f.push(&stream);
        let want = [
            Message::Notification(n),
            Message::RouteRefresh(rr),
            Message::Keepalive,
        ];
        let mut i = 0;
        while let Some(frame) = f.next_frame().expect("framing") {
            assert_eq!(
                frame.decode(&params).expect("decodes"),
                want[i],
                "seed {seed}"
            );
            i += 1;
        }
        assert_eq!(i, want.len());
    }
}
