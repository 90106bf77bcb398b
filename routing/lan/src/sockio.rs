//! recvmsg with the ancillary data both edges check (hop limit, destination
//! address), and the ICMPv6 type filter.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::Socket;

/// One received datagram's metadata; the payload is in the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Datagram {
    /// Payload length (truncated to the buffer).
    pub len: usize,
    /// The sender, with its scope id.
    pub src: SocketAddrV6,
    /// The IPv6 destination (IPV6_PKTINFO), if the kernel said.
    pub dst: Option<Ipv6Addr>,
    /// The IPv6 hop limit on arrival (IPV6_HOPLIMIT), if the kernel said.
    pub hop_limit: Option<u8>,
}

fn set_int(s: &Socket, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: an int-valued option on a valid socket, with its true size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for IPV6_PKTINFO (the destination address) on every datagram.
pub(crate) fn set_recv_pktinfo(s: &Socket) -> io::Result<()> {
    set_int(s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
}

/// Lets only the given ICMPv6 types reach a raw ICMPv6 socket (RFC 3542
/// §3.2; Linux's ICMP6_FILTER, where a set bit blocks a type).
pub(crate) fn set_icmp6_filter(s: &Socket, pass: &[u8]) -> io::Result<()> {
    const ICMP6_FILTER: libc::c_int = 1;
    let mut filter = [u32::MAX; 8];
    for &t in pass {
        filter[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    // SAFETY: the filter is the kernel's struct icmp6_filter (8 × u32).
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            filter.as_ptr().cast(),
            std::mem::size_of_val(&filter) as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One non-blocking recvmsg into `buf`.
pub(crate) fn recv_msg(s: &Socket, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut control = [0u64; 32];
    // SAFETY: zeroed sockaddr_in6 and msghdr are valid initial values.
    let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated size.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(n).unwrap_or(0).min(buf.len());
    let mut hop_limit = None;
    let mut dst = None;
    // SAFETY: the kernel filled `control` with `msg_controllen` bytes of
    // cmsgs; the CMSG_* helpers walk them within that length, and each
    // payload is read unaligned at its stated type.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::IPPROTO_IPV6 {
                let data = libc::CMSG_DATA(cmsg);
                if c.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    hop_limit = u8::try_from(v).ok();
                } else if c.cmsg_type == libc::IPV6_PKTINFO {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let src = SocketAddrV6::new(
        Ipv6Addr::from(from.sin6_addr.s6_addr),
        u16::from_be(from.sin6_port),
        0,
        from.sin6_scope_id,
    );
    Ok(Datagram {
        len,
        src,
        dst,
        hop_limit,
    })
}
