//! The TCP side of BGP sessions: the listener on port 179, outgoing
//! connections, TCP MD5 signatures (RFC 2385) per peer address or prefix
//! (dynamic neighbours), and the Generalized TTL Security Mechanism
//! (RFC 5082): packets leave with TTL 255 and arrive with at least
//! 255 - (hops - 1), so a spoofed packet from further away is dropped by
//! the kernel before it reaches the session.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use ipnet::IpNet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};

/// The BGP port.
pub const BGP_PORT: u16 = 179;

/// TCP_MD5SIG_MAXKEYLEN (linux/tcp.h).
const MD5_MAX_KEY: usize = 80;
/// TCP_MD5SIG_EXT: the extended form with a prefix length.
const TCP_MD5SIG_EXT: libc::c_int = 32;
/// TCP_MD5SIG_FLAG_PREFIX: `tcpm_prefixlen` is valid.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// `struct tcp_md5sig` (linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY],
}

/// Why a socket could not be set up.
#[derive(Debug, Error)]
pub enum NetError {
    /// An MD5 key longer than the kernel takes.
    #[error("a TCP MD5 key is at most {MD5_MAX_KEY} bytes")]
    KeyTooLong,
    /// The kernel refused an option or a call.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

/// Installs (or, with an empty key, removes) the MD5 key for connections
/// with peers in `peers` on socket `fd`. On a listener the key is taken
/// over by the connections it accepts.
pub fn set_md5(fd: RawFd, peers: IpNet, key: &[u8]) -> Result<(), NetError> {
    if key.len() > MD5_MAX_KEY {
        return Err(NetError::KeyTooLong);
    }
    // SAFETY: sockaddr_storage and the rest are plain data, valid zeroed.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    // An IPv6 socket (a dual-stack listener) takes IPv4 peers as
    // IPv4-mapped addresses, with the prefix length still counted in IPv4
    // bits (the kernel's tcp_v6_parse_md5_keys).
    let addr = match peers.network() {
        IpAddr::V4(v4) if socket_is_ipv6(fd) => IpAddr::V6(v4.to_ipv6_mapped()),
        a => a,
    };
    let sa = SockAddr::from(SocketAddr::new(addr, 0));
    // SAFETY: `sa` holds at most a sockaddr_storage's worth of bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (&raw mut sig.addr).cast::<u8>(),
            sa.len() as usize,
        );
    }
    if peers.prefix_len() < peers.max_prefix_len() {
        sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        sig.prefixlen = peers.prefix_len();
    }
    sig.keylen = u16::try_from(key.len()).unwrap_or(0);
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a valid tcp_md5sig the kernel reads; the length is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_MD5SIG_EXT,
            (&raw const sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io_err(format!("TCP MD5 key for {peers}"))(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn socket_is_ipv6(fd: RawFd) -> bool {
    // SAFETY: sockaddr_storage is plain data, valid zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `ss`.
    let r = unsafe { libc::getsockname(fd, (&raw mut ss).cast(), &mut len) };
    r == 0 && i32::from(ss.ss_family) == libc::AF_INET6
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: an int option value the kernel copies in.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// GTSM (RFC 5082) for a peer `hops` away (1: directly connected): send
/// with TTL 255, accept only TTL >= 256 - hops.
pub fn set_ttl_security(fd: RawFd, ipv6: bool, hops: u8) -> Result<(), NetError> {
    let min = 256 - i32::from(hops.max(1));
    let (level, ttl, min_ttl) = if ipv6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            libc::IPV6_MINHOPCOUNT,
        )
    } else {
        (libc::IPPROTO_IP, libc::IP_TTL, libc::IP_MINTTL)
    };
    setsockopt_int(fd, level, ttl, 255).map_err(io_err("TTL 255"))?;
    setsockopt_int(fd, level, min_ttl, min).map_err(io_err(format!("minimum TTL {min}")))
}

/// The TTL outgoing packets carry (eBGP multihop without GTSM).
pub fn set_ttl(fd: RawFd, ipv6: bool, ttl: u8) -> Result<(), NetError> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TTL)
    };
    setsockopt_int(fd, level, name, i32::from(ttl)).map_err(io_err(format!("TTL {ttl}")))
}

