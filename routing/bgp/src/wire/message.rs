//! Messages as a whole: decode dispatch and KEEPALIVE.

use thiserror::Error;

use super::framer::Frame;
use super::header::{self, HeaderError};
use super::notification::Notification;
use super::open::{Open, OpenError};
use super::route_refresh::{RouteRefresh, RouteRefreshError};
use super::types::{MessageType, SessionParams};
use super::update::{Update, UpdateError};

/// A decoded message. UPDATEs borrow the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a Message lives briefly on the stack, once per received message; boxing the UPDATE would cost an allocation each"
)]
pub enum Message<'a> {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update<'a>),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

/// A message that cannot be accepted; [`DecodeError::notification`] says
/// what to send back.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// A bad header (RFC 4271 §6.1).
    #[error("message header: {0}")]
    Header(#[from] HeaderError),
    /// A bad OPEN (§6.2).
    #[error("OPEN: {0}")]
    Open(#[from] OpenError),
    /// An UPDATE that resets the session (§6.3, RFC 7606).
    #[error("{0}")]
    Update(#[from] UpdateError),
    /// A BoRR/EoRR of the wrong length (RFC 7313 §5).
    #[error("ROUTE-REFRESH: {0}")]
    RouteRefresh(#[from] RouteRefreshError),
    /// A NOTIFICATION too short to read; never answered (RFC 4271 §6.4).
    #[error("NOTIFICATION shorter than its code and subcode")]
    ShortNotification,
}

impl DecodeError {
    /// The NOTIFICATION to send, if any.
    pub fn notification(&self) -> Option<Notification> {
        match self {
            Self::Header(e) => Some(e.notification()),
            Self::Open(e) => Some(e.notification()),
            Self::Update(e) => Some(e.notification.clone()),
            Self::RouteRefresh(e) => Some(e.notification()),
            Self::ShortNotification => None,
        }
    }
}

impl<'a> Message<'a> {
    /// Decodes one complete message (header included), checking its header
    /// against `max_len` first.
    pub fn decode(
        raw: &'a [u8],
        max_len: usize,
        params: &SessionParams,
    ) -> Result<Self, DecodeError> {
        let frame = Frame::parse(raw, max_len)?;
        Self::decode_frame(&frame, params)
    }

    pub(crate) fn decode_frame(
        frame: &Frame<'a>,
        params: &SessionParams,
    ) -> Result<Self, DecodeError> {
        let body = frame.body();
        Ok(match frame.kind() {
            MessageType::Open => Message::Open(Open::decode(body)?),
            MessageType::Update => Message::Update(Update::decode(body, params)?),
            MessageType::Notification => Message::Notification(
                Notification::decode(body).ok_or(DecodeError::ShortNotification)?,
            ),
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => Message::RouteRefresh(RouteRefresh::decode(frame.raw())?),
        })
    }

    /// The message type.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

/// Appends a KEEPALIVE (RFC 4271 §4.4: the header alone).
pub fn encode_keepalive(out: &mut Vec<u8>) {
    let start = header::begin(out, MessageType::Keepalive);
    header::finish(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_19_octets() {
        let mut out = Vec::new();
        encode_keepalive(&mut out);
        let mut want = vec![0xff; 16];
        want.extend_from_slice(&[0, 19, 4]);
        assert_eq!(out, want);
        let params = SessionParams::new(true, true);
        assert_eq!(Message::decode(&out, 4096, &params), Ok(Message::Keepalive));
    }
}
