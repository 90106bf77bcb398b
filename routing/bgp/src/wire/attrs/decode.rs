//! Walks the Path Attributes field of an UPDATE: every attribute routerd
//! knows is checked and decoded per its RFC 7606 §7 entry, problems are
//! collected rather than aborting, and MP_REACH/MP_UNREACH are handed to
//! the MP decoder.

use std::net::Ipv4Addr;

use super::{
    Aggregator, AsPath, AttrType, Community, ExtCommunity, LargeCommunity, NextHop, Origin,
    PathAttributes, RawAttribute, flags,
};
use crate::wire::reader::Reader;
use crate::wire::types::{AS_TRANS, AfiSafi, SessionParams};
use crate::wire::update::mp::{self, Mp, MpReach, MpUnreach};
use crate::wire::update::problem::{ErrorAction, Problem, ProblemKind};

/// IPv6 Address Specific Extended Community (RFC 5701), kept raw.
const IPV6_EXT_COMMUNITIES: u8 = 25;

/// The decoded Path Attributes field.
#[derive(Debug, Default)]
pub(crate) struct Walked<'a> {
    pub attrs: PathAttributes,
    pub mp_reach: Option<MpReach<'a>>,
    pub mp_unreach: Option<MpUnreach<'a>>,
    /// An MP_REACH_NLRI was present, decodable or not: the UPDATE meant to
    /// announce something (RFC 7606 §5.2).
    pub mp_reach_present: bool,
    /// The family of an MP_UNREACH_NLRI that lists nothing (End-of-RIB).
    pub empty_unreach: Option<AfiSafi>,
    /// An attribute other than MP_UNREACH_NLRI was present.
    pub other_than_unreach: bool,
    /// Type codes seen (first occurrences), for the mandatory check.
    seen: [u64; 4],
}

impl Walked<'_> {
    pub(crate) fn has(&self, t: AttrType) -> bool {
        self.seen[usize::from(t.0 >> 6)] & (1 << (t.0 & 63)) != 0
    }

    /// Marks `t` seen; true if it was already.
    fn mark(&mut self, t: AttrType) -> bool {
        let (word, bit) = (usize::from(t.0 >> 6), 1u64 << (t.0 & 63));
        let was = self.seen[word] & bit != 0;
        self.seen[word] |= bit;
        was
    }
}

