//! Byte-exact UPDATE vectors: each expected message is written out by hand
//! from the RFC layouts (RFC 4271 §4.3, RFC 4760 §3–4, RFC 6793, RFC 1997,
//! RFC 4360, RFC 4456, RFC 8092, RFC 8950, RFC 4724 §2), plus one message
//! cross-checked against a public capture (holo-routing/holo's test vector).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use routerd_bgp_core::wire::{
    AS_TRANS, AfiSafi, Aggregator, AsPath, AsSegment, Community, ErrorAction, ExtCommunity, Frame,
    LargeCommunity, Message, NextHop, Origin, PathAttributes, RawAttribute, SegmentType,
    SessionParams, Update, UpdateEncoder,
};

fn msg(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(body.len() + 19).expect("fits").to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}

fn decode<'a>(raw: &'a [u8], params: &SessionParams) -> Update<'a> {
    let frame = Frame::parse(raw, 65535).expect("valid header");
    match frame.decode(params).expect("decodes") {
        Message::Update(u) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().expect("literal")
}

fn v6(s: &str) -> Ipv6Net {
    s.parse().expect("literal")
}

fn a4(s: &str) -> Ipv4Addr {
    s.parse().expect("literal")
}

fn a6(s: &str) -> Ipv6Addr {
    s.parse().expect("literal")
}

fn ebgp4() -> SessionParams {
    SessionParams::new(true, true)
}

/// holo-bgp/tests/packet/update.rs UPDATE2 in holo-routing/holo: every
/// attribute at once, all four NLRI-bearing fields in one message, and an
/// IPv6 Address Specific Extended Community (type 25) that routerd does not
/// decode and must keep raw.
#[test]
fn holo_update2_capture() {
    let raw: Vec<u8> = vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x01, 0x29, 0x02, 0x00, 0x08, 0x18, 0x0a, 0x00, 0x01, 0x18, 0x0a, 0x00, 0x02, 0x01,
        0x00, 0x90, 0x0e, 0x00, 0x47, 0x00, 0x02, 0x01, 0x20, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x42, 0x07, 0xbd, 0x19, 0x11, 0x1c, 0x84, 0x11, 0x00, 0x80, 0x20, 0x01,
        0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80,
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x90, 0x0f, 0x00, 0x25, 0x00, 0x02, 0x01, 0x80, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x20, 0x01, 0x0d, 0xb8,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x40, 0x01, 0x01,
        0x00, 0x50, 0x02, 0x00, 0x0e, 0x02, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x03, 0x40, 0x03, 0x04, 0x01, 0x01, 0x01, 0x01, 0x80, 0x04, 0x04, 0x00,
        0x00, 0x01, 0xf4, 0x40, 0x05, 0x04, 0x00, 0x00, 0x01, 0xf4, 0x40, 0x06, 0x00, 0xc0, 0x07,
        0x08, 0x00, 0x00, 0x03, 0xe8, 0x02, 0x02, 0x02, 0x02, 0xd0, 0x08, 0x00, 0x0c, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x80, 0x09, 0x04, 0x01, 0x01,
        0x01, 0x01, 0x90, 0x0a, 0x00, 0x04, 0x03, 0x03, 0x03, 0x03, 0xd0, 0x10, 0x00, 0x08, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0xd0, 0x19, 0x00, 0x14, 0x20, 0x01, 0x0d, 0xb8,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x01, 0xd0, 0x20, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x20, 0x0a, 0x00, 0xff, 0x01, 0x20, 0x0a, 0x00, 0xff, 0x02,
    ];
    let ibgp = SessionParams::new(true, false);
    let u = decode(&raw, &ibgp);
    assert_eq!(u.problems, vec![]);
    assert_eq!(
        u.withdrawn.collect::<Vec<_>>(),
        vec![v4("10.0.1.0/24"), v4("10.0.2.0/24")]
    );
    assert_eq!(
        u.nlri.collect::<Vec<_>>(),
        vec![v4("10.0.255.1/32"), v4("10.0.255.2/32")]
    );
    let mp = u.mp_reach.expect("MP_REACH_NLRI");
    assert_eq!(mp.afi_safi, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::V6 {
            global: a6("3000::1"),
            link_local: Some(a6("fe80::4207:bd19:111c:8411"))
        }
    );
    assert_eq!(
        mp.nlri.iter().collect::<Vec<_>>(),
        vec![
            IpNet::V6(v6("2001:db8:1::1/128")),
            IpNet::V6(v6("2001:db8:1::2/128"))
        ]
    );
    let unreach = u.mp_unreach.expect("MP_UNREACH_NLRI");
    assert_eq!(unreach.withdrawn.iter().count(), 2);
    let want = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([1, 2, 3]),
        next_hop: Some(NextHop::V4(a4("1.1.1.1"))),
        med: Some(500),
        local_pref: Some(500),
        atomic_aggregate: true,
        aggregator: Some(Aggregator {
            asn: 1000,
            address: a4("2.2.2.2"),
        }),
        communities: vec![Community(1), Community(2), Community(3)],
        originator_id: Some(a4("1.1.1.1")),
        cluster_list: vec![a4("3.3.3.3")],
        ext_communities: vec![ExtCommunity([0, 0, 0, 1, 0, 0, 0, 1])],
        large_communities: vec![LargeCommunity {
            global: 1,
            local1: 0,
            local2: 1,
        }],
        unknown: vec![RawAttribute {
            flags: 0xc0,
            type_code: 25,
            value: vec![
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
            ]
            .into(),
        }],
    };
    assert_eq!(u.attrs, want);
    // Two groups to install, three fields of withdrawals.
    assert_eq!(u.reachable().count(), 2);
    assert_eq!(u.unreachable().count(), 2);
    assert_eq!(u.end_of_rib(), None);
}

