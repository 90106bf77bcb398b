//! Why a received VRRP packet was not accepted.

use serde::Serialize;

/// Why bytes could not be decoded as a VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the fixed header, or than its own address count says.
    #[error("truncated VRRP packet: {len} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// Type nibble is not 1 (ADVERTISEMENT).
    #[error("unsupported VRRP packet type {0}")]
    BadType(u8),
    /// The length does not match the address count.
    #[error("address count {count} does not match the packet length {len}")]
    CountMismatch {
        /// The count field.
        count: u8,
        /// Bytes received.
        len: usize,
    },
    /// The checksum does not verify.
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// VRRPv2 exists for IPv4 only, and source and destination must share a family.
    #[error("VRRP packet with mismatched address families")]
    Family,
    /// The advertisement interval field is zero.
    #[error("zero advertisement interval")]
    ZeroInterval,
}

/// Every reason a packet is dropped, counted per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DropReason {
    /// TTL / hop limit was not 255 (RFC 9568 7.1).
    Ttl,
    /// Checksum failed.
    Checksum,
    /// Version other than the instance's.
    Version,
    /// Type other than ADVERTISEMENT.
    Type,
    /// VRID of another virtual router (normal on a shared link; counted, not logged).
    Vrid,
    /// VRRPv2 authentication type or password mismatch.
    Auth,
    /// Shorter than the header.
    Truncated,
    /// Count field does not match the length.
    Count,
    /// VRRPv2 advertisement interval differs from ours (RFC 3768 7.1), or zero.
    Interval,
    /// Wrong address family for the instance.
    Family,
    /// Sent by this router itself (looped back) or not from a configured unicast peer.
    Source,
}

impl DropReason {
    /// Every reason, in status order.
    pub const ALL: [DropReason; 11] = [
        DropReason::Ttl,
        DropReason::Checksum,
        DropReason::Version,
        DropReason::Type,
        DropReason::Vrid,
        DropReason::Auth,
        DropReason::Truncated,
        DropReason::Count,
        DropReason::Interval,
        DropReason::Family,
        DropReason::Source,
    ];

    /// The reason's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Ttl => "ttl",
            DropReason::Checksum => "checksum",
            DropReason::Version => "version",
            DropReason::Type => "type",
            DropReason::Vrid => "vrid",
            DropReason::Auth => "auth",
            DropReason::Truncated => "truncated",
            DropReason::Count => "count",
            DropReason::Interval => "interval",
            DropReason::Family => "family",
            DropReason::Source => "source",
        }
    }
}

impl From<&ParseError> for DropReason {
    fn from(e: &ParseError) -> Self {
        match e {
            ParseError::Truncated { .. } => DropReason::Truncated,
            ParseError::BadVersion(_) => DropReason::Version,
            ParseError::BadType(_) => DropReason::Type,
            ParseError::CountMismatch { .. } => DropReason::Count,
            ParseError::BadChecksum => DropReason::Checksum,
            ParseError::Family => DropReason::Family,
            ParseError::ZeroInterval => DropReason::Interval,
        }
    }
}
