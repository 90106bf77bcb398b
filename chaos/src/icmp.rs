//! ICMP and ICMPv6 echo messages as the prober sends and matches them. Pure.
//!
//! The payload carries a magic tag and the full 64-bit sequence number, so a
//! reply is matched on identifier and payload, never on the 16-bit wire
//! sequence alone (which wraps after 11 minutes at a 10 ms cadence).

/// Tags our payloads so replies to other programs' pings are ignored.
const MAGIC: [u8; 4] = *b"rdpr";
/// Payload: magic, sequence number.
const PAYLOAD_LEN: usize = 12;
const HEADER_LEN: usize = 8;

/// The address family of an echo exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// ICMP over IPv4 (echo request 8, reply 0).
    V4,
    /// ICMPv6 (echo request 128, reply 129).
    V6,
}

impl Family {
    fn request_type(self) -> u8 {
        match self {
            Family::V4 => 8,
            Family::V6 => 128,
        }
    }

    fn reply_type(self) -> u8 {
        match self {
            Family::V4 => 0,
            Family::V6 => 129,
        }
    }
}

/// Builds an echo request. For IPv4 the checksum is filled in; for ICMPv6 the
/// kernel computes it on raw sockets (it covers a pseudo-header we do not see).
pub fn echo_request(family: Family, id: u16, seq: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER_LEN + PAYLOAD_LEN);
    p.push(family.request_type());
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&((seq & 0xffff) as u16).to_be_bytes());
    p.extend_from_slice(&MAGIC);
    p.extend_from_slice(&seq.to_be_bytes());
    if family == Family::V4 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The sequence number of one of our echo replies with identifier `id`, or
/// `None` for anything else. IPv4 raw sockets hand over the IP header too;
/// ICMPv6 raw sockets do not.
pub fn parse_echo_reply(family: Family, id: u16, packet: &[u8]) -> Option<u64> {
    let icmp = match family {
        Family::V4 => {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            packet.get(ihl..)?
        }
        Family::V6 => packet,
    };
    if icmp.len() < HEADER_LEN + PAYLOAD_LEN || icmp[0] != family.reply_type() || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != id || icmp[8..12] != MAGIC {
        return None;
    }
    let seq: [u8; 8] = icmp[12..20].try_into().ok()?;
    let seq = u64::from_be_bytes(seq);
    // The wire sequence must agree with the payload: a corrupted reply is no reply.
    (u16::from_be_bytes([icmp[6], icmp[7]]) == (seq & 0xffff) as u16).then_some(seq)
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns our request into the reply a host would send (type changed, checksum not checked).
    fn as_reply(family: Family, mut req: Vec<u8>) -> Vec<u8> {
        req[0] = family.reply_type();
        req
    }

    #[test]
    fn v4_request_checksums_to_zero() {
        let p = echo_request(Family::V4, 0x1234, 70_000);
        assert_eq!(p[0], 8);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[6..8], &((70_000u64 & 0xffff) as u16).to_be_bytes());
    }

    #[test]
    fn v4_reply_is_matched_behind_the_ip_header() {
        let mut pkt = vec![0x45u8];
        pkt.extend_from_slice(&[0; 19]);
        pkt.extend(as_reply(Family::V4, echo_request(Family::V4, 7, 123_456)));
        assert_eq!(parse_echo_reply(Family::V4, 7, &pkt), Some(123_456));
        assert_eq!(parse_echo_reply(Family::V4, 8, &pkt), None);
    }

    #[test]
    fn v6_reply_is_matched_and_requests_are_not_replies() {
        let req = echo_request(Family::V6, 9, 5);
        assert_eq!(req[0], 128);
        assert_eq!(parse_echo_reply(Family::V6, 9, &req), None);
        assert_eq!(
            parse_echo_reply(Family::V6, 9, &as_reply(Family::V6, req)),
            Some(5)
        );
    }

    #[test]
    fn foreign_and_short_packets_are_ignored() {
        // Someone else's ping: same id by chance, no magic.
        let mut other = as_reply(Family::V6, echo_request(Family::V6, 9, 5));
        other[8] = b'x';
        assert_eq!(parse_echo_reply(Family::V6, 9, &other), None);
        assert_eq!(parse_echo_reply(Family::V6, 9, &[129, 0, 0]), None);
        assert_eq!(parse_echo_reply(Family::V4, 9, &[]), None);
        assert_eq!(parse_echo_reply(Family::V4, 9, &[0x4f, 1, 2]), None);
    }
}
