//! One raw IP socket (protocol 112) per instance, bound to its link: sends with
//! TTL / hop limit 255 and receives with the TTL and destination the state
//! machine checks.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use routerd_vrrp_core::packet::{IPPROTO_VRRP, MULTICAST_V4, MULTICAST_V6, REQUIRED_TTL};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

/// A packet as received, with what the IP layer told us.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL / hop limit on arrival.
    pub ttl: u8,
    /// The VRRP message.
    pub payload: Vec<u8>,
}

/// A raw VRRP socket on one link.
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

impl VrrpSocket {
    /// Opens, binds to `ifname` and `source`, and joins the VRRP group.
    pub fn open(ifname: &str, ifindex: u32, source: IpAddr) -> io::Result<VrrpSocket> {
        let proto = Some(Protocol::from(i32::from(IPPROTO_VRRP)));
        let socket = match source {
            IpAddr::V4(src) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, proto)?;
                s.set_header_included_v4(false)?;
                s.set_ttl_v4(u32::from(REQUIRED_TTL))?;
                s.set_multicast_ttl_v4(u32::from(REQUIRED_TTL))?;
                s.set_multicast_loop_v4(false)?;
                // Only the groups this socket joined, not every group of the host.
                s.set_multicast_all_v4(false)?;
                s.bind_device(Some(ifname.as_bytes()))?;
                s.set_multicast_if_v4(&src)?;
                s.join_multicast_v4_n(&MULTICAST_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
                // Not bound to `src`: an IPv4 raw socket bound to an address only
                // receives packets sent to it, never to the group. The kernel picks
                // the link's primary address as the source, which is `src`.
                s
            }
            IpAddr::V6(src) => {
                let s = Socket::new(Domain::IPV6, Type::RAW, proto)?;
                s.set_multicast_hops_v6(u32::from(REQUIRED_TTL))?;
                s.set_unicast_hops_v6(u32::from(REQUIRED_TTL))?;
                s.set_multicast_loop_v6(false)?;
                s.set_multicast_all_v6(false)?;
                s.set_recv_hoplimit_v6(true)?;
                set_recv_pktinfo_v6(&s)?;
                s.bind_device(Some(ifname.as_bytes()))?;
                s.set_multicast_if_v6(ifindex)?;
                s.join_multicast_v6(&MULTICAST_V6, ifindex)?;
                let scope = if is_link_local(&src) { ifindex } else { 0 };
                s.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, scope)))?;
                s
            }
        };
        socket.set_nonblocking(true)?;
        // SAFETY: AsyncFd owns the `Socket`, so the descriptor stays open and the
        // same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(socket) }?;
        Ok(VrrpSocket { fd, ifindex })
    }

    /// Sends one VRRP message to `dst` (the group or a unicast peer).
    pub fn send(&self, bytes: &[u8], dst: IpAddr) -> io::Result<()> {
        let addr = match dst {
            IpAddr::V4(d) => SocketAddr::V4(SocketAddrV4::new(d, 0)),
            IpAddr::V6(d) => {
                let scope = if is_link_local(&d) || d.is_multicast() {
                    self.ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(d, 0, 0, scope))
            }
        };
        self.fd.get_ref().send_to(bytes, &SockAddr::from(addr))?;
        Ok(())
    }

    /// Waits for the next packet.
    pub async fn recv(&self) -> io::Result<Incoming> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_one(fd.get_ref())) {
                Ok(Ok(Some(p))) => return Ok(p),
                // Not an IP packet we can read (short header): skip it.
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn set_recv_pktinfo_v6(s: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid int option on a valid socket.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn recv_one(s: &Socket) -> io::Result<Option<Incoming>> {
    match s.domain()? {
        Domain::IPV4 => recv_v4(s),
        _ => recv_v6(s),
    }
}

/// IPv4 raw sockets hand us the IP header: TTL and addresses come from it.
fn recv_v4(s: &Socket) -> io::Result<Option<Incoming>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let n = s.recv(&mut buf)?;
    // SAFETY: `recv` initialised the first `n` bytes.
    let bytes: Vec<u8> = buf[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect();
    Ok(parse_ipv4(&bytes))
}

/// Splits an IPv4 datagram into what the state machine needs; `None` if the
/// header is malformed.
pub fn parse_ipv4(bytes: &[u8]) -> Option<Incoming> {
    let first = *bytes.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || bytes.len() < ihl {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let end = total.clamp(ihl, bytes.len());
    Some(Incoming {
        ttl: bytes[8],
        src: IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15])),
        dst: IpAddr::V4(Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19])),
        payload: bytes[ihl..end].to_vec(),
    })
}

/// IPv6 raw sockets give only the payload: the hop limit and destination come
/// from ancillary data (IPV6_HOPLIMIT, IPV6_PKTINFO).
fn recv_v6(s: &Socket) -> io::Result<Option<Incoming>> {
    let mut buf = [0u8; 2048];
    let mut control = [0u64; 16];
    // SAFETY: zeroed sockaddr_in6 and msghdr are valid initial values.
    let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated size.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    let mut ttl = None;
    let mut dst = None;
    // SAFETY: the kernel filled `control` with `msg_controllen` bytes of cmsgs;
    // the CMSG_* helpers walk them within that length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::IPPROTO_IPV6 {
                let data = libc::CMSG_DATA(cmsg);
                if c.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    ttl = u8::try_from(v).ok();
                } else if c.cmsg_type == libc::IPV6_PKTINFO {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let (Some(ttl), Some(dst)) = (ttl, dst) else {
        return Ok(None);
    };
    Ok(Some(Incoming {
        src: IpAddr::V6(Ipv6Addr::from(from.sin6_addr.s6_addr)),
        dst: IpAddr::V6(dst),
        ttl,
        payload: buf[..n].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_gives_ttl_addresses_and_payload() {
        let mut p = vec![
            0x45, 0, 0, 24, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        p.extend_from_slice(&[1, 2, 3, 4, 9, 9]);
        let i = parse_ipv4(&p).unwrap();
        assert_eq!(i.ttl, 255);
        assert_eq!(i.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(i.dst, IpAddr::from([224, 0, 0, 18]));
        assert_eq!(i.payload, vec![1, 2, 3, 4], "total length trims padding");
        assert!(parse_ipv4(&p[..10]).is_none());
        assert!(parse_ipv4(&[0x4f]).is_none());
    }
}
