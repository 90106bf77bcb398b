//! IPv4 and UDP headers around a DHCP message, for a client that reads its
//! replies from a packet socket (before it has an address, the kernel's
//! UDP stack may drop them: see the daemon's socket notes).
//!
//! Only what a receiver needs: the header checksum is checked (it is always
//! complete on the wire), fragments are refused (DHCP replies are never
//! fragmented in practice, and reassembly is not worth its attack surface),
//! and the UDP checksum is not checked — a packet socket on the same host
//! as the sender sees it before the checksum is filled in (checksum
//! offload), and DHCP has no integrity beyond the link's own anyway.

use std::net::Ipv4Addr;

use thiserror::Error;

/// A UDP datagram carried in an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// IP source.
    pub source: Ipv4Addr,
    /// IP destination.
    pub destination: Ipv4Addr,
    /// UDP source port.
    pub source_port: u16,
    /// UDP destination port.
    pub destination_port: u16,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Why a packet is not a usable UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Shorter than its headers say.
    #[error("truncated packet")]
    Truncated,
    /// Not IPv4, or a header length below 20 bytes.
    #[error("not an IPv4 header")]
    NotIpv4,
    /// The IPv4 header checksum is wrong.
    #[error("bad IPv4 header checksum")]
    Checksum,
    /// A fragment.
    #[error("fragmented packet")]
    Fragment,
    /// Not UDP.
    #[error("not UDP (protocol {0})")]
    NotUdp(u8),
}

/// The one's-complement sum of 16-bit words (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// The UDP datagram in an IPv4 packet (starting at the IP header).
pub fn udp_in_ipv4(packet: &[u8]) -> Result<Datagram<'_>, FrameError> {
    let first = *packet.first().ok_or(FrameError::Truncated)?;
    if first >> 4 != 4 {
        return Err(FrameError::NotIpv4);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return Err(FrameError::NotIpv4);
    }
    let header = packet.get(..ihl).ok_or(FrameError::Truncated)?;
    if checksum(header) != 0 {
        return Err(FrameError::Checksum);
    }
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    // Ethernet may pad a short frame: the IP total length says where it ends.
    let packet = packet.get(..total).ok_or(FrameError::Truncated)?;
    let fragment = u16::from_be_bytes([header[6], header[7]]);
    if fragment & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if header[9] != 17 {
        return Err(FrameError::NotUdp(header[9]));
    }
    let udp = packet.get(ihl..).ok_or(FrameError::Truncated)?;
    let (head, _) = udp.split_first_chunk::<8>().ok_or(FrameError::Truncated)?;
    let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
    if len < 8 {
        return Err(FrameError::Truncated);
    }
    let payload = udp.get(8..len).ok_or(FrameError::Truncated)?;
    let addr =
        |at: usize| Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
    Ok(Datagram {
        source: addr(12),
        destination: addr(16),
        source_port: u16::from_be_bytes([head[0], head[1]]),
        destination_port: u16::from_be_bytes([head[2], head[3]]),
        payload,
    })
}

/// Wraps `payload` in IPv4 and UDP headers (no options, UDP checksum 0):
/// for tests and tools that play the server side.
pub fn ipv4_udp(source: (Ipv4Addr, u16), destination: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(payload.len() + 8).unwrap_or(u16::MAX);
    let total = udp_len.saturating_add(20);
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source.0.octets());
    p.extend_from_slice(&destination.0.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&source.1.to_be_bytes());
    p.extend_from_slice(&destination.1.to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 1), 67);
    const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(255, 255, 255, 255), 68);

    #[test]
    fn a_datagram_is_unwrapped_with_its_addresses_and_ports() {
        let p = ipv4_udp(SERVER, CLIENT, b"hello");
        let d = udp_in_ipv4(&p).expect("parses");
        assert_eq!((d.source, d.source_port), SERVER);
        assert_eq!((d.destination, d.destination_port), CLIENT);
        assert_eq!(d.payload, b"hello");
        // Ethernet padding after the packet is not payload.
        let mut padded = p.clone();
        padded.extend([0u8; 20]);
        assert_eq!(udp_in_ipv4(&padded).map(|d| d.payload), Ok(&b"hello"[..]));
    }

    #[test]
    fn broken_headers_are_refused() {
        let p = ipv4_udp(SERVER, CLIENT, b"hello");
        let mut bad_sum = p.clone();
        bad_sum[12] ^= 1;
        assert_eq!(udp_in_ipv4(&bad_sum), Err(FrameError::Checksum));
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(udp_in_ipv4(&v6), Err(FrameError::NotIpv4));
        assert_eq!(udp_in_ipv4(&p[..p.len() - 1]), Err(FrameError::Truncated));
        // A UDP length past the packet.
        let mut long = p.clone();
        long[24..26].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(udp_in_ipv4(&long), Err(FrameError::Truncated));
        for n in 0..p.len() {
            assert!(udp_in_ipv4(&p[..n]).is_err());
        }
    }

    #[test]
    fn fragments_and_other_protocols_are_refused() {
        let refix = |mut p: Vec<u8>| {
            p[10..12].copy_from_slice(&[0, 0]);
            let sum = checksum(&p[..20]);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            p
        };
        let mut more = ipv4_udp(SERVER, CLIENT, b"x");
        more[6] = 0x20;
        assert_eq!(udp_in_ipv4(&refix(more)), Err(FrameError::Fragment));
        let mut tcp = ipv4_udp(SERVER, CLIENT, b"x");
        tcp[9] = 6;
        assert_eq!(udp_in_ipv4(&refix(tcp)), Err(FrameError::NotUdp(6)));
    }
}
