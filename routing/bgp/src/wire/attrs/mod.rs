//! Path attributes (RFC 4271 §5 and the RFCs that add attributes): the owned,
//! hashable attribute set a RIB interns and shares between routes.

mod as_path;
mod community;
pub(crate) mod decode;
pub(crate) mod encode;
mod intern;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub use as_path::{AsPath, AsPathError, AsSegment, SegmentType};
pub use community::{Community, ExtCommunity, ExtCommunityValue, LargeCommunity};
pub use intern::AttrInterner;

/// Attribute Flags bits (RFC 4271 §4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: some speaker on the path did not recognise this optional
    /// transitive attribute.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// A path attribute type code (IANA "BGP Path Attributes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrType(pub u8);

impl AttrType {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: AttrType = AttrType(1);
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: AttrType = AttrType(2);
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: AttrType = AttrType(3);
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: AttrType = AttrType(4);
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: AttrType = AttrType(5);
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: AttrType = AttrType(6);
    /// AGGREGATOR (RFC 4271, RFC 6793).
    pub const AGGREGATOR: AttrType = AttrType(7);
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: AttrType = AttrType(8);
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: AttrType = AttrType(9);
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: AttrType = AttrType(10);
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: AttrType = AttrType(14);
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: AttrType = AttrType(15);
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: AttrType = AttrType(16);
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: AttrType = AttrType(17);
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: AttrType = AttrType(18);
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: AttrType = AttrType(32);

    /// The Optional and Transitive bits its specification fixes, for the
    /// attributes routerd recognises (RFC 7606 §3c checks them).
    pub(crate) fn expected_flags(self) -> Option<u8> {
        use flags::{OPTIONAL as O, TRANSITIVE as T};
        Some(match self {
            Self::ORIGIN
            | Self::AS_PATH
            | Self::NEXT_HOP
            | Self::LOCAL_PREF
            | Self::ATOMIC_AGGREGATE => T,
            Self::MULTI_EXIT_DISC | Self::ORIGINATOR_ID | Self::CLUSTER_LIST => O,
            Self::MP_REACH_NLRI | Self::MP_UNREACH_NLRI => O,
            Self::AGGREGATOR
            | Self::COMMUNITIES
            | Self::EXTENDED_COMMUNITIES
            | Self::AS4_PATH
            | Self::AS4_AGGREGATOR
            | Self::LARGE_COMMUNITY => O | T,
            _ => return None,
        })
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::ORIGIN => "ORIGIN",
            Self::AS_PATH => "AS_PATH",
            Self::NEXT_HOP => "NEXT_HOP",
            Self::MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
            Self::LOCAL_PREF => "LOCAL_PREF",
            Self::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
            Self::AGGREGATOR => "AGGREGATOR",
            Self::COMMUNITIES => "COMMUNITIES",
            Self::ORIGINATOR_ID => "ORIGINATOR_ID",
            Self::CLUSTER_LIST => "CLUSTER_LIST",
            Self::MP_REACH_NLRI => "MP_REACH_NLRI",
            Self::MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
            Self::EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
            Self::AS4_PATH => "AS4_PATH",
            Self::AS4_AGGREGATOR => "AS4_AGGREGATOR",
            Self::LARGE_COMMUNITY => "LARGE_COMMUNITY",
            AttrType(code) => return write!(f, "attribute {code}"),
        };
        f.write_str(name)
    }
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// 0: learned from an interior protocol.
    Igp,
    /// 1: learned from EGP.
    Egp,
    /// 2: learned some other way.
    Incomplete,
}

impl Origin {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Igp),
            1 => Some(Self::Egp),
            2 => Some(Self::Incomplete),
            _ => None,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::Igp => 0,
            Self::Egp => 1,
            Self::Incomplete => 2,
        }
    }
}

/// A route's next hop: the NEXT_HOP attribute, or the next hop field of
/// MP_REACH_NLRI (RFC 4760 §3; RFC 2545 §3 for the link-local address;
/// RFC 8950 for IPv6 next hops of IPv4 routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// An IPv4 next hop.
    V4(Ipv4Addr),
    /// An IPv6 next hop, with the sender's link-local address when it shares
    /// a link with us.
    V6 {
        /// Global (or unique local) address.
        global: Ipv6Addr,
        /// Link-local address, if sent.
        link_local: Option<Ipv6Addr>,
    },
}

/// The AGGREGATOR attribute (RFC 4271 §5.1.7), ASN widened to four octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The aggregating speaker's ASN.
    pub asn: u32,
    /// Its BGP Identifier.
    pub address: Ipv4Addr,
}

/// An unrecognised optional transitive attribute, kept to pass along
/// (RFC 4271 §5: with the Partial bit set when re-advertised).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute Flags as received, without the Extended Length bit.
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Box<[u8]>,
}

/// Every path attribute routerd keeps for a route. Cheap to compare and hash,
/// so a RIB can intern identical sets ([`AttrInterner`]) and share one
/// `Arc<PathAttributes>` between all routes learned with it.
///
/// AS4_PATH and AS4_AGGREGATOR never appear here: the decoder merges them
/// into `as_path` and `aggregator` (RFC 6793 §4.2.3) and the encoder
/// recreates them for a 2-octet peer (§4.2.2). MP_REACH_NLRI and
/// MP_UNREACH_NLRI are not attributes of a route but carriers of NLRI; their
/// next hop lands in `next_hop`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    /// ORIGIN; `None` only when a received UPDATE lacked it (then it is
    /// treat-as-withdraw and never reaches a RIB).
    pub origin: Option<Origin>,
    /// AS_PATH (empty for routes originated inside the AS).
    pub as_path: AsPath,
    /// The next hop: NEXT_HOP for classic IPv4 NLRI, the MP_REACH_NLRI next
    /// hop otherwise (see [`crate::wire::Update::attrs_for`]).
    pub next_hop: Option<NextHop>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (internal peers only).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997), in received order.
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub ext_communities: Vec<ExtCommunity>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// Unrecognised optional transitive attributes.
    pub unknown: Vec<RawAttribute>,
}

impl PathAttributes {
    /// A copy with another next hop: what a route learned through
    /// MP_REACH_NLRI carries.
    pub fn with_next_hop(&self, next_hop: NextHop) -> Self {
        PathAttributes {
            next_hop: Some(next_hop),
            ..self.clone()
        }
    }

    /// True if the COMMUNITIES attribute lists `c`.
    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }
}
