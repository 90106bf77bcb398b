//! RFC 5881 sockets: where single-hop BFD packets are sent from and received
//! on, with the TTL of 255 that GTSM (RFC 5881 5) relies on.
//!
//! One [`Link`] per (interface, local address): a receive socket on UDP 3784
//! and a send socket on a port from 49152–65535 (RFC 5881 4), both bound to
//! the interface with SO_BINDTODEVICE so a packet on another link can never
//! reach a session of this one. Every session on the link shares the pair;
//! the source port therefore stays the same for a session's whole life.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{
    Domain, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, SockAddrStorage, SockRef, Socket, Type,
};
use tokio::net::UdpSocket;

/// The single-hop control port (RFC 5881 4).
pub const CONTROL_PORT: u16 = 3784;
/// The source port range (RFC 5881 4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit of everything sent, and the only value accepted (RFC 5881 5).
pub const TTL: u8 = 255;
/// DSCP CS6 (network control), as BIRD and FRR mark BFD: queued ahead of bulk
/// traffic, so a congested link does not look like a dead peer.
const TOS_CS6: u32 = 0xc0;

/// The two sockets of one (interface, local address).
#[derive(Debug)]
pub struct Link {
    /// Receives on `local`:3784.
    pub rx: UdpSocket,
    /// Sends from `local`:49152–65535.
    pub tx: UdpSocket,
    /// The interface index (the scope of IPv6 link-local peers).
    pub ifindex: u32,
}

/// A received datagram with the TTL / hop limit it arrived with.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Octets received.
    pub len: usize,
    /// The sender.
    pub src: SocketAddr,
    /// IP TTL or IPv6 hop limit; None if the kernel did not report it.
    pub ttl: Option<u8>,
}

