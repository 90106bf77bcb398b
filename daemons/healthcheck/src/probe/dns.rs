//! DNS over UDP (RFC 1035 §4.1): one recursive query, judged by RCODE.
//!
//! NOERROR and NXDOMAIN both prove a working server; SERVFAIL, REFUSED and
//! the rest do not. Only the header is interpreted.

use std::io;
use std::time::Duration;

use socket2::Type;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{ProbeResult, ProbeSuccess, Resolved, bound_socket, random_u64};

const HEADER_LEN: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_RD: u16 = 0x0100;
const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const CLASS_IN: u16 = 1;
/// RFC 1035 §2.3.4: plain UDP answers fit in 512 bytes; allow EDNS-sized ones.
const RECV_BUF_LEN: usize = 4096;

/// Why a query could not be built or a response not read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name has an empty or over-long label.
    #[error("cannot encode DNS name {0:?}")]
    BadName(String),
    /// Fewer than 12 bytes.
    #[error("DNS response shorter than a header ({0} bytes)")]
    Truncated(usize),
}

/// The fields of a response header the probe looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Transaction id.
    pub id: u16,
    /// Whether this is a response.
    pub is_response: bool,
    /// OPCODE (0 = QUERY).
    pub opcode: u8,
    /// Response code.
    pub rcode: u8,
}

/// The record type the probe asks for: NS for the root, A otherwise.
pub fn query_type(name: &str) -> u16 {
    if name == "." { TYPE_NS } else { TYPE_A }
}

/// A standard query with RD set for `name`.
pub fn build_query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let mut packet = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&FLAG_RD.to_be_bytes());
    // QDCOUNT 1, ANCOUNT, NSCOUNT, ARCOUNT 0.
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    let labels = name.strip_suffix('.').unwrap_or(name);
    if !labels.is_empty() {
        for label in labels.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))
                .ok_or_else(|| DnsError::BadName(name.to_string()))?;
            packet.push(len);
            packet.extend_from_slice(label.as_bytes());
        }
    }
    packet.push(0);
    packet.extend_from_slice(&query_type(name).to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(packet)
}

/// Reads the header of a response.
pub fn parse_header(packet: &[u8]) -> Result<Header, DnsError> {
    if packet.len() < HEADER_LEN {
        return Err(DnsError::Truncated(packet.len()));
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    Ok(Header {
        id: u16::from_be_bytes([packet[0], packet[1]]),
        is_response: flags & FLAG_QR != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (flags & 0x0f) as u8,
    })
}

/// RFC 1035 §4.1.1 and RFC 6895 names for the common RCODEs.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}

/// Whether an RCODE shows a working server.
pub fn rcode_is_healthy(rcode: u8) -> bool {
    matches!(rcode, 0 | 3)
}

/// Queries `name` and judges the answer's RCODE.
pub async fn probe(target: &Resolved, name: &str, timeout: Duration) -> ProbeResult {
    let id = (random_u64() & 0xffff) as u16;
    let query = build_query(id, name).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let rcode = match tokio::time::timeout(timeout, exchange(target, &query, id)).await {
        Ok(Ok(rcode)) => rcode,
        Ok(Err(e)) => return Err(format!("query {name} at {target}: {e}")),
        Err(_) => return Err(format!("no DNS answer from {target} within {timeout:?}")),
    };
    let rtt = start.elapsed();
    if rcode_is_healthy(rcode) {
        Ok(ProbeSuccess::new(rtt, Some(rcode_name(rcode))))
    } else {
        Err(format!("query {name} at {target}: {}", rcode_name(rcode)))
    }
}

async fn exchange(target: &Resolved, query: &[u8], id: u16) -> io::Result<u8> {
    let socket = bound_socket(target, Type::DGRAM, socket2::Protocol::UDP)?;
    let socket = UdpSocket::from_std(socket.into())?;
    // Connected, so the kernel filters other sources and reports ICMP port
    // unreachable as ECONNREFUSED.
    socket.connect(target.socket_addr()).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        let len = socket.recv(&mut buf).await?;
        // Stray or forged datagrams (wrong id, not a response) are ignored.
        if let Ok(header) = parse_header(&buf[..len])
            && header.id == id
            && header.is_response
            && header.opcode == 0
        {
            return Ok(header.rcode);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_ns_query_encodes() {
        assert_eq!(
            build_query(0xbeef, ".").unwrap(),
            [
                0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1
            ]
        );
    }

    #[test]
    fn a_query_encodes_labels() {
        let q = build_query(1, "example.test.").unwrap();
        assert_eq!(&q[12..], b"\x07example\x04test\x00\x00\x01\x00\x01");
        assert_eq!(build_query(1, "example.test").unwrap(), q);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(build_query(1, "a..b").is_err());
        assert!(build_query(1, &"x".repeat(64)).is_err());
    }

    #[test]
    fn header_parses_flags() {
        // id 0xbeef, QR|RD|RA, RCODE 3 (NXDOMAIN).
        let packet = [0xbe, 0xef, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0];
        let h = parse_header(&packet).unwrap();
        assert_eq!(
            h,
            Header {
                id: 0xbeef,
                is_response: true,
                opcode: 0,
                rcode: 3
            }
        );
        assert!(rcode_is_healthy(h.rcode));
        assert_eq!(rcode_name(h.rcode), "NXDOMAIN");
    }

    #[test]
    fn rcodes_are_judged() {
        assert!(rcode_is_healthy(0));
        assert!(!rcode_is_healthy(2));
        assert!(!rcode_is_healthy(5));
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(9), "RCODE9");
        // A query (QR clear) is not mistaken for a response.
        let h = parse_header(&build_query(5, ".").unwrap()).unwrap();
        assert!(!h.is_response);
        assert_eq!(parse_header(&[0; 11]), Err(DnsError::Truncated(11)));
    }
}
