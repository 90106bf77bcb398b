//! ICMP and ICMPv6 echo (RFC 792, RFC 4443 §4) on raw sockets.
//!
//! Raw rather than "ping" sockets: unprivileged ICMP sockets are off by default
//! in new network namespaces (`net.ipv4.ping_group_range`), and we run as root.
//! A raw socket sees every echo reply the host receives, so replies are matched
//! on identifier, sequence and a per-probe payload nonce, and the socket is
//! connected so the kernel drops packets from other sources.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use socket2::{SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use super::{ProbeResult, ProbeSuccess, Resolved, bound_socket, random_u64, with_context};

const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const ICMP_HEADER_LEN: usize = 8;
const IPPROTO_ICMP: u8 = 1;
/// Room for an IPv4 header with options plus our small echo; larger packets
/// are not ours anyway.
const RECV_BUF_LEN: usize = 1500;

/// What identifies our echo among all the replies a raw socket sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoKey {
    /// ICMP identifier.
    pub id: u16,
    /// ICMP sequence number.
    pub seq: u16,
    /// Payload we expect echoed back unchanged.
    pub payload: Vec<u8>,
}

/// RFC 1071 Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above leaves at most 16 bits.
    !(sum as u16)
}

/// An echo request. The IPv4 checksum is filled in; for IPv6 it is left zero
/// because the kernel computes it over the pseudo-header (RFC 3542 §3.1).
pub fn build_echo_request(v6: bool, key: &EchoKey) -> Vec<u8> {
    let kind = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    let mut packet = Vec::with_capacity(ICMP_HEADER_LEN + key.payload.len());
    packet.extend_from_slice(&[kind, 0, 0, 0]);
    packet.extend_from_slice(&key.id.to_be_bytes());
    packet.extend_from_slice(&key.seq.to_be_bytes());
    packet.extend_from_slice(&key.payload);
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// Whether `message` (an ICMP message, no IP header) is the echo reply to `key`.
fn is_reply_to(message: &[u8], reply_type: u8, key: &EchoKey) -> bool {
    message.len() >= ICMP_HEADER_LEN
        && message[0] == reply_type
        && message[1] == 0
        && u16::from_be_bytes([message[4], message[5]]) == key.id
        && u16::from_be_bytes([message[6], message[7]]) == key.seq
        && message[ICMP_HEADER_LEN..] == key.payload[..]
}

/// Whether an IPv4 raw-socket datagram (IP header included) is the echo
/// reply to `key` from `from`, with a valid ICMP checksum.
pub fn is_echo_reply_v4(datagram: &[u8], from: Ipv4Addr, key: &EchoKey) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || datagram.len() < header_len + ICMP_HEADER_LEN {
        return false;
    }
    let total_len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let end = total_len.clamp(header_len, datagram.len());
    let source = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    let message = &datagram[header_len..end];
    datagram[9] == IPPROTO_ICMP
        && source == from
        && checksum(message) == 0
        && is_reply_to(message, ECHO_REPLY_V4, key)
}

/// Whether an ICMPv6 raw-socket datagram (no IP header; the kernel has
/// verified the checksum) is the echo reply to `key`.
pub fn is_echo_reply_v6(message: &[u8], key: &EchoKey) -> bool {
    is_reply_to(message, ECHO_REPLY_V6, key)
}

/// A fresh identifier, sequence and payload nonce for one probe.
fn next_key() -> EchoKey {
    // One identifier per process; sequence numbers count probes.
    static ID: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    static SEQ: AtomicU16 = AtomicU16::new(0);
    let id = *ID.get_or_init(|| (random_u64() & 0xffff) as u16);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut payload = b"routerd-hc".to_vec();
    payload.extend_from_slice(&random_u64().to_be_bytes());
    EchoKey { id, seq, payload }
}

/// Sends one echo request and waits for its reply until `timeout`.
pub async fn probe(target: &Resolved, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    match tokio::time::timeout(timeout, exchange(target, &next_key())).await {
        Ok(Ok(())) => Ok(ProbeSuccess::new(start.elapsed(), None)),
        Ok(Err(e)) => Err(format!("echo to {target}: {e}")),
        Err(_) => Err(format!("no echo reply from {target} within {timeout:?}")),
    }
}

async fn exchange(target: &Resolved, key: &EchoKey) -> io::Result<()> {
    let v6 = target.addr.is_ipv6();
    let protocol = if v6 {
        socket2::Protocol::ICMPV6
    } else {
        socket2::Protocol::ICMPV4
    };
    let socket = bound_socket(target, Type::RAW, protocol)
        .map_err(|e| with_context(e, "open raw ICMP socket"))?;
    socket.connect(&SockAddr::from(target.socket_addr()))?;
    // SAFETY: `Socket` owns its descriptor and closes it only on drop, and the
    // AsyncFd owns the `Socket`, so the descriptor stays open and the same for
    // the AsyncFd's whole life.
    let fd = unsafe { AsyncFd::register(socket) }?;
    let request = build_echo_request(v6, key);
    loop {
        let mut guard = fd.writable().await?;
        match guard.try_io(|s| s.get_ref().send(&request)) {
            Ok(sent) => {
                sent?;
                break;
            }
            Err(_would_block) => continue,
        }
    }
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        let mut guard = fd.readable().await?;
        let len = match guard.try_io(|s| read(s.get_ref(), &mut buf)) {
            Ok(read) => read?,
            Err(_would_block) => continue,
        };
        let datagram = &buf[..len];
        let matched = match target.addr {
            IpAddr::V4(from) => is_echo_reply_v4(datagram, from, key),
            IpAddr::V6(_) => is_echo_reply_v6(datagram, key),
        };
        if matched {
            return Ok(());
        }
    }
}

fn read(mut socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    socket.read(buf)
}

#[cfg(test)]
#[path = "icmp_tests.rs"]
mod tests;
