//! NOTIFICATION messages (RFC 4271 §4.5, §6): error codes and subcodes by
//! their RFC names, the data kept as received.

use std::fmt;

use super::header;
use super::types::{MAX_MESSAGE_LEN, MessageType};

macro_rules! subcodes {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A subcode this list does not name (kept so it can be logged and re-sent).
            Other(u8),
        }

        impl $name {
            /// The subcode for its wire value.
            pub fn from_u8(v: u8) -> Self {
                match v {
                    $($val => Self::$var,)*
                    other => Self::Other(other),
                }
            }

            /// The wire value.
            pub fn to_u8(self) -> u8 {
                match self {
                    $(Self::$var => $val,)*
                    Self::Other(other) => other,
                }
            }
        }
    };
}

subcodes! {
    /// Message Header Error subcodes (RFC 4271 §6.1).
    HeaderSubcode {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Connection Not Synchronized (the marker is not all ones).
        ConnectionNotSynchronized = 1,
        /// 2: Bad Message Length; data is the length field.
        BadMessageLength = 2,
        /// 3: Bad Message Type; data is the type field.
        BadMessageType = 3,
    }
}

subcodes! {
    /// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492, RFC 9234).
    OpenSubcode {
        /// 0: a recognised optional parameter is malformed.
        Unspecific = 0,
        /// 1: Unsupported Version Number; data is the largest version we speak.
        UnsupportedVersionNumber = 1,
        /// 2: Bad Peer AS.
        BadPeerAs = 2,
        /// 3: Bad BGP Identifier.
        BadBgpIdentifier = 3,
        /// 4: Unsupported Optional Parameter.
        UnsupportedOptionalParameter = 4,
        /// 6: Unacceptable Hold Time.
        UnacceptableHoldTime = 6,
        /// 7: Unsupported Capability (RFC 5492 §5); data lists the capabilities.
        UnsupportedCapability = 7,
        /// 11: Role Mismatch (RFC 9234).
        RoleMismatch = 11,
    }
}

subcodes! {
    /// UPDATE Message Error subcodes (RFC 4271 §6.3).
    UpdateSubcode {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Malformed Attribute List.
        MalformedAttributeList = 1,
        /// 2: Unrecognized Well-known Attribute.
        UnrecognizedWellKnownAttribute = 2,
        /// 3: Missing Well-known Attribute; data is the attribute type code.
        MissingWellKnownAttribute = 3,
        /// 4: Attribute Flags Error.
        AttributeFlagsError = 4,
        /// 5: Attribute Length Error.
        AttributeLengthError = 5,
        /// 6: Invalid ORIGIN Attribute.
        InvalidOriginAttribute = 6,
        /// 8: Invalid NEXT_HOP Attribute.
        InvalidNextHopAttribute = 8,
        /// 9: Optional Attribute Error.
        OptionalAttributeError = 9,
        /// 10: Invalid Network Field.
        InvalidNetworkField = 10,
        /// 11: Malformed AS_PATH.
        MalformedAsPath = 11,
    }
}

subcodes! {
    /// Finite State Machine Error subcodes (RFC 6608).
    FsmSubcode {
        /// 0: Unspecified Error.
        Unspecific = 0,
        /// 1: Receive Unexpected Message in OpenSent State.
        UnexpectedInOpenSent = 1,
        /// 2: Receive Unexpected Message in OpenConfirm State.
        UnexpectedInOpenConfirm = 2,
        /// 3: Receive Unexpected Message in Established State.
        UnexpectedInEstablished = 3,
    }
}

subcodes! {
    /// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
    CeaseSubcode {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Maximum Number of Prefixes Reached.
        MaximumPrefixesReached = 1,
        /// 2: Administrative Shutdown (may carry an RFC 9003 message).
        AdministrativeShutdown = 2,
        /// 3: Peer De-configured.
        PeerDeconfigured = 3,
        /// 4: Administrative Reset (may carry an RFC 9003 message).
        AdministrativeReset = 4,
        /// 5: Connection Rejected.
        ConnectionRejected = 5,
        /// 6: Other Configuration Change.
        OtherConfigurationChange = 6,
        /// 7: Connection Collision Resolution.
        ConnectionCollisionResolution = 7,
        /// 8: Out of Resources.
        OutOfResources = 8,
        /// 9: Hard Reset (RFC 8538).
        HardReset = 9,
        /// 10: BFD Down (RFC 9384).
        BfdDown = 10,
    }
}

