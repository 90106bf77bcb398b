//! The fixed message header (RFC 4271 §4.1) and its checks (§6.1).

use thiserror::Error;

use super::notification::{ErrorCode, HeaderSubcode, Notification};
use super::types::{HEADER_LEN, MAX_MESSAGE_LEN, MessageType};

/// Minimum lengths per type, header included (RFC 4271 §4.2–4.5, RFC 2918 §3).
const MIN_OPEN: usize = 29;
const MIN_UPDATE: usize = 23;
const MIN_NOTIFICATION: usize = 21;
const MIN_ROUTE_REFRESH: usize = 23;

/// A header the FSM must answer with a Message Header Error NOTIFICATION.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    /// The marker is not all ones.
    #[error("marker is not all ones: connection not synchronized")]
    NotSynchronized,
    /// The length is outside 19..=max, or impossible for the message type.
    #[error("bad message length {len}")]
    BadLength {
        /// The header's length field.
        len: u16,
    },
    /// The type is not one routerd knows.
    #[error("bad message type {0}")]
    BadType(u8),
}

impl HeaderError {
    /// The NOTIFICATION RFC 4271 §6.1 prescribes, data included.
    pub fn notification(&self) -> Notification {
        match *self {
            Self::NotSynchronized => Notification::new(ErrorCode::MessageHeader(
                HeaderSubcode::ConnectionNotSynchronized,
            )),
            Self::BadLength { len } => Notification::with_data(
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
                len.to_be_bytes(),
            ),
            Self::BadType(t) => Notification::with_data(
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageType),
                [t],
            ),
        }
    }
}

/// Checks a header and returns the message type and total length. `max_len`
/// is 4096, or 65535 once this side advertised RFC 8654 extended messages;
/// OPEN and KEEPALIVE stay within 4096 either way (RFC 8654 §4).
pub(crate) fn check(
    hdr: &[u8; HEADER_LEN],
    max_len: usize,
) -> Result<(MessageType, usize), HeaderError> {
    if hdr[..16].iter().any(|&b| b != 0xff) {
        return Err(HeaderError::NotSynchronized);
    }
    let len16 = u16::from_be_bytes([hdr[16], hdr[17]]);
    let len = usize::from(len16);
    let bad = HeaderError::BadLength { len: len16 };
    if !(HEADER_LEN..=max_len).contains(&len) {
        return Err(bad);
    }
    let kind = MessageType::from_u8(hdr[18]).ok_or(HeaderError::BadType(hdr[18]))?;
    let ok = match kind {
        MessageType::Open => (MIN_OPEN..=MAX_MESSAGE_LEN).contains(&len),
        MessageType::Update => len >= MIN_UPDATE,
        MessageType::Notification => len >= MIN_NOTIFICATION,
        MessageType::Keepalive => len == HEADER_LEN,
        MessageType::RouteRefresh => len >= MIN_ROUTE_REFRESH,
    };
    if ok { Ok((kind, len)) } else { Err(bad) }
}

/// Starts a message in `out`: marker, a length placeholder, the type.
/// Returns where it starts, for [`finish`].
pub(crate) fn begin(out: &mut Vec<u8>, kind: MessageType) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0]);
    out.push(kind.to_u8());
    start
}

/// Writes the length of the message that starts at `start`. Encoders keep
/// every message within 65535 octets, so the cast cannot lose anything.
pub(crate) fn finish(out: &mut [u8], start: usize) {
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(len: u16, t: u8) -> [u8; HEADER_LEN] {
        let mut h = [0xff; HEADER_LEN];
        h[16..18].copy_from_slice(&len.to_be_bytes());
        h[18] = t;
        h
    }

    #[test]
    fn limits_per_type() {
        assert_eq!(check(&hdr(19, 4), 4096), Ok((MessageType::Keepalive, 19)));
        assert_eq!(
            check(&hdr(20, 4), 4096),
            Err(HeaderError::BadLength { len: 20 })
        );
        assert_eq!(
            check(&hdr(18, 4), 4096),
            Err(HeaderError::BadLength { len: 18 })
        );
        assert_eq!(
            check(&hdr(28, 1), 4096),
            Err(HeaderError::BadLength { len: 28 })
        );
        assert_eq!(check(&hdr(29, 1), 4096), Ok((MessageType::Open, 29)));
        assert_eq!(
            check(&hdr(22, 2), 4096),
            Err(HeaderError::BadLength { len: 22 })
        );
        assert_eq!(
            check(&hdr(20, 3), 4096),
            Err(HeaderError::BadLength { len: 20 })
        );
        assert_eq!(
            check(&hdr(22, 5), 4096),
            Err(HeaderError::BadLength { len: 22 })
        );
        assert_eq!(check(&hdr(4096, 2), 4096), Ok((MessageType::Update, 4096)));
        assert_eq!(
            check(&hdr(4097, 2), 4096),
            Err(HeaderError::BadLength { len: 4097 })
        );
        // RFC 8654: extended UPDATEs only when negotiated, never an extended OPEN.
        assert_eq!(check(&hdr(4097, 2), 65535), Ok((MessageType::Update, 4097)));
        assert_eq!(
            check(&hdr(4097, 1), 65535),
            Err(HeaderError::BadLength { len: 4097 })
        );
        assert_eq!(check(&hdr(19, 6), 4096), Err(HeaderError::BadType(6)));
        let mut h = hdr(19, 4);
        h[3] = 0;
        assert_eq!(check(&h, 4096), Err(HeaderError::NotSynchronized));
    }

    #[test]
    fn notifications_carry_the_offending_field() {
        let n = HeaderError::BadLength { len: 4097 }.notification();
        assert_eq!(n.code.to_wire(), (1, 2));
        assert_eq!(n.data, vec![0x10, 0x01]);
        let n = HeaderError::BadType(9).notification();
        assert_eq!(n.code.to_wire(), (1, 3));
        assert_eq!(n.data, vec![9]);
        assert_eq!(
            HeaderError::NotSynchronized.notification().code.to_wire(),
            (1, 1)
        );
    }
}
