//! Why a received BFD packet was not accepted: decoding errors and the drop
//! reasons that sessions and the UDP edge count.

use serde::Serialize;

use crate::packet::State;

/// Why bytes are not an acceptable BFD Control packet (RFC 5880 4.1 and the
/// session-independent checks of 6.8.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the 24-octet mandatory section.
    #[error("truncated BFD packet: {len} bytes")]
    Truncated {
        /// Octets received.
        len: usize,
    },
    /// The version field is not 1.
    #[error("unsupported BFD version {0}")]
    Version(u8),
    /// The Length field is below the minimum (24, or 26 with the A bit) or
    /// claims more octets than the datagram holds.
    #[error("BFD length field {length} is invalid for a {received}-byte datagram")]
    Length {
        /// The Length field.
        length: u8,
        /// Octets received.
        received: usize,
    },
    /// Detect Mult is zero.
    #[error("BFD detect multiplier is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set (reserved for future point-to-multipoint use).
    #[error("BFD multipoint bit is set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("BFD My Discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the sender says Init or Up.
    #[error("BFD Your Discriminator is zero in state {}", .0.as_str())]
    ZeroYourDiscriminator(State),
    /// The authentication section is cut short.
    #[error("truncated BFD authentication section")]
    AuthTruncated,
    /// The Auth Len does not fit the packet or the authentication type.
    #[error("BFD authentication type {auth_type} with invalid length {len}")]
    AuthLength {
        /// The Auth Type field.
        auth_type: u8,
        /// The Auth Len field.
        len: usize,
    },
    /// An Auth Type that RFC 5880 does not define.
    #[error("unknown BFD authentication type {0}")]
    UnknownAuthType(u8),
}

impl ParseError {
    /// The drop counter this error is counted under.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            ParseError::Truncated { .. } | ParseError::Length { .. } => DropReason::Length,
            ParseError::Version(_) => DropReason::Version,
            ParseError::ZeroDetectMult => DropReason::ZeroDetectMult,
            ParseError::Multipoint => DropReason::Multipoint,
            ParseError::ZeroMyDiscriminator => DropReason::ZeroMyDiscriminator,
            ParseError::ZeroYourDiscriminator(_) => DropReason::ZeroYourDiscriminator,
            ParseError::AuthTruncated
            | ParseError::AuthLength { .. }
            | ParseError::UnknownAuthType(_) => DropReason::AuthMalformed,
        }
    }
}

/// Every reason a received packet is dropped. The UDP edge counts the ones it
/// decides (TTL, decoding, demultiplexing), a session the ones that need its
/// state (discriminator, authentication, AdminDown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DropReason {
    /// TTL / hop limit was not 255 (RFC 5881 5, GTSM).
    Ttl,
    /// Truncated, or the Length field is invalid.
    Length,
    /// Version other than 1.
    Version,
    /// Detect Mult of zero.
    ZeroDetectMult,
    /// Multipoint bit set.
    Multipoint,
    /// My Discriminator of zero.
    ZeroMyDiscriminator,
    /// Your Discriminator of zero in Init or Up.
    ZeroYourDiscriminator,
    /// A malformed authentication section or an unknown Auth Type.
    AuthMalformed,
    /// Your Discriminator names no session here, or no session matches the
    /// source address and interface (6.3).
    NoSession,
    /// Your Discriminator names a session on another interface or peer.
    WrongPeer,
    /// Your Discriminator is not this session's (a demultiplexing error).
    DiscriminatorMismatch,
    /// A bit set but the session uses no authentication (6.8.6).
    AuthUnexpected,
    /// A bit clear but the session requires authentication (6.8.6).
    AuthMissing,
    /// Keyed MD5/SHA1: parsed, but this implementation cannot verify it (6.7).
    AuthUnsupported,
    /// Wrong Auth Type, key id or password.
    AuthFailed,
    /// The session is AdminDown: every packet is discarded (6.8.6).
    AdminDown,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 16] = [
        DropReason::Ttl,
        DropReason::Length,
        DropReason::Version,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::ZeroMyDiscriminator,
        DropReason::ZeroYourDiscriminator,
        DropReason::AuthMalformed,
        DropReason::NoSession,
        DropReason::WrongPeer,
        DropReason::DiscriminatorMismatch,
        DropReason::AuthUnexpected,
        DropReason::AuthMissing,
        DropReason::AuthUnsupported,
        DropReason::AuthFailed,
        DropReason::AdminDown,
    ];

    /// The reason's name in status and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Ttl => "ttl",
            DropReason::Length => "length",
            DropReason::Version => "version",
            DropReason::ZeroDetectMult => "zeroDetectMult",
            DropReason::Multipoint => "multipoint",
            DropReason::ZeroMyDiscriminator => "zeroMyDiscriminator",
            DropReason::ZeroYourDiscriminator => "zeroYourDiscriminator",
            DropReason::AuthMalformed => "authMalformed",
            DropReason::NoSession => "noSession",
            DropReason::WrongPeer => "wrongPeer",
            DropReason::DiscriminatorMismatch => "discriminatorMismatch",
            DropReason::AuthUnexpected => "authUnexpected",
            DropReason::AuthMissing => "authMissing",
            DropReason::AuthUnsupported => "authUnsupported",
            DropReason::AuthFailed => "authFailed",
            DropReason::AdminDown => "adminDown",
        }
    }
}

/// Packets dropped, per reason.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl std::fmt::Debug for DropCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.nonzero().map(|(r, n)| (r.as_str(), n)))
            .finish()
    }
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        let slot = &mut self.0[reason as usize];
        *slot = slot.saturating_add(1);
    }

    /// Packets dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Packets dropped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Every reason with a nonzero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Serialize for DropCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (reason, n) in self.nonzero() {
            map.serialize_entry(reason.as_str(), &n)?;
        }
        map.end()
    }
}