subcodes! {
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
    RouteRefreshSubcode {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Invalid Message Length.
        InvalidMessageLength = 1,
    }
}

/// A NOTIFICATION's error code with its subcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(HeaderSubcode),
    /// 2: OPEN Message Error.
    Open(OpenSubcode),
    /// 3: UPDATE Message Error.
    Update(UpdateSubcode),
    /// 4: Hold Timer Expired (the subcode is 0 in practice).
    HoldTimerExpired(u8),
    /// 5: Finite State Machine Error.
    Fsm(FsmSubcode),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh(RouteRefreshSubcode),
    /// A code this list does not name.
    Other {
        /// The error code.
        code: u8,
        /// The subcode.
        subcode: u8,
    },
}

impl ErrorCode {
    /// The code for the wire's code and subcode octets.
    pub fn from_wire(code: u8, subcode: u8) -> Self {
        match code {
            1 => Self::MessageHeader(HeaderSubcode::from_u8(subcode)),
            2 => Self::Open(OpenSubcode::from_u8(subcode)),
            3 => Self::Update(UpdateSubcode::from_u8(subcode)),
            4 => Self::HoldTimerExpired(subcode),
            5 => Self::Fsm(FsmSubcode::from_u8(subcode)),
            6 => Self::Cease(CeaseSubcode::from_u8(subcode)),
            7 => Self::RouteRefresh(RouteRefreshSubcode::from_u8(subcode)),
            code => Self::Other { code, subcode },
        }
    }

    /// The wire's (code, subcode) octets.
    pub fn to_wire(self) -> (u8, u8) {
        match self {
            Self::MessageHeader(s) => (1, s.to_u8()),
            Self::Open(s) => (2, s.to_u8()),
            Self::Update(s) => (3, s.to_u8()),
            Self::HoldTimerExpired(s) => (4, s),
            Self::Fsm(s) => (5, s.to_u8()),
            Self::Cease(s) => (6, s.to_u8()),
            Self::RouteRefresh(s) => (7, s.to_u8()),
            Self::Other { code, subcode } => (code, subcode),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MessageHeader(s) => write!(f, "Message Header Error / {s:?}"),
            Self::Open(s) => write!(f, "OPEN Message Error / {s:?}"),
            Self::Update(s) => write!(f, "UPDATE Message Error / {s:?}"),
            Self::HoldTimerExpired(_) => f.write_str("Hold Timer Expired"),
            Self::Fsm(s) => write!(f, "Finite State Machine Error / {s:?}"),
            Self::Cease(s) => write!(f, "Cease / {s:?}"),
            Self::RouteRefresh(s) => write!(f, "ROUTE-REFRESH Message Error / {s:?}"),
            Self::Other { code, subcode } => write!(f, "error code {code} subcode {subcode}"),
        }
    }
}

/// A NOTIFICATION: what went wrong, and the data the RFC says to attach.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code and subcode.
    pub code: ErrorCode,
    /// The Data field, as received or as the RFC prescribes for `code`.
    pub data: Vec<u8>,
}

/// Fixed part of a NOTIFICATION after the header: code and subcode.
const FIXED_LEN: usize = 2;
/// RFC 9003 §2: a Shutdown Communication is at most 255 octets of UTF-8.
const MAX_SHUTDOWN_MESSAGE: usize = 255;

impl Notification {
    /// A NOTIFICATION with no data.
    pub fn new(code: ErrorCode) -> Self {
        Notification {
            code,
            data: Vec::new(),
        }
    }

    /// A NOTIFICATION with a Data field.
    pub fn with_data(code: ErrorCode, data: impl Into<Vec<u8>>) -> Self {
        Notification {
            code,
            data: data.into(),
        }
    }

    /// A Cease with an RFC 9003 Shutdown Communication (meaningful for
    /// Administrative Shutdown and Administrative Reset), cut at a character
    /// boundary to the 255 octets the length octet can say.
    pub fn cease_with_message(subcode: CeaseSubcode, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = Vec::with_capacity(end + 1);
        // `end` is at most 255 by the `min` above.
        data.push(u8::try_from(end).unwrap_or(u8::MAX));
        data.extend_from_slice(&message.as_bytes()[..end]);
        Notification::with_data(ErrorCode::Cease(subcode), data)
    }

    /// The RFC 9003 Shutdown Communication of an Administrative Shutdown or
    /// Reset, if the data holds a well-formed one.
    pub fn shutdown_message(&self) -> Option<&str> {
        if !matches!(
            self.code,
            ErrorCode::Cease(
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
            )
        ) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let msg = rest.get(..usize::from(len))?;
        std::str::from_utf8(msg).ok()
    }