pub(crate) fn walk<'a>(
    bytes: &'a [u8],
    params: &SessionParams,
    problems: &mut Vec<Problem>,
) -> Walked<'a> {
    use ErrorAction::{AttributeDiscard as Discard, SessionReset, TreatAsWithdraw as Withdraw};
    use ProblemKind as K;

    let mut w = Walked::default();
    let mut as4_path: Option<AsPath> = None;
    let mut as4_aggregator: Option<Aggregator> = None;
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let start = r.rest();
        // RFC 7606 §4: not even a minimal header left, or an attribute that
        // runs past the field: treat-as-withdraw, and the NLRI is still found
        // through the Total Attribute Length.
        if r.remaining() < 3 {
            problems.push(Problem::new(None, K::TruncatedAttribute, Withdraw));
            break;
        }
        let (Some(fl), Some(code)) = (r.u8(), r.u8()) else {
            break;
        };
        let t = AttrType(code);
        let len = if fl & flags::EXTENDED_LENGTH != 0 {
            r.u16().map(usize::from)
        } else {
            r.u8().map(usize::from)
        };
        let Some(len) = len else {
            problems.push(Problem::new(Some(t), K::TruncatedAttribute, Withdraw));
            break;
        };
        let Some(value) = r.take(len) else {
            problems.push(Problem::new(Some(t), K::AttributeOverrun, Withdraw).with_data(start));
            break;
        };
        let tlv = &start[..start.len() - r.remaining()];
        // The attribute goes into the NOTIFICATION's data (RFC 4271 §6.3)
        // only where a problem can end the session or disable a family;
        // attribute-discard problems carry none, so a flood of repeated
        // attributes costs no allocation each (the whole UPDATE is what
        // RFC 7606 §6 asks to log).
        let problem = |kind, action| {
            let p = Problem::new(Some(t), kind, action);
            if action > Discard {
                p.with_data(tlv)
            } else {
                p
            }
        };
        let is_mp = t == AttrType::MP_REACH_NLRI || t == AttrType::MP_UNREACH_NLRI;

        // RFC 7606 §3g: a repeated MP attribute resets the session; any other
        // repeat is dropped and the first occurrence stands.
        if w.mark(t) {
            if is_mp {
                problems.push(problem(K::DuplicateMp, SessionReset));
            } else {
                problems.push(problem(K::Duplicate, Discard));
            }
            continue;
        }
        if t != AttrType::MP_UNREACH_NLRI {
            w.other_than_unreach = true;
        }
        if t == AttrType::MP_REACH_NLRI {
            w.mp_reach_present = true;
        }

        // RFC 7606 §7.5, §7.9, §7.10: from an external peer these are
        // discarded whatever they look like.
        if params.external
            && matches!(
                t,
                AttrType::LOCAL_PREF | AttrType::ORIGINATOR_ID | AttrType::CLUSTER_LIST
            )
        {
            problems.push(problem(K::FromExternalPeer, Discard));
            continue;
        }

        // RFC 7606 §3c: Optional/Transitive bits that conflict with the type.
        if let Some(expected) = t.expected_flags()
            && fl & (flags::OPTIONAL | flags::TRANSITIVE) != expected
        {
            let p = problem(K::Flags(fl), Discard);
            problems.push(match t {
                // §3f (session-reset cases of these become attribute discard)
                // and RFC 6793 §6 (AS4_* errors are attribute discard).
                AttrType::ATOMIC_AGGREGATE
                | AttrType::AGGREGATOR
                | AttrType::AS4_PATH
                | AttrType::AS4_AGGREGATOR => p,
                // §5.3: MP attributes with flags other than RFC 4760's.
                _ if is_mp => mp_problem(p.with_data(tlv), mp::family_of(value)),
                _ => Problem {
                    action: Withdraw,
                    ..p
                }
                .with_data(tlv),
            });
            continue;
        }

        let a = &mut w.attrs;
        match t {
            AttrType::ORIGIN => match value {
                &[v] => match Origin::from_u8(v) {
                    Some(o) => a.origin = Some(o),
                    None => problems.push(problem(K::InvalidOrigin(v), Withdraw)),
                },
                _ => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::AS_PATH => match AsPath::decode(value, params.four_octet_as) {
                // RFC 5065 §5 makes confederation segments from outside the
                // confederation a malformed AS_PATH; RFC 7606 §3e makes that
                // treat-as-withdraw.
                Ok(p) if params.external && p.has_confed() => {
                    problems.push(problem(K::ConfedFromExternal, Withdraw));
                }
                Ok(p) => a.as_path = p,
                Err(e) => problems.push(problem(K::AsPath(e), Withdraw)),
            },
            AttrType::NEXT_HOP => match value {
                &[b0, b1, b2, b3] => {
                    let nh = Ipv4Addr::new(b0, b1, b2, b3);
                    // RFC 4271 §6.3: syntactically a unicast host address.
                    if nh.is_unspecified() || nh.is_broadcast() || nh.is_multicast() {
                        problems.push(problem(K::InvalidNextHop(nh), Withdraw));
                    } else {
                        a.next_hop = Some(NextHop::V4(nh));
                    }
                }
                _ => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::MULTI_EXIT_DISC => match u32_of(value) {
                Some(v) => a.med = Some(v),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::LOCAL_PREF => match u32_of(value) {
                Some(v) => a.local_pref = Some(v),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::ATOMIC_AGGREGATE => {
                if value.is_empty() {
                    a.atomic_aggregate = true;
                } else {
                    problems.push(problem(K::Length(len), Discard));
                }
            }
            // RFC 7606 §7.7: 6 octets between 2-octet speakers, 8 between 4-octet ones.
            AttrType::AGGREGATOR => match (params.four_octet_as, value) {
                (false, &[a0, a1, b0, b1, b2, b3]) => {
                    a.aggregator = Some(Aggregator {
                        asn: u32::from(u16::from_be_bytes([a0, a1])),
                        address: Ipv4Addr::new(b0, b1, b2, b3),
                    });
                }
                (true, &[a0, a1, a2, a3, b0, b1, b2, b3]) => {
                    a.aggregator = Some(Aggregator {
                        asn: u32::from_be_bytes([a0, a1, a2, a3]),
                        address: Ipv4Addr::new(b0, b1, b2, b3),
                    });
                }
                _ => problems.push(problem(K::Length(len), Discard)),
            },
            // §7.8, §7.14, RFC 8092 §6: a non-zero multiple of the item size.
            AttrType::COMMUNITIES => match chunks::<4>(value) {
                Some(it) => a.communities = it.map(|c| Community(u32::from_be_bytes(c))).collect(),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::EXTENDED_COMMUNITIES => match chunks::<8>(value) {
                Some(it) => a.ext_communities = it.map(ExtCommunity).collect(),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::LARGE_COMMUNITY => match chunks::<12>(value) {
                Some(it) => {
                    a.large_communities = it
                        .map(|c| LargeCommunity {
                            global: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                            local1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                            local2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                        })
                        .collect();
                }
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            // §7.9, §7.10 (internal peers; external ones were handled above).
            AttrType::ORIGINATOR_ID => match u32_of(value) {
                Some(v) => a.originator_id = Some(Ipv4Addr::from(v)),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::CLUSTER_LIST => match chunks::<4>(value) {
                Some(it) => a.cluster_list = it.map(Ipv4Addr::from).collect(),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            AttrType::MP_REACH_NLRI => match mp::reach(value, params) {
                Mp::Ok(m) => w.mp_reach = Some(m),
                Mp::Unsupported(f) => {
                    problems.push(problem(K::UnsupportedFamily(f), Discard).with_family(f));
                }
                Mp::Err { kind, family } => {
                    problems.push(mp_problem(problem(kind, Discard).with_data(tlv), family))
                }
            },
            AttrType::MP_UNREACH_NLRI => match mp::unreach(value) {
                Mp::Ok(m) => {
                    if m.withdrawn.is_empty() {
                        w.empty_unreach = Some(m.afi_safi);
                    }
                    w.mp_unreach = Some(m);
                }
                Mp::Unsupported(f) => {
                    if value.len() == mp::UNREACH_FIXED_LEN {
                        w.empty_unreach = Some(f);
                    }
                    problems.push(problem(K::UnsupportedFamily(f), Discard).with_family(f));
                }
                Mp::Err { kind, family } => {
                    problems.push(mp_problem(problem(kind, Discard).with_data(tlv), family))
                }
            },
            // RFC 6793 §6: between 4-octet speakers these must not appear and
            // are discarded; from a 2-octet speaker, malformed ones are
            // discarded too.
            AttrType::AS4_PATH if params.four_octet_as => {
                problems.push(problem(K::As4FromNewSpeaker, Discard));
            }
            AttrType::AS4_PATH => match AsPath::decode_as4(value) {
                Ok((p, dropped_confed)) => {
                    if dropped_confed {
                        problems.push(problem(K::ConfedInAs4Path, Discard));
                    }
                    as4_path = Some(p);
                }
                Err(e) => problems.push(problem(K::AsPath(e), Discard)),
            },
            AttrType::AS4_AGGREGATOR if params.four_octet_as => {
                problems.push(problem(K::As4FromNewSpeaker, Discard));
            }
            AttrType::AS4_AGGREGATOR => match value {
                &[a0, a1, a2, a3, b0, b1, b2, b3] => {
                    as4_aggregator = Some(Aggregator {
                        asn: u32::from_be_bytes([a0, a1, a2, a3]),
                        address: Ipv4Addr::new(b0, b1, b2, b3),
                    });
                }
                _ => problems.push(problem(K::Length(len), Discard)),
            },
            // RFC 7606 §7.15: the IPv6 Address Specific Extended Community
            // is checked (a non-zero multiple of 20 octets, optional
            // transitive) but otherwise passed along raw like an unknown one.
            AttrType(IPV6_EXT_COMMUNITIES) => match chunks::<20>(value) {
                Some(_) if fl & flags::OPTIONAL != 0 && fl & flags::TRANSITIVE != 0 => {
                    a.unknown.push(RawAttribute {
                        flags: fl & !flags::EXTENDED_LENGTH & 0xf0,
                        type_code: code,
                        value: value.into(),
                    });
                }
                Some(_) => problems.push(problem(K::Flags(fl), Withdraw)),
                None => problems.push(problem(K::Length(len), Withdraw)),
            },
            // RFC 4271 §6.3: an unrecognised well-known attribute resets the
            // session (RFC 7606 does not revise this).
            _ if fl & flags::OPTIONAL == 0 => {
                problems.push(problem(K::UnrecognizedWellKnown, SessionReset));
            }
            // RFC 4271 §5: unrecognised optional transitive attributes are
            // passed along; optional non-transitive ones are quietly ignored.
            _ if fl & flags::TRANSITIVE != 0 => a.unknown.push(RawAttribute {
                flags: fl & !flags::EXTENDED_LENGTH & 0xf0,
                type_code: code,
                value: value.into(),
            }),
            _ => {}
        }
    }
    if !params.four_octet_as {
        merge_as4(&mut w.attrs, as4_path, as4_aggregator);
    }
    w
}

/// RFC 6793 §4.2.3: an AGGREGATOR that is not AS_TRANS means AS4_PATH and
/// AS4_AGGREGATOR are stale and ignored; otherwise AS4_AGGREGATOR replaces
/// it and the path is rebuilt from both.
fn merge_as4(a: &mut PathAttributes, as4_path: Option<AsPath>, as4_aggregator: Option<Aggregator>) {
    if a.aggregator.is_some_and(|ag| ag.asn != AS_TRANS) {
        return;
    }
    if let Some(ag) = as4_aggregator {
        a.aggregator = Some(ag);
    }
    if let Some(p) = as4_path {
        a.as_path = a.as_path.merge_as4(&p);
    }
}

/// MP attribute problems (RFC 7606 §5.3, §7.11): AFI/SAFI disable when the
/// family can be read, session reset when not even that.
fn mp_problem(p: Problem, family: Option<AfiSafi>) -> Problem {
    match family {
        Some(f) => Problem {
            action: ErrorAction::AfiSafiDisable,
            ..p
        }
        .with_family(f),
        None => Problem {
            action: ErrorAction::SessionReset,
            ..p
        },
    }
}

fn u32_of(v: &[u8]) -> Option<u32> {
    let b: [u8; 4] = v.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The value as N-octet items, if it is a non-zero multiple of N.
fn chunks<const N: usize>(v: &[u8]) -> Option<impl Iterator<Item = [u8; N]> + '_> {
    if v.is_empty() || !v.len().is_multiple_of(N) {
        return None;
    }
    Some(v.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }))
}
