//! Packet tests: raw bytes next to the decoded struct, round trips, and
//! hostile input for the solicitation parser.

use std::net::Ipv6Addr;

use super::packet::*;

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("literal address")
}

/// An RA as routerd sends it on a typical LAN, written out by hand from
/// RFC 4861 §4.2, §4.6.1, §4.6.2, §4.6.4 and RFC 8106 §5.1, §5.2.
const LAN_RA: &[u8] = &[
    0x86, 0x00, 0x00, 0x00, // type 134, code 0, checksum (kernel's)
    0x40, 0x48, 0x07, 0x08, // hop limit 64, O and prf=high, lifetime 1800
    0, 0, 0, 0, 0, 0, 0, 0, // reachable, retrans: unspecified
    0x01, 0x01, 0x02, 0, 0, 0, 0, 0x01, // SLLA 02:00:00:00:00:01
    0x05, 0x01, 0, 0, 0, 0, 0x05, 0xdc, // MTU 1500
    0x03, 0x04, 0x40, 0xc0, // PIO /64, L and A
    0, 0, 0x15, 0x18, 0, 0, 0x0a, 0x8c, 0, 0, 0, 0, // 5400, 2700, reserved
    0xfd, 0, 0, 0x99, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // fd00:99:1::
    0x19, 0x03, 0, 0, 0, 0, 0x07, 0x08, // RDNSS, lifetime 1800
    0xfd, 0, 0, 0x99, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53, // fd00:99:1::53
    0x1f, 0x03, 0, 0, 0, 0, 0x07, 0x08, // DNSSL, lifetime 1800
    3, b'l', b'a', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 0, 0,
];

fn lan_ra() -> RouterAdvert {
    RouterAdvert {
        cur_hop_limit: 64,
        managed: false,
        other: true,
        preference: Preference::High,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        options: vec![
            NdOption::SourceLinkLayer(vec![2, 0, 0, 0, 0, 1]),
            NdOption::Mtu(1500),
            NdOption::Prefix(PrefixInfo {
                prefix: ip("fd00:99:1::"),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid: 5400,
                preferred: 2700,
            }),
            NdOption::Rdnss {
                lifetime: 1800,
                servers: vec![ip("fd00:99:1::53")],
            },
            NdOption::Dnssl {
                lifetime: 1800,
                domains: vec!["lab.example".into()],
            },
        ],
    }
}

#[test]
fn a_lan_ra_encodes_to_the_bytes_the_rfcs_give_and_back() {
    assert_eq!(lan_ra().encode().expect("encodes"), LAN_RA);
    let parsed = RouterAdvert::parse(LAN_RA).expect("parses");
    assert_eq!(parsed, lan_ra());
    assert_eq!(parsed.mtu(), Some(1500));
    assert_eq!(parsed.source_lla(), Some(&[2, 0, 0, 0, 0, 1][..]));
    assert_eq!(parsed.rdnss(), vec![(ip("fd00:99:1::53"), 1800)]);
    assert_eq!(parsed.dnssl(), vec![("lab.example".to_string(), 1800)]);
    assert_eq!(parsed.prefixes().count(), 1);
}

#[test]
fn every_option_round_trips() {
    let ra = RouterAdvert {
        cur_hop_limit: 0,
        managed: true,
        other: true,
        preference: Preference::Low,
        router_lifetime: 0,
        reachable_time: 30_000,
        retrans_timer: 1000,
        options: vec![
            NdOption::Prefix(PrefixInfo {
                prefix: ip("2001:db8:1::"),
                prefix_len: 48,
                on_link: true,
                autonomous: false,
                valid: INFINITE,
                preferred: 0,
            }),
            NdOption::Route(RouteInfo {
                prefix: ip("::"),
                prefix_len: 0,
                preference: Preference::High,
                lifetime: 60,
            }),
            NdOption::Route(RouteInfo {
                prefix: ip("2001:db8:200::"),
                prefix_len: 48,
                preference: Preference::Medium,
                lifetime: 600,
            }),
            NdOption::Route(RouteInfo {
                prefix: ip("2001:db8:300::1:0"),
                prefix_len: 112,
                preference: Preference::Low,
                lifetime: 0,
            }),
            NdOption::Rdnss {
                lifetime: 0,
                servers: vec![ip("2001:db8::53"), ip("2001:db8::54")],
            },
            NdOption::Dnssl {
                lifetime: 99,
                domains: vec!["a.example".into(), "corp.example".into(), "x".into()],
            },
            NdOption::Unknown {
                kind: 200,
                body: vec![1, 2, 3, 4, 5, 6],
            },
        ],
    };
    let bytes = ra.encode().expect("encodes");
    assert_eq!(bytes.len() % 8, 0, "options end on 8-octet boundaries");
    assert_eq!(RouterAdvert::parse(&bytes).expect("parses"), ra);
    // RFC 4191 §2.3: the shortest Route Information length for each prefix.
    let lens: Vec<u8> = {
        let mut at = 16;
        let mut v = Vec::new();
        while at < bytes.len() {
            if bytes[at] == 24 {
                v.push(bytes[at + 1]);
            }
            at += usize::from(bytes[at + 1]) * 8;
        }
        v
    };
    assert_eq!(lens, vec![1, 2, 3]);
}

#[test]
fn preference_bits_follow_rfc_4191() {
    for (p, bits) in [
        (Preference::High, 0b01),
        (Preference::Medium, 0b00),
        (Preference::Low, 0b11),
    ] {
        assert_eq!(p.bits(), bits);
        assert_eq!(Preference::from_bits(bits), p);
    }
    // The reserved value reads as medium (RFC 4191 §2.2).
    assert_eq!(Preference::from_bits(0b10), Preference::Medium);
}