    /// Decodes a NOTIFICATION body (the bytes after the header). The framer
    /// has already checked the two fixed octets are there; a shorter body
    /// reads as `None`. A NOTIFICATION is never answered with another one
    /// (RFC 4271 §6.4), so there is no error to map.
    pub fn decode(body: &[u8]) -> Option<Self> {
        let (&code, rest) = body.split_first()?;
        let (&subcode, data) = rest.split_first()?;
        Some(Notification {
            code: ErrorCode::from_wire(code, subcode),
            data: data.to_vec(),
        })
    }

    /// Appends the whole message (header included) to `out`. The data is cut
    /// so the message never exceeds 4096 octets: a NOTIFICATION may be sent
    /// before extended messages are negotiated.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = header::begin(out, MessageType::Notification);
        let (code, subcode) = self.code.to_wire();
        out.push(code);
        out.push(subcode);
        let room = MAX_MESSAGE_LEN - super::types::HEADER_LEN - FIXED_LEN;
        out.extend_from_slice(&self.data[..self.data.len().min(room)]);
        header::finish(out, start);
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(msg) = self.shutdown_message() {
            write!(f, " ({msg:?})")?;
        } else if !self.data.is_empty() {
            write!(f, " ({} octets of data)", self.data.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: [u8; 16] = [0xff; 16];

    #[test]
    fn hold_timer_expired_is_byte_exact() {
        let mut out = Vec::new();
        Notification::new(ErrorCode::HoldTimerExpired(0)).encode(&mut out);
        let mut want = MARKER.to_vec();
        want.extend_from_slice(&[0x00, 0x15, 0x03, 0x04, 0x00]);
        assert_eq!(out, want);
        assert_eq!(
            Notification::decode(&out[19..]),
            Some(Notification::new(ErrorCode::HoldTimerExpired(0)))
        );
    }

    #[test]
    fn bad_peer_as_and_update_errors_map_both_ways() {
        for (code, sub, want) in [
            (2, 2, ErrorCode::Open(OpenSubcode::BadPeerAs)),
            (2, 6, ErrorCode::Open(OpenSubcode::UnacceptableHoldTime)),
            (3, 11, ErrorCode::Update(UpdateSubcode::MalformedAsPath)),
            (
                3,
                1,
                ErrorCode::Update(UpdateSubcode::MalformedAttributeList),
            ),
            (
                1,
                3,
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageType),
            ),
            (5, 3, ErrorCode::Fsm(FsmSubcode::UnexpectedInEstablished)),
            (6, 10, ErrorCode::Cease(CeaseSubcode::BfdDown)),
            (
                7,
                1,
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
            ),
            (3, 7, ErrorCode::Update(UpdateSubcode::Other(7))),
            (
                9,
                9,
                ErrorCode::Other {
                    code: 9,
                    subcode: 9,
                },
            ),
        ] {
            let c = ErrorCode::from_wire(code, sub);
            assert_eq!(c, want);
            assert_eq!(c.to_wire(), (code, sub));
        }
    }

    #[test]
    fn shutdown_communication_rfc9003() {
        let n =
            Notification::cease_with_message(CeaseSubcode::AdministrativeShutdown, "maintenance");
        let mut out = Vec::new();
        n.encode(&mut out);
        let mut want = MARKER.to_vec();
        want.extend_from_slice(&[0x00, 0x21, 0x03, 0x06, 0x02, 11]);
        want.extend_from_slice(b"maintenance");
        assert_eq!(out, want);
        let back = Notification::decode(&out[19..]).expect("decodes");
        assert_eq!(back.shutdown_message(), Some("maintenance"));
        // Long messages are cut at a character boundary within 255 octets.
        let long = "é".repeat(200);
        let n = Notification::cease_with_message(CeaseSubcode::AdministrativeReset, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.shutdown_message().map(str::len), Some(254));
        // A length octet larger than the data is not a message.
        let bad = Notification::with_data(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            vec![9, b'a'],
        );
        assert_eq!(bad.shutdown_message(), None);
    }

    #[test]
    fn oversized_data_is_cut_to_4096() {
        let n = Notification::with_data(
            ErrorCode::Update(UpdateSubcode::Unspecific),
            vec![7; 10_000],
        );
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(out.len(), 4096);
        assert_eq!(&out[16..18], &[0x10, 0x00]);
    }
}
