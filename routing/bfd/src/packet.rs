//! The BFD Control packet (RFC 5880 section 4.1) and its authentication
//! section (4.2–4.4): decoding with every session-independent reception check
//! of section 6.8.6, and encoding. Decoding never panics: every malformed input
//! is a [`ParseError`].

use serde::Serialize;

use crate::error::ParseError;

/// The only protocol version (RFC 5880 4.1).
pub const VERSION: u8 = 1;
/// Length of the mandatory section, without authentication.
pub const HEADER_LEN: usize = 24;
/// Longest possible packet: the Length field is one octet.
pub const MAX_LEN: usize = 255;

const FLAG_POLL: u8 = 0x20;
const FLAG_FINAL: u8 = 0x10;
const FLAG_CPI: u8 = 0x08;
const FLAG_AUTH: u8 = 0x04;
const FLAG_DEMAND: u8 = 0x02;
const FLAG_MULTIPOINT: u8 = 0x01;

/// A session state as carried in the Sta field (RFC 5880 4.1, 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    /// Administratively held down: no session is wanted.
    AdminDown,
    /// Down (or just created): waiting for the peer.
    Down,
    /// The peer was heard saying Down: the three-way handshake is in progress.
    Init,
    /// The session is up.
    Up,
}

impl State {
    fn from_wire(v: u8) -> State {
        match v & 0x03 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

/// A diagnostic code (RFC 5880 4.1): why the sender's session last changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved; kept, not refused, so a newer peer is not dropped for it.
    Reserved(u8),
}

impl Diag {
    /// Decodes the five-bit field.
    pub fn from_wire(v: u8) -> Diag {
        match v & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Reserved(other),
        }
    }

    /// The five-bit field.
    pub fn to_wire(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(v) => v & 0x1f,
        }
    }

    /// The code's name in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Diag::None => "none",
            Diag::ControlDetectionTimeExpired => "controlDetectionTimeExpired",
            Diag::EchoFunctionFailed => "echoFunctionFailed",
            Diag::NeighborSignaledSessionDown => "neighborSignaledSessionDown",
            Diag::ForwardingPlaneReset => "forwardingPlaneReset",
            Diag::PathDown => "pathDown",
            Diag::ConcatenatedPathDown => "concatenatedPathDown",
            Diag::AdministrativelyDown => "administrativelyDown",
            Diag::ReverseConcatenatedPathDown => "reverseConcatenatedPathDown",
            Diag::Reserved(_) => "reserved",
        }
    }
}

/// Authentication types (RFC 5880 4.1 Auth Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AuthType {
    /// 1: Simple Password.
    SimplePassword,
    /// 2: Keyed MD5.
    KeyedMd5,
    /// 3: Meticulous Keyed MD5.
    MeticulousKeyedMd5,
    /// 4: Keyed SHA1.
    KeyedSha1,
    /// 5: Meticulous Keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    fn from_wire(v: u8) -> Option<AuthType> {
        Some(match v {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            _ => return None,
        })
    }

    fn to_wire(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }
}

