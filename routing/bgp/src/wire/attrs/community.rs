//! Communities: RFC 1997 (with the IANA well-known values), RFC 4360
//! extended (kept raw with a minimal typed view) and RFC 8092 large.

use std::fmt;
use std::net::Ipv4Addr;

/// A standard community (RFC 1997): `asn:value` in one `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT: not beyond the AS/confederation (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE: to no peer (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED: to no external peer (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// NOPEER (RFC 3765).
    pub const NOPEER: Community = Community(0xFFFF_FF04);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);

    /// `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The high half (an ASN by convention).
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low half.
    pub fn value(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The IANA name of a well-known community.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Self::NO_EXPORT => "NO_EXPORT",
            Self::NO_ADVERTISE => "NO_ADVERTISE",
            Self::NO_EXPORT_SUBCONFED => "NO_EXPORT_SUBCONFED",
            Self::NOPEER => "NOPEER",
            Self::GRACEFUL_SHUTDOWN => "GRACEFUL_SHUTDOWN",
            Self::ACCEPT_OWN => "ACCEPT_OWN",
            Self::LLGR_STALE => "LLGR_STALE",
            Self::NO_LLGR => "NO_LLGR",
            Self::BLACKHOLE => "BLACKHOLE",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.well_known_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}:{}", self.asn(), self.value()),
        }
    }
}

/// An extended community (RFC 4360 §2), kept as its eight octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtCommunity(pub [u8; 8]);

/// The typed reading of the common extended community layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtCommunityValue {
    /// Two-octet AS specific (type 0x00/0x40, RFC 4360 §3.1); sub-type 0x02
    /// is a route target, 0x03 a route origin.
    TwoOctetAs {
        /// Sub-type.
        subtype: u8,
        /// Global administrator.
        asn: u16,
        /// Local administrator.
        local: u32,
    },
    /// IPv4 address specific (type 0x01/0x41, RFC 4360 §3.2).
    Ipv4 {
        /// Sub-type.
        subtype: u8,
        /// Global administrator.
        address: Ipv4Addr,
        /// Local administrator.
        local: u16,
    },
    /// Four-octet AS specific (type 0x02/0x42, RFC 5668).
    FourOctetAs {
        /// Sub-type.
        subtype: u8,
        /// Global administrator.
        asn: u32,
        /// Local administrator.
        local: u16,
    },
    /// Anything else: an unrecognised type is not an error (RFC 7606 §7.14).
    Other([u8; 8]),
}

impl ExtCommunity {
    /// A two-octet-AS route target (RFC 4360 §4).
    pub fn route_target(asn: u16, local: u32) -> Self {
        let [a, b] = asn.to_be_bytes();
        let [c, d, e, f] = local.to_be_bytes();
        ExtCommunity([0x00, 0x02, a, b, c, d, e, f])
    }

    /// False when the Transitive bit of the type (0x40) says not transitive
    /// across ASes.
    pub fn is_transitive(self) -> bool {
        self.0[0] & 0x40 == 0
    }

    /// The typed reading.
    pub fn value(self) -> ExtCommunityValue {
        let b = self.0;
        let subtype = b[1];
        match b[0] & !0x40 {
            0x00 => ExtCommunityValue::TwoOctetAs {
                subtype,
                asn: u16::from_be_bytes([b[2], b[3]]),
                local: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            },
            0x01 => ExtCommunityValue::Ipv4 {
                subtype,
                address: Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                local: u16::from_be_bytes([b[6], b[7]]),
            },
            0x02 => ExtCommunityValue::FourOctetAs {
                subtype,
                asn: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                local: u16::from_be_bytes([b[6], b[7]]),
            },
            _ => ExtCommunityValue::Other(b),
        }
    }
}

/// A large community (RFC 8092 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global Administrator (an ASN).
    pub global: u32,
    /// Local Data Part 1.
    pub local1: u32,
    /// Local Data Part 2.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_knowns_and_display() {
        assert_eq!(Community::NO_EXPORT.to_string(), "NO_EXPORT");
        assert_eq!(Community::new(65001, 100).to_string(), "65001:100");
        assert_eq!(Community::new(65001, 100).0, 0xfde9_0064);
        assert_eq!(
            LargeCommunity {
                global: 65001,
                local1: 1,
                local2: 2
            }
            .to_string(),
            "65001:1:2"
        );
    }

    #[test]
    fn extended_typed_view() {
        let rt = ExtCommunity::route_target(65001, 7);
        assert!(rt.is_transitive());
        assert_eq!(
            rt.value(),
            ExtCommunityValue::TwoOctetAs {
                subtype: 2,
                asn: 65001,
                local: 7
            }
        );
        let v4 = ExtCommunity([0x41, 0x03, 10, 0, 0, 1, 0, 9]);
        assert!(!v4.is_transitive());
        assert_eq!(
            v4.value(),
            ExtCommunityValue::Ipv4 {
                subtype: 3,
                address: Ipv4Addr::new(10, 0, 0, 1),
                local: 9
            }
        );
        let odd = ExtCommunity([0x80, 0x06, 0, 0, 0, 0, 0, 0]);
        assert_eq!(odd.value(), ExtCommunityValue::Other(odd.0));
    }
}