#[test]
fn classic_ipv4_update_byte_exact() {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([65001, 65002]),
        next_hop: Some(NextHop::V4(a4("192.0.2.1"))),
        med: Some(10),
        communities: vec![Community::new(65001, 100), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global: 65001,
            local1: 1,
            local2: 2,
        }],
        ..Default::default()
    };
    #[rustfmt::skip]
    let body = [
        0x00, 0x00,                                     // withdrawn routes length
        0x00, 0x39,                                     // total path attribute length 57
        0x40, 0x01, 0x01, 0x00,                         // ORIGIN IGP
        0x40, 0x02, 0x0a, 0x02, 0x02,                   // AS_PATH: AS_SEQUENCE of 2
        0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0xfd, 0xea, //   65001 65002 (4 octets each)
        0x40, 0x03, 0x04, 192, 0, 2, 1,                 // NEXT_HOP
        0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x0a,       // MULTI_EXIT_DISC 10
        0xc0, 0x08, 0x08, 0xfd, 0xe9, 0x00, 0x64,       // COMMUNITIES 65001:100
        0xff, 0xff, 0xff, 0x01,                         //   NO_EXPORT
        0xc0, 0x20, 0x0c, 0x00, 0x00, 0xfd, 0xe9,       // LARGE_COMMUNITY 65001:1:2
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        0x08, 10,                                       // NLRI 10.0.0.0/8
        0x18, 192, 168, 1,                              //      192.168.1.0/24
    ];
    let want = msg(&body);
    let mut out = Vec::new();
    let mut enc = UpdateEncoder::new(ebgp4());
    let n = enc
        .announce(&attrs, [v4("10.0.0.0/8"), v4("192.168.1.77/24")], &mut out)
        .expect("encodes");
    assert_eq!(n, 1);
    assert_eq!(out, want);
    let u = decode(&out, &ebgp4());
    assert_eq!(u.problems, vec![]);
    assert_eq!(u.attrs, attrs);
    let reach: Vec<_> = u.reachable().collect();
    assert_eq!(reach.len(), 1);
    assert_eq!(u.attrs_for(&reach[0]), attrs);
}

