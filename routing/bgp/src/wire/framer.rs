//! Splits a TCP byte stream into BGP messages.
//!
//! Bytes go in as they arrive, in chunks of any size; complete messages come
//! out as slices of the framer's own buffer, so a message is never copied
//! again on its way to the decoder. The buffer keeps at most one partial
//! message between reads and is reused for the whole session.

use super::header::{self, HeaderError};
use super::message::{DecodeError, Message};
use super::types::{HEADER_LEN, MAX_MESSAGE_LEN, MessageType, SessionParams};

/// How much [`Framer::read_from`] asks the socket for at a time: sixteen
/// full-size UPDATEs, so a burst is drained with few system calls.
const READ_CHUNK: usize = 64 * 1024;

/// The stream framer: see the module documentation.
#[derive(Debug)]
pub struct Framer {
    /// Initialised storage; `start..end` holds unread bytes.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_len: usize,
    failed: Option<HeaderError>,
}

/// One complete message, borrowed from the framer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    kind: MessageType,
    raw: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Wraps one complete message (header included) after checking its header
    /// as the framer would; for tests and for messages read by other means.
    pub fn parse(raw: &'a [u8], max_len: usize) -> Result<Self, HeaderError> {
        let hdr: &[u8; HEADER_LEN] = raw.first_chunk().ok_or(HeaderError::BadLength {
            len: u16::try_from(raw.len()).unwrap_or(u16::MAX),
        })?;
        let (kind, len) = header::check(hdr, max_len)?;
        if len != raw.len() {
            return Err(HeaderError::BadLength {
                len: u16::from_be_bytes([hdr[16], hdr[17]]),
            });
        }
        Ok(Frame { kind, raw })
    }

    /// The message type.
    pub fn kind(&self) -> MessageType {
        self.kind
    }

    /// The whole message, header included (what a NOTIFICATION's data or a
    /// log line may need).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message after the 19-octet header.
    pub fn body(&self) -> &'a [u8] {
        &self.raw[HEADER_LEN..]
    }

    /// Decodes the message; UPDATEs need the session's parameters.
    pub fn decode(&self, params: &SessionParams) -> Result<Message<'a>, DecodeError> {
        Message::decode_frame(self, params)
    }
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer accepting messages up to 4096 octets.
    pub fn new() -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max_len: MAX_MESSAGE_LEN,
            failed: None,
        }
    }

    /// Raises (or lowers) the accepted length: 65535 once this side has
    /// advertised RFC 8654 extended messages.
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len.clamp(HEADER_LEN, super::types::MAX_EXTENDED_MESSAGE_LEN);
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.end += data.len();
    }

    /// Storage for at least `min` more bytes, to read into directly (for
    /// example with tokio's `AsyncReadExt::read`); then call [`Framer::commit`].
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        self.compact();
        if self.buf.len() - self.end < min {
            self.buf.resize(self.end + min, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of [`Framer::spare`] as received.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Reads once from a blocking reader into the buffer. Returns what
    /// `read` returned (0 at end of stream).
    pub fn read_from(&mut self, reader: &mut impl std::io::Read) -> std::io::Result<usize> {
        let n = reader.read(self.spare(READ_CHUNK))?;
        self.commit(n);
        Ok(n)
    }

    /// The next complete message, `Ok(None)` if more bytes are needed, or the
    /// header error the FSM must answer with a NOTIFICATION. After an error the
    /// stream cannot be resynchronised, so the same error comes back.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, HeaderError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let avail = &self.buf[self.start..self.end];
        let Some(hdr) = avail.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (kind, len) = match header::check(hdr, self.max_len) {
            Ok(v) => v,
            Err(e) => {
                self.failed = Some(e);
                return Err(e);
            }
        };
        if avail.len() < len {
            return Ok(None);
        }
        let raw = &self.buf[self.start..self.start + len];
        self.start += len;
        Ok(Some(Frame { kind, raw }))
    }

    /// Moves a partial message to the front so the buffer never grows beyond
    /// one read plus one message.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, 19, 4]);
        v
    }

    #[test]
    fn messages_split_across_any_chunking() {
        let mut stream = Vec::new();
        for _ in 0..5 {
            stream.extend(keepalive());
        }
        for chunk in 1..=stream.len() {
            let mut f = Framer::new();
            let mut seen = 0;
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(frame) = f.next_frame().expect("valid") {
                    assert_eq!(frame.kind(), MessageType::Keepalive);
                    assert_eq!(frame.raw().len(), 19);
                    seen += 1;
                }
            }
            assert_eq!(seen, 5, "chunk size {chunk}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn header_errors_stick() {
        let mut f = Framer::new();
        let mut bad = keepalive();
        bad[0] = 0;
        f.push(&bad);
        assert_eq!(f.next_frame(), Err(HeaderError::NotSynchronized));
        f.push(&keepalive());
        assert_eq!(f.next_frame(), Err(HeaderError::NotSynchronized));
    }

    #[test]
    fn extended_length_needs_negotiation() {
        let mut msg = vec![0xff; 16];
        msg.extend_from_slice(&5000u16.to_be_bytes());
        msg.push(2);
        msg.extend_from_slice(&[0, 0, 0, 0]);
        msg.resize(5000, 0);
        let mut f = Framer::new();
        f.push(&msg);
        assert_eq!(f.next_frame(), Err(HeaderError::BadLength { len: 5000 }));
        let mut f = Framer::new();
        f.set_max_len(65535);
        f.push(&msg);
        assert_eq!(
            f.next_frame().expect("ok").map(|m| m.raw().len()),
            Some(5000)
        );
    }

    #[test]
    fn read_from_a_reader() {
        let mut stream = keepalive();
        stream.extend(keepalive());
        let mut cursor = std::io::Cursor::new(stream);
        let mut f = Framer::new();
        assert_eq!(f.read_from(&mut cursor).expect("read"), 38);
        assert!(f.next_frame().expect("ok").is_some());
        assert!(f.next_frame().expect("ok").is_some());
        assert!(f.next_frame().expect("ok").is_none());
        assert_eq!(f.read_from(&mut cursor).expect("read"), 0);
    }
}