#[test]
fn bad_domains_cannot_be_encoded() {
    let ra = RouterAdvert {
        options: vec![NdOption::Dnssl {
            lifetime: 1,
            domains: vec!["bad domain".into()],
        }],
        ..RouterAdvert::default()
    };
    assert!(matches!(ra.encode(), Err(PacketError::BadDomain(_))));
}

#[test]
fn solicitations_are_validated_per_rfc_4861_6_1_1() {
    let ll = ip("fe80::1");
    let plain = [133, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(parse_rs(&plain, ll), Ok(RouterSolicit { source_lla: None }));
    let with_slla = [133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9];
    assert_eq!(
        parse_rs(&with_slla, ll).expect("valid").source_lla,
        Some(vec![2, 0, 0, 0, 0, 9])
    );
    assert_eq!(
        parse_rs(&with_slla, Ipv6Addr::UNSPECIFIED),
        Err(PacketError::SourceLinkLayerFromUnspecified)
    );
    assert_eq!(
        parse_rs(&plain, Ipv6Addr::UNSPECIFIED),
        Ok(RouterSolicit { source_lla: None })
    );
    assert_eq!(
        parse_rs(&plain[..7], ll),
        Err(PacketError::TooShort { len: 7, min: 8 })
    );
    assert_eq!(
        parse_rs(&[133, 1, 0, 0, 0, 0, 0, 0], ll),
        Err(PacketError::BadCode(1))
    );
    assert_eq!(parse_rs(&LAN_RA[..8], ll), Err(PacketError::WrongType(134)));
    let zero_len = [133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 9];
    assert_eq!(
        parse_rs(&zero_len, ll),
        Err(PacketError::ZeroLengthOption { kind: 1 })
    );
    let overrun = [133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0, 9];
    assert_eq!(
        parse_rs(&overrun, ll),
        Err(PacketError::OptionOverrun { kind: 1 })
    );
    let dangling = [133, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        parse_rs(&dangling, ll),
        Err(PacketError::OptionOverrun { kind: 1 })
    );
    // Unknown options are skipped (RFC 4861 §4.1).
    let unknown = [133, 0, 0, 0, 0, 0, 0, 0, 99, 1, 0, 0, 0, 0, 0, 0];
    assert!(parse_rs(&unknown, ll).is_ok());
}

#[test]
fn malformed_known_options_in_an_ra_are_errors() {
    let mut short_pio = LAN_RA[..16].to_vec();
    short_pio.extend([3, 1, 64, 0xc0, 0, 0, 0, 0]);
    assert_eq!(
        RouterAdvert::parse(&short_pio),
        Err(PacketError::BadOption { kind: 3 })
    );
    let mut empty_rdnss = LAN_RA[..16].to_vec();
    empty_rdnss.extend([25, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        RouterAdvert::parse(&empty_rdnss),
        Err(PacketError::BadOption { kind: 25 })
    );
    let mut long_route = LAN_RA[..16].to_vec();
    long_route.extend([24, 1, 129, 0, 0, 0, 0, 0]);
    assert_eq!(
        RouterAdvert::parse(&long_route),
        Err(PacketError::BadOption { kind: 24 })
    );
    let mut route_too_short = LAN_RA[..16].to_vec();
    route_too_short.extend([24, 1, 64, 0, 0, 0, 0, 0]);
    assert_eq!(
        RouterAdvert::parse(&route_too_short),
        Err(PacketError::BadOption { kind: 24 })
    );
    assert_eq!(
        RouterAdvert::parse(&LAN_RA[..15]),
        Err(PacketError::TooShort { len: 15, min: 16 })
    );
}

/// A small deterministic generator (xorshift), so the hostile-input test is
/// the same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_solicitations_and_adverts_never_panic_and_what_passes_is_sound() {
    let ll = ip("fe80::1");
    let valid = [
        133u8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9, 7, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ];
    assert!(parse_rs(&valid, ll).is_ok());
    // Every truncation and every single-octet change of a valid RS and RA.
    for n in 0..=valid.len() {
        let _ = parse_rs(&valid[..n], ll);
    }
    for n in 0..=LAN_RA.len() {
        let _ = RouterAdvert::parse(&LAN_RA[..n]);
    }
    for i in 0..valid.len() {
        for v in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
            let mut m = valid.to_vec();
            m[i] = v;
            for src in [ll, Ipv6Addr::UNSPECIFIED] {
                if let Ok(rs) = parse_rs(&m, src) {
                    assert!(m.len() >= 8 && m[0] == 133 && m[1] == 0);
                    assert!(!(src.is_unspecified() && rs.source_lla.is_some()));
                }
            }
        }
    }
    for i in 0..LAN_RA.len() {
        for v in [0u8, 1, 0x3f, 0xc0, 0xff] {
            let mut m = LAN_RA.to_vec();
            m[i] = v;
            if let Ok(ra) = RouterAdvert::parse(&m) {
                // Whatever parses re-encodes without panicking.
                let _ = ra.encode();
            }
        }
    }
    // Random garbage, with the type octet forced half the time.
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 96) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.next().is_multiple_of(2) && !b.is_empty() {
            b[0] = if rng.next().is_multiple_of(2) {
                133
            } else {
                134
            };
            if b.len() > 1 {
                b[1] = 0;
            }
        }
        let _ = parse_rs(&b, ll);
        let _ = RouterAdvert::parse(&b);
    }
}