#[test]
fn ipv6_mp_reach_with_link_local_byte_exact() {
    let nh = NextHop::V6 {
        global: a6("2001:db8::1"),
        link_local: Some(a6("fe80::1")),
    };
    let attrs = PathAttributes {
        origin: Some(Origin::Incomplete),
        as_path: AsPath::from_sequence([65001]),
        next_hop: Some(nh),
        ..Default::default()
    };
    #[rustfmt::skip]
    let mut body = vec![
        0x00, 0x00, 0x00, 0x3d,                         // no withdrawn; attributes: 61
        0x90, 0x0e, 0x00, 0x2c,                         // MP_REACH_NLRI, extended length 44
        0x00, 0x02, 0x01, 0x20,                         // AFI 2, SAFI 1, next hop length 32
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x00,                                           // reserved
        0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01,       // 2001:db8:1::/48
        0x40, 0x01, 0x01, 0x02,                         // ORIGIN INCOMPLETE
        0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,
    ];
    let want = msg(&body);
    let mut out = Vec::new();
    UpdateEncoder::new(ebgp4())
        .announce(&attrs, [v6("2001:db8:1::/48")], &mut out)
        .expect("encodes");
    assert_eq!(out, want);
    let u = decode(&out, &ebgp4());
    assert_eq!(u.problems, vec![]);
    let reach: Vec<_> = u.reachable().collect();
    assert_eq!(reach.len(), 1);
    assert_eq!(reach[0].next_hop, nh);
    assert_eq!(u.attrs_for(&reach[0]), attrs);
    // A 16-octet next hop (global only) is just as valid (RFC 2545 §3).
    body.drain(28..44);
    body[3] = 0x2d;
    body[7] = 0x1c;
    body[11] = 0x10;
    let raw = msg(&body);
    let u = decode(&raw, &ebgp4());
    assert_eq!(u.problems, vec![]);
    assert_eq!(
        u.mp_reach.map(|m| m.next_hop),
        Some(NextHop::V6 {
            global: a6("2001:db8::1"),
            link_local: None
        })
    );
}

#[test]
fn rfc8950_ipv4_nlri_with_ipv6_next_hop() {
    let nh = NextHop::V6 {
        global: a6("2001:db8::1"),
        link_local: None,
    };
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([65001]),
        next_hop: Some(nh),
        ..Default::default()
    };
    let plain = ebgp4();
    let ext = SessionParams {
        ipv4_extended_next_hop: true,
        ..plain
    };
    let mut out = Vec::new();
    assert!(
        UpdateEncoder::new(plain)
            .announce(&attrs, [v4("10.1.0.0/16")], &mut out)
            .is_err()
    );
    UpdateEncoder::new(ext)
        .announce(&attrs, [v4("10.1.0.0/16")], &mut out)
        .expect("encodes with RFC 8950");
    // MP_REACH_NLRI for AFI 1 / SAFI 1 with a 16-octet next hop.
    assert_eq!(
        &out[23..31],
        &[0x90, 0x0e, 0x00, 0x18, 0x00, 0x01, 0x01, 0x10]
    );
    assert_eq!(&out[48..51], &[0x10, 10, 1]);
    let u = decode(&out, &ext);
    assert_eq!(u.problems, vec![]);
    let reach: Vec<_> = u.reachable().collect();
    assert_eq!(reach[0].next_hop, nh);
    assert_eq!(
        reach[0].nlri.iter().collect::<Vec<_>>(),
        vec![IpNet::V4(v4("10.1.0.0/16"))]
    );
    // Without the capability the next hop length is unexpected (RFC 7606
    // §7.11): the family is disabled.
    let u = decode(&out, &plain);
    assert_eq!(u.action(), Some(ErrorAction::AfiSafiDisable));
    assert_eq!(
        u.disabled_families().collect::<Vec<_>>(),
        vec![AfiSafi::IPV4_UNICAST]
    );
    assert_eq!(u.reachable().count(), 0);
}