/// How to reach or accept one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSocket {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address to connect from, if fixed.
    pub local: Option<IpAddr>,
    /// The TCP MD5 key, if any.
    pub md5: Option<Vec<u8>>,
    /// GTSM: the peer is at most this many hops away.
    pub ttl_security: Option<u8>,
    /// Without GTSM: the TTL to send with (1 for a direct eBGP peer).
    pub ttl: u8,
}

/// A listener on `addr:port` (`[::]` takes IPv4 too), with no peer keys
/// yet (see [`set_md5`] on its fd per configured peer). Its SYN-ACKs leave
/// with TTL 255, so a peer that uses TTL security accepts them; each
/// accepted connection then gets its peer's own TTL rules ([`accepted`]).
pub fn listen(addr: SocketAddr) -> Result<TcpListener, NetError> {
    let domain = Domain::for_address(addr);
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(io_err("socket"))?;
    s.set_reuse_address(true).map_err(io_err("SO_REUSEADDR"))?;
    if addr.is_ipv6() {
        s.set_only_v6(false).map_err(io_err("IPV6_V6ONLY"))?;
        setsockopt_int(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            255,
        )
        .map_err(io_err("hop limit 255"))?;
    }
    setsockopt_int(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TTL, 255)
        .map_err(io_err("TTL 255"))?;
    s.set_nonblocking(true).map_err(io_err("non-blocking"))?;
    s.bind(&addr.into())
        .map_err(io_err(format!("bind {addr}")))?;
    s.listen(128).map_err(io_err("listen"))?;
    TcpListener::from_std(s.into()).map_err(io_err("register the listener"))
}

/// Connects to the peer with its MD5 key and TTL rules, within `timeout`.
pub async fn connect(p: &PeerSocket, port: u16, timeout: Duration) -> Result<TcpStream, NetError> {
    let to = SocketAddr::new(p.peer, port);
    let s = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))
        .map_err(io_err("socket"))?;
    let fd = s.as_raw_fd();
    if let Some(key) = &p.md5 {
        set_md5(fd, IpNet::from(p.peer), key)?;
    }
    match p.ttl_security {
        Some(hops) => set_ttl_security(fd, p.peer.is_ipv6(), hops)?,
        None => set_ttl(fd, p.peer.is_ipv6(), p.ttl)?,
    }
    if let Some(local) = p.local {
        s.bind(&SocketAddr::new(local, 0).into())
            .map_err(io_err(format!("bind {local}")))?;
    }
    s.set_nonblocking(true).map_err(io_err("non-blocking"))?;
    s.set_tcp_nodelay(true).map_err(io_err("TCP_NODELAY"))?;
    let socket = tokio::net::TcpSocket::from_std_stream(s.into());
    tokio::time::timeout(timeout, socket.connect(to))
        .await
        .map_err(|_| NetError::Io {
            what: format!("connect to {to}"),
            source: io::Error::from(io::ErrorKind::TimedOut),
        })?
        .map_err(io_err(format!("connect to {to}")))
}

/// Applies a peer's TTL rules to an accepted connection (its MD5 key came
/// with the listener).
pub fn accepted(stream: &TcpStream, p: &PeerSocket) -> Result<(), NetError> {
    let fd = stream.as_raw_fd();
    stream.set_nodelay(true).map_err(io_err("TCP_NODELAY"))?;
    match p.ttl_security {
        Some(hops) => set_ttl_security(fd, p.peer.is_ipv6(), hops),
        None => set_ttl(fd, p.peer.is_ipv6(), p.ttl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_key_is_refused_before_the_kernel_sees_it() {
        let e = set_md5(-1, "192.0.2.1/32".parse().expect("net"), &[0u8; 81]).expect_err("long");
        assert!(matches!(e, NetError::KeyTooLong));
    }
}