/// The authentication section of a received or sent packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Simple Password (RFC 5880 4.2): a key id and 1–16 octets of password.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password, 1 to 16 octets.
        password: Vec<u8>,
    },
    /// Keyed or Meticulous Keyed MD5 (4.3), parsed but not verified here.
    KeyedMd5 {
        /// Type 3 rather than 2.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Keyed or Meticulous Keyed SHA1 (4.4), parsed but not verified here.
    KeyedSha1 {
        /// Type 5 rather than 4.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
}

impl Auth {
    /// The section's Auth Type.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Auth::SimplePassword { .. } => AuthType::SimplePassword,
            Auth::KeyedMd5 {
                meticulous: false, ..
            } => AuthType::KeyedMd5,
            Auth::KeyedMd5 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedMd5,
            Auth::KeyedSha1 {
                meticulous: false, ..
            } => AuthType::KeyedSha1,
            Auth::KeyedSha1 {
                meticulous: true, ..
            } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// Decodes an authentication section (`bytes` starts at Auth Type and ends
    /// where the packet's Length says).
    fn decode(bytes: &[u8]) -> Result<Auth, ParseError> {
        let (&ty, rest) = bytes.split_first().ok_or(ParseError::AuthTruncated)?;
        let (&len, body) = rest.split_first().ok_or(ParseError::AuthTruncated)?;
        let len = usize::from(len);
        // Auth Len counts the type and length octets too, and must fit in what
        // the packet's Length left for it.
        if len < 2 || len > bytes.len() {
            return Err(ParseError::AuthLength { auth_type: ty, len });
        }
        let body = body.get(..len - 2).ok_or(ParseError::AuthTruncated)?;
        let auth_type = AuthType::from_wire(ty).ok_or(ParseError::UnknownAuthType(ty))?;
        let bad_len = ParseError::AuthLength { auth_type: ty, len };
        match auth_type {
            // 4.2: Key ID, then 1 to 16 octets of password (Auth Len 4..=19).
            AuthType::SimplePassword => {
                let (&key_id, password) = body.split_first().ok_or(bad_len.clone())?;
                if password.is_empty() || password.len() > 16 {
                    return Err(bad_len);
                }
                Ok(Auth::SimplePassword {
                    key_id,
                    password: password.to_vec(),
                })
            }
            // 4.3: Key ID, Reserved, Sequence Number, 16-octet digest (Auth Len 24).
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
                if len != 24 {
                    return Err(bad_len);
                }
                let (key_id, sequence, tail) = keyed_fields(body).ok_or(bad_len.clone())?;
                let digest = tail.try_into().map_err(|_| bad_len)?;
                Ok(Auth::KeyedMd5 {
                    meticulous: auth_type == AuthType::MeticulousKeyedMd5,
                    key_id,
                    sequence,
                    digest,
                })
            }
            // 4.4: Key ID, Reserved, Sequence Number, 20-octet hash (Auth Len 28).
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
                if len != 28 {
                    return Err(bad_len);
                }
                let (key_id, sequence, tail) = keyed_fields(body).ok_or(bad_len.clone())?;
                let hash = tail.try_into().map_err(|_| bad_len)?;
                Ok(Auth::KeyedSha1 {
                    meticulous: auth_type == AuthType::MeticulousKeyedSha1,
                    key_id,
                    sequence,
                    hash,
                })
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.auth_type().to_wire());
        match self {
            Auth::SimplePassword { key_id, password } => {
                // Config validation keeps passwords at 1..=16 octets; clamp anyway
                // so a hand-built value cannot produce an inconsistent length.
                let pw = &password[..password.len().min(16)];
                out.push(3 + pw.len() as u8);
                out.push(*key_id);
                out.extend_from_slice(pw);
            }
            Auth::KeyedMd5 {
                key_id,
                sequence,
                digest,
                ..
            } => {
                out.extend_from_slice(&[24, *key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(digest);
            }
            Auth::KeyedSha1 {
                key_id,
                sequence,
                hash,
                ..
            } => {
                out.extend_from_slice(&[28, *key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(hash);
            }
        }
    }
}

/// Key ID, (reserved), Sequence Number and the rest of a keyed section body.
fn keyed_fields(body: &[u8]) -> Option<(u8, u32, &[u8])> {
    let key_id = *body.first()?;
    let seq = body.get(2..6)?;
    let sequence = u32::from_be_bytes(seq.try_into().ok()?);
    Some((key_id, sequence, body.get(6..)?))
}

/// A BFD Control packet (RFC 5880 4.1). Intervals are in microseconds, as on
/// the wire. The A bit is not a field: it is set exactly when `auth` is present.
/// The M bit is not a field either: decoding refuses it and encoding never sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diag: why the sender's session last changed state.
    pub diag: Diag,
    /// Sta: the sender's session state.
    pub state: State,
    /// P: the sender asks for a parameter change acknowledgement (6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to use Demand mode.
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator: the sender's session id (never 0).
    pub my_discr: u32,
    /// Your Discriminator: the receiver's session id as the sender knows it, or 0.
    pub your_discr: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, µs (0: send me nothing).
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, µs (0: no Echo function).
    pub required_min_echo_rx_us: u32,
    /// The authentication section, when the A bit is set.
    pub auth: Option<Auth>,
}

impl ControlPacket {
    /// Decodes one packet from a UDP payload and applies the checks of RFC 5880
    /// 6.8.6 that do not depend on a session: version, length, Detect Mult,
    /// Multipoint, My Discriminator, and a zero Your Discriminator outside
    /// Down/AdminDown. Octets beyond the Length field are ignored (UDP padding).
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, ParseError> {
        let head: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(ParseError::Truncated { len: bytes.len() })?;
        let version = head[0] >> 5;
        if version != VERSION {
            return Err(ParseError::Version(version));
        }
        let flags = head[1];
        let auth_present = flags & FLAG_AUTH != 0;
        let length = usize::from(head[3]);
        // "If the A bit is clear, less than 24; if set, less than 26" (6.8.6).
        let min = if auth_present {
            HEADER_LEN + 2
        } else {
            HEADER_LEN
        };
        if length < min || length > bytes.len() {
            return Err(ParseError::Length {
                length: head[3],
                received: bytes.len(),
            });
        }
        let detect_mult = head[2];
        if detect_mult == 0 {
            return Err(ParseError::ZeroDetectMult);
        }
        if flags & FLAG_MULTIPOINT != 0 {
            return Err(ParseError::Multipoint);
        }
        let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let my_discr = word(4);
        if my_discr == 0 {
            return Err(ParseError::ZeroMyDiscriminator);
        }
        let your_discr = word(8);
        let state = State::from_wire(flags >> 6);
        if your_discr == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(ParseError::ZeroYourDiscriminator(state));
        }
        let auth = if auth_present {
            Some(Auth::decode(&bytes[HEADER_LEN..length])?)
        } else {
            None
        };
        Ok(ControlPacket {
            diag: Diag::from_wire(head[0]),
            state,
            poll: flags & FLAG_POLL != 0,
            final_: flags & FLAG_FINAL != 0,
            control_plane_independent: flags & FLAG_CPI != 0,
            demand: flags & FLAG_DEMAND != 0,
            detect_mult,
            my_discr,
            your_discr,
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
            auth,
        })
    }

    /// Encodes the packet (at most [`MAX_LEN`] octets).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 28);
        out.push((VERSION << 5) | self.diag.to_wire());
        let mut flags = self.state.to_wire() << 6;
        for (set, bit) in [
            (self.poll, FLAG_POLL),
            (self.final_, FLAG_FINAL),
            (self.control_plane_independent, FLAG_CPI),
            (self.auth.is_some(), FLAG_AUTH),
            (self.demand, FLAG_DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        out.push(flags);
        out.push(self.detect_mult);
        out.push(0); // Length, filled in below.
        for w in [
            self.my_discr,
            self.your_discr,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        if let Some(auth) = &self.auth {
            auth.encode(&mut out);
        }
        // At most 24 + 28 octets: always fits the one-octet Length.
        out[3] = out.len() as u8;
        out
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