#[test]
fn end_of_rib_markers() {
    let enc = UpdateEncoder::new(ebgp4());
    let mut out = Vec::new();
    enc.end_of_rib(AfiSafi::IPV4_UNICAST, &mut out);
    assert_eq!(out, msg(&[0, 0, 0, 0]));
    assert_eq!(
        decode(&out, &ebgp4()).end_of_rib(),
        Some(AfiSafi::IPV4_UNICAST)
    );
    let mut out = Vec::new();
    enc.end_of_rib(AfiSafi::IPV6_UNICAST, &mut out);
    assert_eq!(out, msg(&[0, 0, 0, 6, 0x80, 0x0f, 0x03, 0x00, 0x02, 0x01]));
    let u = decode(&out, &ebgp4());
    assert_eq!(u.end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
    assert_eq!(u.problems, vec![]);
    // A family routerd does not decode is still recognised as End-of-RIB.
    let raw = msg(&[0, 0, 0, 6, 0x80, 0x0f, 0x03, 0x00, 0x01, 0x80]);
    let u = decode(&raw, &ebgp4());
    assert_eq!(u.end_of_rib().map(|f| (f.afi.0, f.safi.0)), Some((1, 128)));
    // An UPDATE that withdraws something is not End-of-RIB.
    let raw = msg(&[0, 2, 8, 10, 0, 0]);
    assert_eq!(decode(&raw, &ebgp4()).end_of_rib(), None);
}

#[test]
fn withdrawals_byte_exact() {
    let mut enc = UpdateEncoder::new(ebgp4());
    let mut out = Vec::new();
    assert_eq!(
        enc.withdraw([v4("10.0.0.0/8"), v4("192.0.2.0/24")], &mut out),
        1
    );
    assert_eq!(out, msg(&[0x00, 0x06, 8, 10, 24, 192, 0, 2, 0x00, 0x00]));
    let u = decode(&out, &ebgp4());
    let gone: Vec<_> = u
        .unreachable()
        .flat_map(|n| n.iter().collect::<Vec<_>>())
        .collect();
    assert_eq!(
        gone,
        vec![IpNet::V4(v4("10.0.0.0/8")), IpNet::V4(v4("192.0.2.0/24"))]
    );
    let mut out = Vec::new();
    assert_eq!(enc.withdraw([v6("2001:db8::/32")], &mut out), 1);
    #[rustfmt::skip]
    let want = msg(&[
        0x00, 0x00, 0x00, 0x0c,
        0x90, 0x0f, 0x00, 0x08, 0x00, 0x02, 0x01,
        0x20, 0x20, 0x01, 0x0d, 0xb8,
    ]);
    assert_eq!(out, want);
    let u = decode(&out, &ebgp4());
    assert_eq!(u.unreachable().count(), 1);
    assert_eq!(u.end_of_rib(), None);
}

/// RFC 6793 §4.2.2 towards a 2-octet speaker, §4.2.3 back.
#[test]
fn as4_path_and_as4_aggregator_for_a_two_octet_peer() {
    let old = SessionParams::new(false, true);
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([65001, 4_200_000_000]),
        next_hop: Some(NextHop::V4(a4("192.0.2.1"))),
        aggregator: Some(Aggregator {
            asn: 4_200_000_000,
            address: a4("192.0.2.9"),
        }),
        ..Default::default()
    };
    let mut out = Vec::new();
    UpdateEncoder::new(old)
        .announce(&attrs, [v4("10.0.0.0/8")], &mut out)
        .expect("encodes");
    #[rustfmt::skip]
    let body = [
        0x00, 0x00, 0x00, 0x35,
        0x40, 0x01, 0x01, 0x00,
        0x40, 0x02, 0x06, 0x02, 0x02, 0xfd, 0xe9, 0x5b, 0xa0,   // 65001 AS_TRANS
        0x40, 0x03, 0x04, 192, 0, 2, 1,
        0xc0, 0x07, 0x06, 0x5b, 0xa0, 192, 0, 2, 9,            // AGGREGATOR AS_TRANS
        0xc0, 0x11, 0x0a, 0x02, 0x02,                          // AS4_PATH
        0x00, 0x00, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x00,
        0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x00, 192, 0, 2, 9, // AS4_AGGREGATOR
        0x08, 10,
    ];
    assert_eq!(out, msg(&body));
    let u = decode(&out, &old);
    assert_eq!(u.problems, vec![]);
    assert_eq!(u.attrs, attrs);
    // Between two 4-octet speakers, AS4_* attributes are discarded (RFC 6793 §6).
    #[rustfmt::skip]
    let new_new = msg(&[
        0x00, 0x00, 0x00, 0x28,
        0x40, 0x01, 0x01, 0x00,
        0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9,
        0x40, 0x03, 0x04, 192, 0, 2, 1,
        0xc0, 0x11, 0x06, 0x02, 0x01, 0x00, 0x00, 0x00, 0x07,
        0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x00, 192, 0, 2, 9,
        0x08, 10,
    ]);
    let u = decode(&new_new, &ebgp4());
    assert_eq!(u.problems.len(), 2, "{:?}", u.problems);
    assert!(
        u.problems
            .iter()
            .all(|p| p.action == ErrorAction::AttributeDiscard)
    );
    assert_eq!(u.attrs.as_path, AsPath::from_sequence([65001]));
    assert_eq!(u.attrs.aggregator, None);
    assert!(u.announces());
    // An AGGREGATOR that is not AS_TRANS makes AS4_PATH stale (RFC 6793 §4.2.3).
    let mut stale = body;
    stale[27..29].copy_from_slice(&[0xfd, 0xe8]);
    let raw = msg(&stale);
    let u = decode(&raw, &old);
    assert_eq!(u.attrs.as_path, AsPath::from_sequence([65001, AS_TRANS]));
    assert_eq!(u.attrs.aggregator.map(|a| a.asn), Some(65000));
}

