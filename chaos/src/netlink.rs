//! The one netlink exchange the checker needs: an RTM_GETADDR dump. The
//! request is built and the reply parsed here without I/O; `AddrDumper` is
//! the socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// What went wrong with a dump.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// A socket call failed.
    #[error("netlink {op}: {source}")]
    Io {
        /// The call.
        op: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The kernel answered with an error.
    #[error("netlink error {0}")]
    Kernel(i32),
    /// A message was cut short or malformed.
    #[error("truncated netlink message")]
    Truncated,
}

/// An address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: IpAddr,
}

/// The RTM_GETADDR dump request for every family, with sequence number `seq`.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + IFADDRMSG_LEN) as u32;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[0u8; IFADDRMSG_LEN]); // AF_UNSPEC: all families
    m
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, NetlinkError> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_ne_bytes)
        .ok_or(NetlinkError::Truncated)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, NetlinkError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
        .ok_or(NetlinkError::Truncated)
}

/// Parses one datagram of a dump reply with sequence `seq`, appending the
/// addresses to `out`; true when it held NLMSG_DONE. Messages of other
/// sequence numbers (a late reply to an earlier dump) are skipped.
pub fn parse_dump(buf: &[u8], seq: u32, out: &mut Vec<IfAddr>) -> Result<bool, NetlinkError> {
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, at)? as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return Err(NetlinkError::Truncated);
        }
        let kind = u16_at(buf, at + 4)?;
        let msg_seq = u32_at(buf, at + 8)?;
        let body = &buf[at + NLMSG_HDRLEN..at + len];
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = u32_at(body, 0)? as i32;
                    if code != 0 {
                        return Err(NetlinkError::Kernel(-code));
                    }
                }
                RTM_NEWADDR => {
                    if let Some(a) = parse_newaddr(body)? {
                        out.push(a);
                    }
                }
                _ => {}
            }
        }
        at += align4(len);
    }
    Ok(false)
}

fn parse_newaddr(body: &[u8]) -> Result<Option<IfAddr>, NetlinkError> {
    if body.len() < IFADDRMSG_LEN {
        return Err(NetlinkError::Truncated);
    }
    let family = i32::from(body[0]);
    let ifindex = u32_at(body, 4)?;
    let (mut local, mut address) = (None, None);
    let mut at = IFADDRMSG_LEN;
    while at + 4 <= body.len() {
        let len = usize::from(u16_at(body, at)?);
        let kind = u16_at(body, at + 2)?;
        if len < 4 || at + len > body.len() {
            return Err(NetlinkError::Truncated);
        }
        let data = &body[at + 4..at + len];
        let ip = match (family, data.len()) {
            (libc::AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (libc::AF_INET6, 16) => {
                let o: [u8; 16] = data.try_into().map_err(|_| NetlinkError::Truncated)?;
                Some(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => None,
        };
        match kind {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            _ => {}
        }
        at += align4(len);
    }
    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on
    // point-to-point links (IPv6 sends IFA_ADDRESS only).
    Ok(local.or(address).map(|addr| IfAddr { ifindex, addr }))
}

/// A NETLINK_ROUTE socket in the namespace of the thread that opened it.
#[derive(Debug)]
pub struct AddrDumper {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl AddrDumper {
    /// Opens the socket.
    pub fn open() -> Result<AddrDumper, NetlinkError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(NetlinkError::Io {
                op: "socket",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: a valid timeval of the size given. A stuck kernel must not
        // hang the sampler forever.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Ok(AddrDumper {
            fd,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Every address in the namespace, now.
    pub fn dump(&mut self) -> Result<Vec<IfAddr>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let req = dump_request(self.seq);
        // SAFETY: req is a valid buffer of req.len() bytes; the kernel is the
        // destination when no address is given.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(NetlinkError::Io {
                op: "send",
                source: std::io::Error::last_os_error(),
            });
        }
        let mut out = Vec::new();
        // Bounded: a dump of a lab namespace is a handful of datagrams.
        for _ in 0..1000 {
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(NetlinkError::Io {
                    op: "recv",
                    source: std::io::Error::last_os_error(),
                });
            }
            if parse_dump(&self.buf[..n as usize], self.seq, &mut out)? {
                return Ok(out);
            }
        }
        Err(NetlinkError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn msg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    fn newaddr(family: u8, ifindex: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![family, 24, 0, 0];
        b.extend_from_slice(&ifindex.to_ne_bytes());
        for a in attrs {
            b.extend_from_slice(a);
        }
        b
    }

    #[test]
    fn request_is_a_dump_of_every_family() {
        let r = dump_request(9);
        assert_eq!(r.len(), 24);
        assert_eq!(u16_at(&r, 4).unwrap(), RTM_GETADDR);
        assert_eq!(u16_at(&r, 6).unwrap(), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(u32_at(&r, 8).unwrap(), 9);
    }

    #[test]
    fn parses_v4_local_and_v6_address_then_done() {
        let v4 = newaddr(
            libc::AF_INET as u8,
            3,
            &[
                attr(IFA_ADDRESS, &[10, 99, 0, 9]),
                attr(IFA_LOCAL, &[10, 99, 0, 254]),
                attr(3, b"lan0\0"),
            ],
        );
        let mut six = [0u8; 16];
        six[0] = 0xfe;
        six[1] = 0x80;
        six[15] = 0x54;
        let v6 = newaddr(libc::AF_INET6 as u8, 4, &[attr(IFA_ADDRESS, &six)]);
        let mut dgram = msg(RTM_NEWADDR, 5, &v4);
        dgram.extend(msg(RTM_NEWADDR, 5, &v6));
        dgram.extend(msg(RTM_NEWADDR, 4, &v4)); // an older dump's straggler
        let mut out = Vec::new();
        assert!(!parse_dump(&dgram, 5, &mut out).unwrap());
        assert_eq!(
            out,
            vec![
                IfAddr {
                    ifindex: 3,
                    addr: "10.99.0.254".parse().unwrap()
                },
                IfAddr {
                    ifindex: 4,
                    addr: "fe80::54".parse().unwrap()
                },
            ]
        );
        assert!(parse_dump(&msg(NLMSG_DONE, 5, &[0; 4]), 5, &mut out).unwrap());
    }

    #[test]
    fn kernel_errors_and_truncation_are_errors() {
        let err = msg(NLMSG_ERROR, 1, &(-22i32).to_ne_bytes());
        assert!(matches!(
            parse_dump(&err, 1, &mut Vec::new()),
            Err(NetlinkError::Kernel(22))
        ));
        let mut cut = msg(
            RTM_NEWADDR,
            1,
            &newaddr(2, 1, &[attr(IFA_LOCAL, &[1, 2, 3, 4])]),
        );
        cut.truncate(cut.len() - 2);
        assert!(parse_dump(&cut, 1, &mut Vec::new()).is_err());
    }
}
