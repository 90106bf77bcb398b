//! Numbers shared by every message: message types, address families, limits.

use std::fmt;

/// Length of the fixed message header: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;
/// Largest message without RFC 8654 extended messages (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once RFC 8654 extended messages are negotiated.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// The placeholder 2-octet AS a 4-octet speaker uses for a non-mappable
/// ASN in 2-octet fields (RFC 6793 §2).
pub const AS_TRANS: u32 = 23456;
/// The only BGP version routerd speaks.
pub const BGP_VERSION: u8 = 4;

/// The message types of RFC 4271 §4.1 and RFC 2918.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// OPEN (1).
    Open,
    /// UPDATE (2).
    Update,
    /// NOTIFICATION (3).
    Notification,
    /// KEEPALIVE (4).
    Keepalive,
    /// ROUTE-REFRESH (5, RFC 2918).
    RouteRefresh,
}

impl MessageType {
    /// The type for a header's type octet, if it is one routerd knows.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }

    /// The header's type octet.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Update => 2,
            Self::Notification => 3,
            Self::Keepalive => 4,
            Self::RouteRefresh => 5,
        }
    }
}

/// An Address Family Identifier (IANA "Address Family Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4 (1).
    pub const IPV4: Afi = Afi(1);
    /// IPv6 (2).
    pub const IPV6: Afi = Afi(2);
}

/// A Subsequent Address Family Identifier (RFC 4760 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast forwarding (1).
    pub const UNICAST: Safi = Safi(1);
    /// Multicast RPF (2).
    pub const MULTICAST: Safi = Safi(2);
}

/// An AFI/SAFI pair: what a capability, an MP attribute or a ROUTE-REFRESH
/// talks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AfiSafi {
    /// The address family.
    pub afi: Afi,
    /// The subsequent address family.
    pub safi: Safi,
}

impl AfiSafi {
    /// IPv4 unicast (1/1).
    pub const IPV4_UNICAST: AfiSafi = AfiSafi::new(Afi::IPV4, Safi::UNICAST);
    /// IPv6 unicast (2/1).
    pub const IPV6_UNICAST: AfiSafi = AfiSafi::new(Afi::IPV6, Safi::UNICAST);

    /// The pair.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        AfiSafi { afi, safi }
    }
}

impl fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Self::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            AfiSafi { afi, safi } => write!(f, "afi {} safi {}", afi.0, safi.0),
        }
    }
}

/// What the codec needs to know about the session: the outcome of the OPEN
/// exchange ([`crate::wire::Negotiated::params`]) and which side the peer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and
    /// AGGREGATOR carry 4-octet ASNs; otherwise AS4_PATH/AS4_AGGREGATOR apply.
    pub four_octet_as: bool,
    /// The peer is an external (eBGP) neighbour: LOCAL_PREF, ORIGINATOR_ID and
    /// CLUSTER_LIST from it are discarded (RFC 7606 §7.5, §7.9, §7.10) and
    /// AS_CONFED segments are malformed (RFC 5065 §5).
    pub external: bool,
    /// RFC 8950 extended next hop negotiated for IPv4 unicast: IPv4 NLRI may
    /// come (and go) in MP_REACH_NLRI with an IPv6 next hop.
    pub ipv4_extended_next_hop: bool,
    /// Largest message this side may send: 4096, or 65535 once the peer
    /// advertised RFC 8654 extended messages.
    pub max_send_len: usize,
}

impl SessionParams {
    /// Parameters for a peer with no optional extensions beyond 4-octet ASNs.
    pub fn new(four_octet_as: bool, external: bool) -> Self {
        SessionParams {
            four_octet_as,
            external,
            ipv4_extended_next_hop: false,
            max_send_len: MAX_MESSAGE_LEN,
        }
    }
}
