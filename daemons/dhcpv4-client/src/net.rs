//! The client's sockets and what it reads about its interface.
//!
//! Two sockets, and why:
//! - **Sending**: a UDP socket on 0.0.0.0:68, bound to the interface
//!   (SO_BINDTODEVICE) with SO_BROADCAST. Before the client has an address
//!   the kernel sends from 0.0.0.0 to 255.255.255.255 out of that
//!   interface; a RENEWING REQUEST goes unicast to the server from the
//!   leased address, which routerd will have installed (if it has not, the
//!   send fails, is counted, and the client carries on to REBINDING, which
//!   is broadcast). The socket also keeps port 68 bound, so replies that
//!   reach the UDP layer do not draw ICMP port-unreachable; what it
//!   receives is drained and dropped.
//! - **Receiving**: an AF_PACKET socket (SOCK_DGRAM, ETH_P_IP) with a
//!   classic BPF filter for UDP to port 68. Before the client has an
//!   address, a server's reply is not reliably delivered to a UDP socket:
//!   with reverse-path filtering on (systemd's default is loose mode, 2),
//!   a reply from a server the host has no route to yet is dropped as a
//!   martian before any socket sees it; a strict input firewall drops it
//!   too. The packet socket sees the frame first. It also receives
//!   unicast replies to `yiaddr`, so the BROADCAST flag is not needed
//!   (RFC 2131 §4.1 asks for it only from clients that cannot receive
//!   unicast before they have an address). Needs CAP_NET_RAW, which a
//!   daemon that binds port 68 and a device has anyway (it runs as root).

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::Context;
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;

/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;

const ETH_P_IP: u16 = 0x0800;

/// The interface's index.
pub fn if_index(name: &str) -> anyhow::Result<u32> {
    let c = std::ffi::CString::new(name).context("interface name has a NUL byte")?;
    // SAFETY: if_nametoindex reads the NUL-terminated string we own.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        anyhow::bail!("no interface named {name}");
    }
    Ok(index)
}

/// The interface's Ethernet address, from sysfs.
pub fn mac_of(name: &str) -> anyhow::Result<[u8; 6]> {
    let path = format!("/sys/class/net/{name}/address");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_mac(&text)
        .ok_or_else(|| anyhow::anyhow!("{name} has no Ethernet address ({})", text.trim()))
}

/// `aa:bb:cc:dd:ee:ff` to bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let bytes: Option<Vec<u8>> = parts
        .iter()
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    <[u8; 6]>::try_from(bytes?.as_slice()).ok()
}

/// What the interface looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No such interface.
    Missing,
    /// It exists but is down, or has no carrier.
    Down,
    /// Up with carrier (or a link type that reports none).
    Up,
}

/// Reads the link state from sysfs (`flags` and `operstate`).
pub fn link_state(name: &str) -> LinkState {
    let base = format!("/sys/class/net/{name}");
    let Ok(flags) = std::fs::read_to_string(format!("{base}/flags")) else {
        return LinkState::Missing;
    };
    let operstate = std::fs::read_to_string(format!("{base}/operstate")).unwrap_or_default();
    link_state_from(&flags, &operstate)
}

/// The rule behind [`link_state`]: IFF_UP set, and an operational state of
/// `up` (or `unknown`, which links without carrier reporting show).
pub fn link_state_from(flags: &str, operstate: &str) -> LinkState {
    const IFF_UP: u32 = 0x1;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    let oper = operstate.trim();
    if flags & IFF_UP != 0 && (oper == "up" || oper == "unknown") {
        LinkState::Up
    } else {
        LinkState::Down
    }
}

/// The sending socket (see the module documentation).
pub fn send_socket(interface: &str) -> anyhow::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot open a UDP socket")?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(interface.as_bytes()))
        .with_context(|| format!("cannot bind to device {interface}"))?;
    s.set_nonblocking(true)?;
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT);
    s.bind(&addr.into())
        .with_context(|| format!("cannot bind UDP port {CLIENT_PORT} on {interface}"))?;
    UdpSocket::from_std(s.into()).context("cannot register the UDP socket")
}