#[test]
fn route_reflection_and_extended_communities_byte_exact() {
    let attrs = PathAttributes {
        origin: Some(Origin::Egp),
        as_path: AsPath::new(),
        next_hop: Some(NextHop::V4(a4("10.0.0.1"))),
        local_pref: Some(200),
        atomic_aggregate: true,
        originator_id: Some(a4("10.0.0.9")),
        cluster_list: vec![a4("10.255.0.1"), a4("10.255.0.2")],
        ext_communities: vec![ExtCommunity::route_target(65001, 7)],
        ..Default::default()
    };
    let ibgp = SessionParams::new(true, false);
    let mut out = Vec::new();
    UpdateEncoder::new(ibgp)
        .announce(&attrs, [v4("10.9.0.0/16")], &mut out)
        .expect("encodes");
    #[rustfmt::skip]
    let body = [
        0x00, 0x00, 0x00, 0x35,
        0x40, 0x01, 0x01, 0x01,                           // ORIGIN EGP
        0x40, 0x02, 0x00,                                 // empty AS_PATH (iBGP origination)
        0x40, 0x03, 0x04, 10, 0, 0, 1,
        0x40, 0x05, 0x04, 0, 0, 0, 200,                   // LOCAL_PREF
        0x40, 0x06, 0x00,                                 // ATOMIC_AGGREGATE
        0x80, 0x09, 0x04, 10, 0, 0, 9,                    // ORIGINATOR_ID
        0x80, 0x0a, 0x08, 10, 255, 0, 1, 10, 255, 0, 2,   // CLUSTER_LIST
        0xc0, 0x10, 0x08, 0x00, 0x02, 0xfd, 0xe9, 0, 0, 0, 7, // route target
        0x10, 10, 9,
    ];
    assert_eq!(out, msg(&body));
    let u = decode(&out, &ibgp);
    assert_eq!(u.problems, vec![]);
    assert_eq!(u.attrs, attrs);
}

