//! The VRRP ADVERTISEMENT on the wire: VRRPv3 (RFC 9568 5.2) over IPv4 and IPv6,
//! and VRRPv2 (RFC 3768 5.3) over IPv4 with authentication types 0 and 1.
//!
//! Decoding never panics: every index is checked, and every malformed input is a
//! [`ParseError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP (RFC 9568 5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (RFC 9568 5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit every advertisement is sent with and must arrive with.
pub const REQUIRED_TTL: u8 = 255;
/// Length of the VRRPv2 authentication data field.
pub const AUTH_LEN: usize = 8;

const HEADER_LEN: usize = 8;
const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// RFC 3768 (IPv4 only, interval in seconds, optional simple password).
    V2,
    /// RFC 9568 (IPv4 and IPv6, interval in centiseconds).
    V3,
}

impl Version {
    /// The version number on the wire.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// VRRPv2 authentication (RFC 3768 5.3.6); VRRPv3 has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// Type 0.
    #[default]
    None,
    /// Type 1: up to 8 bytes of clear text, zero padded (keepalived's `auth_type PASS`).
    Simple([u8; AUTH_LEN]),
    /// Any other type (2 was IP AH, deprecated); never accepted.
    Other(u8),
}

impl Auth {
    /// A simple text password, truncated to 8 bytes as keepalived does.
    pub fn simple(password: &str) -> Auth {
        let mut data = [0u8; AUTH_LEN];
        for (d, s) in data.iter_mut().zip(password.as_bytes()) {
            *d = *s;
        }
        Auth::Simple(data)
    }

    fn type_code(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Simple(_) => 1,
            Auth::Other(t) => *t,
        }
    }
}

/// One decoded ADVERTISEMENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id.
    pub vrid: u8,
    /// Sender's priority (0: the master is leaving; 255: address owner).
    pub priority: u8,
    /// Advertisement interval in centiseconds: v3's 12-bit field, or v2's seconds × 100.
    pub interval_cs: u16,
    /// The virtual addresses, all of the packet's family.
    pub addresses: Vec<IpAddr>,
    /// VRRPv2 authentication; always `None` for v3.
    pub auth: Auth,
}

impl Advert {
    /// Encodes the advertisement with its checksum; `src` and `dst` are the IP
    /// addresses it will be sent between (v3 checksums cover a pseudo-header).
    /// Addresses of another family than `src` are left out; an interval too large
    /// for the field is clamped (config validation keeps that from happening).
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let addrs: Vec<&IpAddr> = self
            .addresses
            .iter()
            .filter(|a| a.is_ipv4() == src.is_ipv4())
            .take(usize::from(u8::MAX))
            .collect();
        let mut out = Vec::with_capacity(HEADER_LEN + addrs.len() * 16 + AUTH_LEN);
        out.push((self.version.number() << 4) | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(u8::try_from(addrs.len()).unwrap_or(u8::MAX));
        match self.version {
            Version::V3 => {
                let interval = self.interval_cs.min(0x0fff);
                out.extend_from_slice(&interval.to_be_bytes());
            }
            Version::V2 => {
                out.push(self.auth.type_code());
                out.push(
                    u8::try_from(self.interval_cs / 100)
                        .unwrap_or(u8::MAX)
                        .max(1),
                );
            }
        }
        out.extend_from_slice(&[0, 0]);
        for a in &addrs {
            match a {
                IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
            }
        }
        if self.version == Version::V2 {
            match &self.auth {
                Auth::Simple(data) => out.extend_from_slice(data),
                _ => out.extend_from_slice(&[0; AUTH_LEN]),
            }
        }
        let sum = checksum(self.version, src, dst, &out);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        out
    }

    /// Decodes and checksums `bytes` received from `src` to `dst`.
    pub fn decode(bytes: &[u8], src: IpAddr, dst: IpAddr) -> Result<Advert, ParseError> {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(ParseError::Family);
        }
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or(ParseError::Truncated { len: bytes.len() })?;
        let version = match header[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(ParseError::BadVersion(v)),
        };
        let kind = header[0] & 0x0f;
        if kind != TYPE_ADVERTISEMENT {
            return Err(ParseError::BadType(kind));
        }
        if version == Version::V2 && !src.is_ipv4() {
            return Err(ParseError::Family);
        }
        let count = header[3];
        let addr_len = if src.is_ipv4() { 4 } else { 16 };
        let auth_len = if version == Version::V2 { AUTH_LEN } else { 0 };
        let expected = HEADER_LEN + usize::from(count) * addr_len + auth_len;
        if bytes.len() != expected {
            return Err(ParseError::CountMismatch {
                count,
                len: bytes.len(),
            });
        }
        if checksum(version, src, dst, bytes) != 0 {
            return Err(ParseError::BadChecksum);
        }
        let (interval_cs, auth) = match version {
            Version::V3 => (
                u16::from_be_bytes([header[4], header[5]]) & 0x0fff,
                Auth::None,
            ),
            Version::V2 => {
                let auth = match header[4] {
                    0 => Auth::None,
                    1 => {
                        let mut data = [0u8; AUTH_LEN];
                        data.copy_from_slice(&bytes[expected - AUTH_LEN..expected]);
                        Auth::Simple(data)
                    }
                    t => Auth::Other(t),
                };
                (u16::from(header[5]) * 100, auth)
            }
        };
        if interval_cs == 0 {
            return Err(ParseError::ZeroInterval);
        }
        let body = &bytes[HEADER_LEN..expected - auth_len];
        let addresses = body
            .chunks_exact(addr_len)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(v6))
                }
            })
            .collect();
        Ok(Advert {
            version,
            vrid: header[1],
            priority: header[2],
            interval_cs,
            addresses,
            auth,
        })
    }
}

/// The Internet checksum of a VRRP message: v2 over the message alone, v3 with the
/// IPv4 or IPv6 pseudo-header (RFC 9568 5.2.8). Over a message whose checksum field
/// is filled in, a correct checksum yields 0.
pub fn checksum(version: Version, src: IpAddr, dst: IpAddr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    if version == Version::V3 {
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                sum = add_bytes(sum, &s.octets());
                sum = add_bytes(sum, &d.octets());
                sum += u32::from(IPPROTO_VRRP);
                sum += len & 0xffff;
            }
            (s, d) => {
                sum = add_bytes(sum, &v6_octets(s));
                sum = add_bytes(sum, &v6_octets(d));
                sum = add_bytes(sum, &len.to_be_bytes());
                sum += u32::from(IPPROTO_VRRP);
            }
        }
    }
    sum = add_bytes(sum, msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

fn add_bytes(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        // Fold as we go so long inputs cannot overflow.
        if sum > 0xffff_0000 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