impl Link {
    /// Opens the pair for `local` on `ifname`. `port_seed` picks where the
    /// search for a free source port starts (so links spread over the range).
    pub fn open(ifname: &str, local: IpAddr, port_seed: u64) -> io::Result<Link> {
        let ifindex = ifindex(ifname)?;
        let rx = socket(ifname, local)?;
        // Receivers bound to one address and port: reuse lets another BFD
        // speaker on the host hold the wildcard address without a conflict.
        rx.set_reuse_address(true)?;
        match local {
            IpAddr::V4(_) => set_int(&rx, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?,
            IpAddr::V6(_) => rx.set_recv_hoplimit_v6(true)?,
        }
        rx.bind(&sockaddr(local, CONTROL_PORT, ifindex).into())?;

        let tx = socket(ifname, local)?;
        match local {
            IpAddr::V4(_) => {
                tx.set_ttl_v4(u32::from(TTL))?;
                tx.set_tos_v4(TOS_CS6)?;
            }
            IpAddr::V6(_) => {
                tx.set_unicast_hops_v6(u32::from(TTL))?;
                tx.set_tclass_v6(TOS_CS6)?;
            }
        }
        bind_source_port(&tx, local, ifindex, port_seed)?;
        Ok(Link {
            rx: UdpSocket::from_std(rx.into())?,
            tx: UdpSocket::from_std(tx.into())?,
            ifindex,
        })
    }
}

/// A nonblocking UDP socket for `local`'s family, bound to `ifname`. Freebind:
/// the address may still be tentative (IPv6 DAD) or about to be configured
/// when a BGP peer is set up; packets flow as soon as it is there.
fn socket(ifname: &str, local: IpAddr) -> io::Result<Socket> {
    let domain = match local {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let s = Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    match local {
        IpAddr::V4(_) => s.set_freebind_v4(true)?,
        IpAddr::V6(_) => {
            s.set_only_v6(true)?;
            s.set_freebind_v6(true)?;
        }
    }
    s.bind_device(Some(ifname.as_bytes()))?;
    Ok(s)
}

/// The destination for a peer: its address on the control port, with the
/// link's scope for IPv6 (link-local peers need it).
pub fn peer_addr(peer: IpAddr, ifindex: u32) -> SocketAddr {
    sockaddr(peer, CONTROL_PORT, ifindex)
}

fn sockaddr(ip: IpAddr, port: u16, ifindex: u32) -> SocketAddr {
    match ip {
        IpAddr::V4(_) => SocketAddr::new(ip, port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, ifindex)),
    }
}

/// Binds to the first free port in 49152–65535, starting at a seeded offset.
fn bind_source_port(s: &Socket, local: IpAddr, ifindex: u32, seed: u64) -> io::Result<()> {
    let start = *SOURCE_PORTS.start();
    let span = u64::from(*SOURCE_PORTS.end() - start) + 1;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    // A few hundred tries: enough unless the range is nearly exhausted.
    for i in 0..512u64 {
        // `span` is 16384, so the offset fits u16.
        let port = start + ((seed.wrapping_add(i)) % span) as u16;
        match s.bind(&sockaddr(local, port, ifindex).into()) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn ifindex(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the whole call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

fn set_int(
    s: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram into `buf` without blocking, with its TTL / hop limit
/// from the control messages. `WouldBlock` when nothing is queued.
pub fn recv_with_ttl(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let sref = SockRef::from(sock);
    let mut data = [MaybeUninit::new(0u8); crate::packet::MAX_LEN + 1];
    let mut control = [MaybeUninit::new(0u8); 128];
    // SAFETY: a zeroed storage is fully initialised for its whole length.
    let mut addr = unsafe {
        SockAddr::new(
            SockAddrStorage::zeroed(),
            std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        )
    };
    let mut bufs = [MaybeUninitSlice::new(&mut data)];
    let mut msg = MsgHdrMut::new()
        .with_addr(&mut addr)
        .with_buffers(&mut bufs)
        .with_control(&mut control);
    let n = sref.recvmsg(&mut msg, 0)?;
    let control_len = msg.control_len();
    let src = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP sender"))?;
    // Both buffers were initialised with zeros above and the kernel only wrote
    // into them, so reading them as plain octets is sound; copy them out once.
    let init = |b: &[MaybeUninit<u8>]| -> Vec<u8> {
        // SAFETY: every element was initialised by `MaybeUninit::new(0)`.
        b.iter().map(|x| unsafe { x.assume_init() }).collect()
    };
    let len = n.min(data.len()).min(buf.len());
    buf[..len].copy_from_slice(&init(&data[..len]));
    let ttl = ttl_from_control(&init(&control[..control_len.min(control.len())]));
    Ok(Received { len, src, ttl })
}

/// Finds IP_TTL or IPV6_HOPLIMIT among the control messages. Parsed by the
/// kernel's layout of `struct cmsghdr` (size_t length, int level, int type,
/// data aligned to size_t), without pointer arithmetic.
fn ttl_from_control(control: &[u8]) -> Option<u8> {
    const WORD: usize = std::mem::size_of::<usize>();
    let align = |n: usize| n.div_ceil(WORD) * WORD;
    let header = align(WORD + 8);
    let mut at = 0;
    while at + header <= control.len() {
        let len = usize::from_ne_bytes(control.get(at..at + WORD)?.try_into().ok()?);
        let level = i32::from_ne_bytes(control.get(at + WORD..at + WORD + 4)?.try_into().ok()?);
        let ty = i32::from_ne_bytes(control.get(at + WORD + 4..at + WORD + 8)?.try_into().ok()?);
        if len < header {
            return None;
        }
        let is_ttl = (level == libc::IPPROTO_IP && ty == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT);
        if is_ttl {
            let v = i32::from_ne_bytes(control.get(at + header..at + header + 4)?.try_into().ok()?);
            return u8::try_from(v).ok();
        }
        at = at.checked_add(len.checked_next_multiple_of(WORD)?)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, value: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(std::mem::size_of::<usize>() + 8 + 4).to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&value.to_ne_bytes());
        v.resize(v.len().div_ceil(8) * 8, 0);
        v
    }

    #[test]
    fn finds_the_ttl_among_control_messages() {
        let mut c = cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, 7);
        c.extend(cmsg(libc::IPPROTO_IP, libc::IP_TTL, 255));
        assert_eq!(ttl_from_control(&c), Some(255));
        assert_eq!(
            ttl_from_control(&cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 254)),
            Some(254)
        );
        assert_eq!(ttl_from_control(&[]), None);
        assert_eq!(ttl_from_control(&c[..10]), None);
        // A corrupt length never loops or panics.
        let mut bad = cmsg(libc::IPPROTO_IP, libc::IP_TTL, 1);
        bad[..std::mem::size_of::<usize>()].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(ttl_from_control(&bad), None);
        let mut huge = cmsg(0, 0, 0);
        huge[..std::mem::size_of::<usize>()].copy_from_slice(&usize::MAX.to_ne_bytes());
        assert_eq!(ttl_from_control(&huge), None);
    }
}
