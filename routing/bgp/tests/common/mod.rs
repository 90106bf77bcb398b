//! Shared by the property and hostile-input tests: a small deterministic
//! generator (xorshift64*), so every run sees the same inputs and a failure
//! names the seed that reproduces it.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use routerd_bgp_core::wire::{
    AS_TRANS, AfiSafi, Aggregator, AsPath, AsSegment, Community, ExtCommunity, LargeCommunity,
    NextHop, Origin, PathAttributes, RawAttribute, SegmentType, SessionParams,
};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::try_from(self.below(u64::try_from(hi - lo + 1).unwrap_or(1))).unwrap_or(0)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn u8(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }

    pub fn asn(&mut self) -> u32 {
        match self.below(3) {
            0 => u32::from(self.u16().max(1)),
            1 => 64512 + self.u32() % 1000,
            _ => 65536 + self.u32() % 4_000_000_000,
        }
    }

    pub fn ipv4(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(self.u32())
    }

    pub fn ipv6(&mut self) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.next()) << 64) | u128::from(self.next()))
    }

    /// A unicast host address usable as NEXT_HOP.
    pub fn host4(&mut self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.u8(), self.u8(), self.u8().max(1))
    }

    pub fn prefix4(&mut self) -> Ipv4Net {
        let len = u8::try_from(self.below(33)).unwrap_or(24);
        Ipv4Net::new(self.ipv4(), len)
            .map(|n| n.trunc())
            .unwrap_or_default()
    }

    pub fn prefix6(&mut self) -> Ipv6Net {
        let len = u8::try_from(self.below(129)).unwrap_or(64);
        Ipv6Net::new(self.ipv6(), len)
            .map(|n| n.trunc())
            .unwrap_or_default()
    }

    pub fn params(&mut self) -> SessionParams {
        SessionParams {
            four_octet_as: self.chance(60),
            external: self.chance(50),
            ipv4_extended_next_hop: self.chance(30),
            max_send_len: if self.chance(25) { 65535 } else { 4096 },
        }
    }

    /// A random attribute set that the decoder accepts on a session with
    /// `params` (no LOCAL_PREF or route reflection attributes from an
    /// external peer, confederation segments only inside, and only at the
    /// front, where RFC 6793 can carry them past a 2-octet speaker).
    pub fn attrs(&mut self, params: &SessionParams, next_hop: NextHop) -> PathAttributes {
        let mut segments = Vec::new();
        if !params.external && self.chance(15) {
            let kind = if self.chance(50) {
                SegmentType::ConfedSequence
            } else {
                SegmentType::ConfedSet
            };
            let n = self.range(1, 4);
            segments.push(AsSegment {
                kind,
                asns: (0..n).map(|_| self.asn()).collect(),
            });
        }
        let nseg = if params.external {
            self.range(1, 4)
        } else {
            self.range(0, 3)
        };
        for _ in 0..nseg {
            let kind = if self.chance(80) {
                SegmentType::Sequence
            } else {
                SegmentType::Set
            };
            let n = self.range(1, 10);
            segments.push(AsSegment {
                kind,
                asns: (0..n).map(|_| self.asn()).collect(),
            });
        }
        let internal = !params.external;
        let mut unknown_codes: Vec<u8> = vec![21, 22, 23, 40, 41, 99, 200, 255];
        let mut unknown = Vec::new();
        for _ in 0..self.range(0, 2) {
            let i = self.range(0, unknown_codes.len() - 1);
            let code = unknown_codes.remove(i);
            let len = self.range(0, 300);
            unknown.push(RawAttribute {
                flags: 0xe0,
                type_code: code,
                value: self.bytes(len).into(),
            });
        }
        let origin = match self.below(3) {
            0 => Origin::Igp,
            1 => Origin::Egp,
            _ => Origin::Incomplete,
        };
        PathAttributes {
            origin: Some(origin),
            as_path: AsPath { segments },
            next_hop: Some(next_hop),
            med: self.chance(50).then(|| self.u32()),
            local_pref: (internal && self.chance(70)).then(|| self.u32()),
            atomic_aggregate: self.chance(20),
            aggregator: self.chance(20).then(|| Aggregator {
                asn: self.asn(),
                address: self.ipv4(),
            }),
            communities: (0..self.range(0, 6))
                .map(|_| Community(self.u32()))
                .collect(),
            originator_id: (internal && self.chance(30)).then(|| self.ipv4()),
            cluster_list: if internal && self.chance(30) {
                (0..self.range(1, 4)).map(|_| self.ipv4()).collect()
            } else {
                Vec::new()
            },
            ext_communities: (0..self.range(0, 3))
                .map(|_| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.bytes(8));
                    ExtCommunity(b)
                })
                .collect(),
            large_communities: (0..self.range(0, 3))
                .map(|_| LargeCommunity {
                    global: self.u32(),
                    local1: self.u32(),
                    local2: self.u32(),
                })
                .collect(),
            unknown,
        }
    }
}

/// What a peer decodes from `sent` on a session with `params`: identical,
/// except where RFC 6793 cannot carry a 4-octet ASN past a 2-octet peer:
/// AS4_PATH has no confederation segments (§6), and an AGGREGATOR other
/// than AS_TRANS makes AS4_PATH stale (§4.2.3). There AS_TRANS remains.
pub fn expected_after_roundtrip(sent: &PathAttributes, params: &SessionParams) -> PathAttributes {
    let mut want = sent.clone();
    if params.four_octet_as {
        return want;
    }
    let big = |a: u32| a > u32::from(u16::MAX);
    let needs_as4 = sent
        .as_path
        .segments
        .iter()
        .any(|s| s.asns.iter().copied().any(big));
    let agg_stale = sent
        .aggregator
        .is_some_and(|a| !big(a.asn) && a.asn != AS_TRANS);
    for s in &mut want.as_path.segments {
        if s.kind.is_confed() || (needs_as4 && agg_stale) {
            for a in &mut s.asns {
                if big(*a) {
                    *a = AS_TRANS;
                }
            }
        }
    }
    want
}

pub fn family_for(params: &SessionParams, rng: &mut Rng) -> (AfiSafi, NextHop) {
    let v6nh = |rng: &mut Rng| NextHop::V6 {
        global: rng.ipv6(),
        link_local: rng.chance(50).then(|| rng.ipv6()),
    };
    match rng.below(3) {
        0 => (AfiSafi::IPV4_UNICAST, NextHop::V4(rng.host4())),
        1 if params.ipv4_extended_next_hop => (AfiSafi::IPV4_UNICAST, v6nh(rng)),
        _ => (AfiSafi::IPV6_UNICAST, v6nh(rng)),
    }
}
