//! Encodes an attribute set into the Path Attributes field, ascending by
//! type code (RFC 4271 §5), recreating AS4_PATH/AS4_AGGREGATOR for a
//! 2-octet peer (RFC 6793 §4.2.2).

use super::{AttrType, NextHop, PathAttributes, flags};
use crate::wire::types::{AS_TRANS, SessionParams};

const WELL_KNOWN: u8 = flags::TRANSITIVE;
const OPT_TRANS: u8 = flags::OPTIONAL | flags::TRANSITIVE;
const OPT_NON_TRANS: u8 = flags::OPTIONAL;

/// Appends one attribute: flags, type, length (two octets when the value
/// needs it), value written by `f`.
pub(crate) fn put(out: &mut Vec<u8>, fl: u8, t: AttrType, f: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[fl & !flags::EXTENDED_LENGTH, t.0, 0]);
    f(out);
    let len = out.len() - at - 3;
    if let Ok(l) = u8::try_from(len) {
        out[at + 2] = l;
    } else {
        // Rare (long AS paths, many communities): widen the length field.
        out[at] |= flags::EXTENDED_LENGTH;
        let l = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        out[at + 2] = l[0];
        out.insert(at + 3, l[1]);
    }
}

/// Appends every attribute of `a` except MP_REACH/MP_UNREACH; NEXT_HOP only
/// with `classic_next_hop` (RFC 4760 §3: not with MP-only NLRI).
pub(crate) fn encode_attrs(
    a: &PathAttributes,
    params: &SessionParams,
    classic_next_hop: bool,
    out: &mut Vec<u8>,
) {
    let four = params.four_octet_as;
    if let Some(o) = a.origin {
        put(out, WELL_KNOWN, AttrType::ORIGIN, |o2| o2.push(o.to_u8()));
    }
    put(out, WELL_KNOWN, AttrType::AS_PATH, |o| {
        a.as_path.encode(four, o)
    });
    if classic_next_hop && let Some(NextHop::V4(nh)) = a.next_hop {
        put(out, WELL_KNOWN, AttrType::NEXT_HOP, |o| {
            o.extend_from_slice(&nh.octets())
        });
    }
    if let Some(med) = a.med {
        put(out, OPT_NON_TRANS, AttrType::MULTI_EXIT_DISC, |o| {
            o.extend_from_slice(&med.to_be_bytes())
        });
    }
    if let Some(lp) = a.local_pref {
        put(out, WELL_KNOWN, AttrType::LOCAL_PREF, |o| {
            o.extend_from_slice(&lp.to_be_bytes())
        });
    }
    if a.atomic_aggregate {
        put(out, WELL_KNOWN, AttrType::ATOMIC_AGGREGATE, |_| {});
    }
    if let Some(ag) = a.aggregator {
        put(out, OPT_TRANS, AttrType::AGGREGATOR, |o| {
            if four {
                o.extend_from_slice(&ag.asn.to_be_bytes());
            } else {
                let asn = u16::try_from(ag.asn).unwrap_or(AS_TRANS as u16);
                o.extend_from_slice(&asn.to_be_bytes());
            }
            o.extend_from_slice(&ag.address.octets());
        });
    }
    if !a.communities.is_empty() {
        put(out, OPT_TRANS, AttrType::COMMUNITIES, |o| {
            for c in &a.communities {
                o.extend_from_slice(&c.0.to_be_bytes());
            }
        });
    }
    if let Some(id) = a.originator_id {
        put(out, OPT_NON_TRANS, AttrType::ORIGINATOR_ID, |o| {
            o.extend_from_slice(&id.octets())
        });
    }
    if !a.cluster_list.is_empty() {
        put(out, OPT_NON_TRANS, AttrType::CLUSTER_LIST, |o| {
            for id in &a.cluster_list {
                o.extend_from_slice(&id.octets());
            }
        });
    }
    if !a.ext_communities.is_empty() {
        put(out, OPT_TRANS, AttrType::EXTENDED_COMMUNITIES, |o| {
            for c in &a.ext_communities {
                o.extend_from_slice(&c.0);
            }
        });
    }
    // RFC 6793 §4.2.2: a 2-octet peer gets AS4_PATH (without confederation
    // segments) and AS4_AGGREGATOR only when an ASN does not fit two octets.
    if !four && a.as_path.needs_as4() {
        let as4 = a.as_path.without_confed();
        if !as4.is_empty() {
            put(out, OPT_TRANS, AttrType::AS4_PATH, |o| as4.encode(true, o));
        }
    }
    if !four && let Some(ag) = a.aggregator.filter(|ag| ag.asn > u32::from(u16::MAX)) {
        put(out, OPT_TRANS, AttrType::AS4_AGGREGATOR, |o| {
            o.extend_from_slice(&ag.asn.to_be_bytes());
            o.extend_from_slice(&ag.address.octets());
        });
    }
    if !a.large_communities.is_empty() {
        put(out, OPT_TRANS, AttrType::LARGE_COMMUNITY, |o| {
            for c in &a.large_communities {
                o.extend_from_slice(&c.global.to_be_bytes());
                o.extend_from_slice(&c.local1.to_be_bytes());
                o.extend_from_slice(&c.local2.to_be_bytes());
            }
        });
    }
    // RFC 4271 §5: an unrecognised optional transitive attribute passed
    // along gets the Partial bit.
    for u in &a.unknown {
        let fl = (u.flags & (flags::OPTIONAL | flags::TRANSITIVE)) | flags::PARTIAL;
        put(out, fl, AttrType(u.type_code), |o| {
            o.extend_from_slice(&u.value)
        });
    }
}
