//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4) for IPv4 and IPv6
//! unicast, with the next hops of RFC 2545 and RFC 8950.

use std::net::Ipv6Addr;

use crate::wire::attrs::NextHop;
use crate::wire::prefix::Nlri;
use crate::wire::reader::Reader;
use crate::wire::types::{Afi, AfiSafi, Safi, SessionParams};
use crate::wire::update::problem::ProblemKind;

/// AFI, SAFI: what an MP_UNREACH_NLRI must at least hold.
pub(crate) const UNREACH_FIXED_LEN: usize = 3;
/// AFI, SAFI, next hop length, reserved: MP_REACH_NLRI's minimum (§5.3).
const REACH_FIXED_LEN: usize = 5;

/// A decoded MP_REACH_NLRI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpReach<'a> {
    /// The family.
    pub afi_safi: AfiSafi,
    /// The next hop for all its NLRI.
    pub next_hop: NextHop,
    /// The announced prefixes.
    pub nlri: Nlri<'a>,
}

/// A decoded MP_UNREACH_NLRI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpUnreach<'a> {
    /// The family.
    pub afi_safi: AfiSafi,
    /// The withdrawn prefixes.
    pub withdrawn: Nlri<'a>,
}

/// The outcome of decoding an MP attribute.
pub(crate) enum Mp<T> {
    Ok(T),
    /// A family this codec does not decode.
    Unsupported(AfiSafi),
    /// Malformed; `family` when the AFI/SAFI could still be read.
    Err {
        kind: ProblemKind,
        family: Option<AfiSafi>,
    },
}

/// The family named by an MP attribute's first three octets, if present.
pub(crate) fn family_of(value: &[u8]) -> Option<AfiSafi> {
    let mut r = Reader::new(value);
    Some(AfiSafi::new(Afi(r.u16()?), Safi(r.u8()?)))
}

fn supported(f: AfiSafi) -> bool {
    f == AfiSafi::IPV4_UNICAST || f == AfiSafi::IPV6_UNICAST
}

pub(crate) fn reach<'a>(value: &'a [u8], params: &SessionParams) -> Mp<MpReach<'a>> {
    let family = family_of(value);
    let err = |kind| Mp::Err { kind, family };
    let Some(afi_safi) = family.filter(|_| value.len() >= REACH_FIXED_LEN) else {
        return err(ProblemKind::MpTooShort);
    };
    if !supported(afi_safi) {
        return Mp::Unsupported(afi_safi);
    }
    let mut r = Reader::new(&value[3..]);
    let nh_len = r.u8().unwrap_or(0);
    let bad_nh = ProblemKind::MpNextHopLength {
        afi_safi,
        len: nh_len,
    };
    let Some(nh) = r.take(usize::from(nh_len)) else {
        return err(bad_nh);
    };
    // The reserved octet (formerly the SNPA count) is ignored (RFC 4760 §3).
    if r.u8().is_none() {
        return err(ProblemKind::MpTooShort);
    }
    // RFC 7606 §7.11: the next hop length must be one the family (with the
    // extensions in use) allows: 16 or 32 for IPv6 (RFC 2545 §3); 4 for
    // IPv4, or 16/32 with RFC 8950 extended next hops.
    let next_hop = match (afi_safi.afi, nh.len()) {
        (Afi::IPV4, 4) => NextHop::V4([nh[0], nh[1], nh[2], nh[3]].into()),
        (Afi::IPV6, 16 | 32) => v6_next_hop(nh),
        (Afi::IPV4, 16 | 32) if params.ipv4_extended_next_hop => v6_next_hop(nh),
        _ => return err(bad_nh),
    };
    match Nlri::parse(afi_safi.afi, r.rest()) {
        Some(Ok(nlri)) => Mp::Ok(MpReach {
            afi_safi,
            next_hop,
            nlri,
        }),
        Some(Err(e)) => err(ProblemKind::MpNlri { afi_safi, err: e }),
        None => Mp::Unsupported(afi_safi),
    }
}

pub(crate) fn unreach(value: &[u8]) -> Mp<MpUnreach<'_>> {
    let Some(afi_safi) = family_of(value) else {
        return Mp::Err {
            kind: ProblemKind::MpTooShort,
            family: None,
        };
    };
    if !supported(afi_safi) {
        return Mp::Unsupported(afi_safi);
    }
    match Nlri::parse(afi_safi.afi, &value[UNREACH_FIXED_LEN..]) {
        Some(Ok(withdrawn)) => Mp::Ok(MpUnreach {
            afi_safi,
            withdrawn,
        }),
        Some(Err(e)) => Mp::Err {
            kind: ProblemKind::MpNlri { afi_safi, err: e },
            family: Some(afi_safi),
        },
        None => Mp::Unsupported(afi_safi),
    }
}

/// A 16- or 32-octet next hop: global, then link-local (RFC 2545 §3).
fn v6_next_hop(nh: &[u8]) -> NextHop {
    let mut r = Reader::new(nh);
    NextHop::V6 {
        global: r.ipv6().unwrap_or(Ipv6Addr::UNSPECIFIED),
        link_local: r.ipv6(),
    }
}