/// Classic BPF over the IP header (SOCK_DGRAM packet sockets see the frame
/// from the network header on): UDP, not a later fragment, destination
/// port 68. Everything else never wakes the daemon.
fn filter() -> [SockFilter; 9] {
    const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const LDH_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LDH_IND: u16 = 0x48; // BPF_LD | BPF_H | BPF_IND
    const LDXB_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    [
        SockFilter::new(LDB_ABS, 0, 0, 9),   // 0: A = protocol
        SockFilter::new(JEQ, 0, 6, 17),      // 1: UDP? else drop
        SockFilter::new(LDH_ABS, 0, 0, 6),   // 2: A = flags/fragment offset
        SockFilter::new(JSET, 4, 0, 0x1fff), // 3: later fragment? drop
        SockFilter::new(LDXB_MSH, 0, 0, 0),  // 4: X = IP header length
        SockFilter::new(LDH_IND, 0, 0, 2),   // 5: A = UDP destination port
        SockFilter::new(JEQ, 0, 1, u32::from(CLIENT_PORT)), // 6: port 68?
        SockFilter::new(RET, 0, 0, 0x0004_0000), // 7: keep (whole packet)
        SockFilter::new(RET, 0, 0, 0),       // 8: drop
    ]
}

/// The receiving packet socket (see the module documentation).
pub struct PacketSocket {
    fd: AsyncFd<Socket>,
}

/// Packet types a packet socket reports (`sll_pkttype`) that are not ours.
const PACKET_OTHERHOST: u8 = 3;
const PACKET_OUTGOING: u8 = 4;

impl PacketSocket {
    /// Opens it on interface `ifindex`. Created with protocol 0, so nothing
    /// is queued until the filter is in place and the bind names ETH_P_IP.
    pub fn open(ifindex: u32) -> anyhow::Result<PacketSocket> {
        let s = Socket::new(Domain::PACKET, Type::DGRAM, None)
            .context("cannot open a packet socket (CAP_NET_RAW?)")?;
        s.attach_filter(&filter())
            .context("cannot attach the packet filter")?;
        s.set_nonblocking(true)?;
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: sockaddr_ll is one of the platform's sockaddr types and
        // fits in sockaddr_storage (view_as checks the size).
        let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
        ll.sll_family = u16::try_from(libc::AF_PACKET).unwrap_or_default();
        ll.sll_protocol = ETH_P_IP.to_be();
        ll.sll_ifindex = i32::try_from(ifindex).context("interface index out of range")?;
        let len = u32::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(0);
        // SAFETY: the storage holds an initialised sockaddr_ll of `len` bytes.
        let addr = unsafe { SockAddr::new(storage, len) };
        s.bind(&addr)
            .with_context(|| format!("cannot bind the packet socket to interface {ifindex}"))?;
        // SAFETY: the Socket owns its fd, which stays open and the same
        // until the AsyncFd (which owns the Socket) is dropped.
        let fd = unsafe { AsyncFd::register(s) }.context("cannot register the packet socket")?;
        Ok(PacketSocket { fd })
    }

    /// The next IPv4 packet for this host (from its IP header on), into
    /// `buf`; frames for other hosts and our own outgoing ones are skipped.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_ll(fd.get_ref(), buf)) {
                Ok(Ok((_, PACKET_OTHERHOST | PACKET_OUTGOING))) => continue,
                Ok(Ok((n, _))) => return Ok(n),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_ll(s: &Socket, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    // SAFETY: an all-zero sockaddr_ll is a valid value.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(0);
    // SAFETY: buf and from are valid for writes of the lengths given; the
    // kernel writes at most that much and reports the lengths it used.
    let n = unsafe {
        libc::recvfrom(
            s.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut from as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((usize::try_from(n).unwrap_or(0), from.sll_pkttype))
}

/// How long the client waits for its interface before the first message.
pub const LINK_WAIT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_read_and_junk_is_refused() {
        assert_eq!(parse_mac("02:00:0a:0B:00:01\n"), Some([2, 0, 10, 11, 0, 1]));
        assert_eq!(parse_mac("00:00:00:00"), None);
        assert_eq!(parse_mac("zz:00:00:00:00:00"), None);
        assert_eq!(parse_mac(""), None);
    }

    #[test]
    fn a_link_is_up_with_iff_up_and_an_up_or_unknown_operstate() {
        assert_eq!(link_state_from("0x1003\n", "up\n"), LinkState::Up);
        assert_eq!(link_state_from("0x1091", "unknown"), LinkState::Up);
        assert_eq!(link_state_from("0x1002", "down"), LinkState::Down);
        assert_eq!(link_state_from("0x1003", "lowerlayerdown"), LinkState::Down);
        assert_eq!(link_state("no-such-if0"), LinkState::Missing);
    }
}