#[test]
fn unknown_transitive_attributes_pass_with_the_partial_bit() {
    // An unknown optional transitive (type 99) and an unknown optional
    // non-transitive (type 98) attribute.
    #[rustfmt::skip]
    let body = [
        0x00, 0x00, 0x00, 0x17,
        0x40, 0x01, 0x01, 0x00,
        0x40, 0x02, 0x00,
        0x40, 0x03, 0x04, 10, 0, 0, 1,
        0xc0, 0x63, 0x02, 0xaa, 0xbb,
        0x80, 0x62, 0x01, 0xcc,
        0x08, 10,
    ];
    let raw = msg(&body);
    let ibgp = SessionParams::new(true, false);
    let u = decode(&raw, &ibgp);
    assert_eq!(u.problems, vec![]);
    assert_eq!(
        u.attrs.unknown,
        vec![RawAttribute {
            flags: 0xc0,
            type_code: 99,
            value: vec![0xaa, 0xbb].into()
        }]
    );
    let mut out = Vec::new();
    UpdateEncoder::new(ibgp)
        .announce(&u.attrs, [v4("10.0.0.0/8")], &mut out)
        .expect("encodes");
    // Re-advertised with O, T and P set (0xe0); the non-transitive one is gone.
    assert_eq!(&out[37..42], &[0xe0, 0x63, 0x02, 0xaa, 0xbb]);
    assert_eq!(out.len(), 19 + 4 + 4 + 3 + 7 + 5 + 2);
}

#[test]
fn two_octet_aggregator_and_as_set() {
    let old = SessionParams::new(false, true);
    #[rustfmt::skip]
    let body = [
        0x00, 0x00, 0x00, 0x21,
        0x40, 0x01, 0x01, 0x00,
        0x40, 0x02, 0x0a, 0x02, 0x01, 0xfd, 0xe9, 0x01, 0x02, 0x00, 0x01, 0x00, 0x02,
        0x40, 0x03, 0x04, 10, 0, 0, 1,
        0xc0, 0x07, 0x06, 0xfd, 0xe9, 10, 0, 0, 1,
        0x00,
    ];
    let raw = msg(&body);
    let u = decode(&raw, &old);
    assert_eq!(u.problems, vec![]);
    assert_eq!(
        u.attrs.as_path.segments,
        vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![65001]
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![1, 2]
            },
        ]
    );
    assert_eq!(u.attrs.as_path.route_len(), 2);
    assert_eq!(
        u.attrs.aggregator,
        Some(Aggregator {
            asn: 65001,
            address: a4("10.0.0.1")
        })
    );
    // A default route: prefix length 0, no address octets.
    assert_eq!(u.nlri.collect::<Vec<_>>(), vec![v4("0.0.0.0/0")]);
}

#[test]
fn packing_fills_each_update() {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: AsPath::from_sequence([65001]),
        next_hop: Some(NextHop::V4(a4("192.0.2.1"))),
        ..Default::default()
    };
    let prefixes: Vec<Ipv4Net> = (0..100_000u32)
        .map(|i| Ipv4Net::new(Ipv4Addr::from((1 << 24) + (i << 8)), 24).expect("len"))
        .collect();
    for max in [4096usize, 65535] {
        let params = SessionParams {
            max_send_len: max,
            ..ebgp4()
        };
        let mut out = Vec::new();
        let n = UpdateEncoder::new(params)
            .announce(&attrs, prefixes.iter().copied(), &mut out)
            .expect("encodes");
        let mut got = Vec::new();
        let mut rest = &out[..];
        let mut count = 0;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let (m, tail) = rest.split_at(len);
            assert!(len <= max);
            // Full: a further /24 (4 octets) would not have fit, except in the last one.
            if !tail.is_empty() {
                assert!(len + 4 > max, "message of {len} octets is not full");
            }
            let u = decode(m, &params);
            got.extend(u.nlri);
            rest = tail;
            count += 1;
        }
        assert_eq!(count, n);
        assert_eq!(got, prefixes);
        // 19 + 4 header and lengths, 4 + 7 + 7 attributes: (4096 - 41) / 4 = 1013 per message.
        if max == 4096 {
            assert_eq!(n, 100_000usize.div_ceil(1013));
        }
    }
    // IPv6 withdrawals pack into MP_UNREACH_NLRI the same way.
    let v6s: Vec<Ipv6Net> = (0..5000u128)
        .map(|i| {
            Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | (i << 64)), 64).expect("len")
        })
        .collect();
    let mut out = Vec::new();
    let n = UpdateEncoder::new(ebgp4()).withdraw(v6s.iter().copied(), &mut out);
    assert_eq!(n, 5000usize.div_ceil((4096 - 30) / 9));
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// BIRD 2.0.12 on the wire, captured by tests/bird.rs (`--nocapture`
/// prints them): its OPEN and the initial table it exported with the
/// filters of that test. Kept here so the cross-check runs without root.
#[test]
fn bird_2_0_12_capture() {
    use routerd_bgp_core::wire::{AddPath, AddPathMode, Capability, Fqdn, Open};
    let open = unhex(
        "ffffffffffffffffffffffffffffffff00580104fde900090a6301013b023901040001000101040002000102\
         000600400a0078000101000002010041040000fde945040001010246004700490b09626972642d7065657200",
    );
    let o = Open::decode(&open[19..]).expect("BIRD's OPEN");
    assert_eq!(
        (o.asn(), o.hold_time, o.bgp_id),
        (65001, 9, a4("10.99.1.1"))
    );
    for want in [
        Capability::FourOctetAs(65001),
        Capability::AddPath(vec![AddPath {
            afi_safi: AfiSafi::IPV4_UNICAST,
            mode: AddPathMode::Send,
        }]),
        Capability::Fqdn(Fqdn {
            hostname: "bird-peer".into(),
            domain: String::new(),
        }),
        Capability::Unknown {
            code: 71,
            value: vec![],
        },
    ] {
        assert!(o.capabilities.contains(&want), "{want:?}");
    }
    let updates = [
        "ffffffffffffffffffffffffffffffff005502000000314001010140020602010000fde94003040a63010180040400000032\
         c00804fde90064c0200c0000fde90000000100000002180a0a0219c0000280180a0a01",
        "ffffffffffffffffffffffffffffffff005102000000354001010140020602010000fde94003040a63010180040400000032\
         c00808fde90064ffffff01c0200c0000fde9000000010000000220c6336407",
        "ffffffffffffffffffffffffffffffff00170200000000",
        "ffffffffffffffffffffffffffffffff0075020000005e900e004600020120fd000099000100000000000000000001fe80\
         000000000000a890cbfffe294a92003020010db800108020010db80030000000000000000000014020010db80020000140\
         01010240020602010000fde9c00804fde90258",
        "ffffffffffffffffffffffffffffffff001d0200000006800f03000201",
    ];
    let mut stream = Vec::new();
    for u in updates {
        stream.extend(unhex(u));
    }
    let mut framer = routerd_bgp_core::wire::Framer::new();
    framer.push(&stream);
    let mut routes = Vec::new();
    let mut eor = Vec::new();
    while let Some(frame) = framer.next_frame().expect("framing") {
        let Message::Update(u) = frame.decode(&ebgp4()).expect("decodes") else {
            panic!()
        };
        assert_eq!(u.problems, vec![]);
        eor.extend(u.end_of_rib());
        for r in u.reachable() {
            let attrs = u.attrs_for(&r);
            for p in r.nlri.iter() {
                routes.push((p, attrs.clone()));
            }
        }
    }
    assert_eq!(eor, vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
    let prefixes: Vec<String> = routes.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        prefixes,
        [
            "10.10.2.0/24",
            "192.0.2.128/25",
            "10.10.1.0/24",
            "198.51.100.7/32",
            "2001:db8:10::/48",
            "2001:db8:30::1/128",
            "2001:db8:20:1::/64",
        ]
    );
    let (_, v4) = &routes[3];
    assert_eq!(v4.origin, Some(Origin::Egp));
    assert_eq!(v4.med, Some(50));
    assert_eq!(
        v4.communities,
        vec![Community::new(65001, 100), Community::NO_EXPORT]
    );
    assert_eq!(
        v4.large_communities,
        vec![LargeCommunity {
            global: 65001,
            local1: 1,
            local2: 2
        }]
    );
    assert_eq!(v4.next_hop, Some(NextHop::V4(a4("10.99.1.1"))));
    let (_, v6) = &routes[4];
    assert_eq!(
        v6.next_hop,
        Some(NextHop::V6 {
            global: a6("fd00:99:1::1"),
            link_local: Some(a6("fe80::a890:cbff:fe29:4a92"))
        })
    );
    assert_eq!(v6.origin, Some(Origin::Incomplete));
    assert_eq!(v6.communities, vec![Community::new(65001, 600)]);
}
