//! Telling the link the virtual addresses moved: gratuitous ARP (IPv4) and
//! unsolicited Neighbor Advertisements (IPv6), as a new Master must (RFC 9568 6.4.2).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How many times each announcement is sent in one burst (keepalived's
/// `garp_master_repeat` default).
pub const REPEAT: usize = 5;

const ETH_P_ARP: u16 = 0x0806;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Announces every address in `vips` on link `ifindex`/`ifname` with `mac`.
pub fn announce(ifname: &str, ifindex: u32, mac: [u8; 6], vips: &[IpAddr]) -> io::Result<()> {
    let v4: Vec<Ipv4Addr> = vips
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v) => Some(*v),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = vips
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(v) => Some(*v),
            IpAddr::V4(_) => None,
        })
        .collect();
    if !v4.is_empty() {
        garp(ifindex, mac, &v4)?;
    }
    if !v6.is_empty() {
        unsolicited_na(ifname, ifindex, mac, &v6)?;
    }
    Ok(())
}

/// An ARP request for `vip` from `vip` (sender and target both the VIP),
/// broadcast: what keepalived and most stacks send as gratuitous ARP.
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(28);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&vip.octets());
    f
}

fn garp(ifindex: u32, mac: [u8; 6], vips: &[Ipv4Addr]) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned by `sock` right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid socket nobody else owns.
    let sock = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid; we fill the fields AF_PACKET needs.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    for vip in vips {
        let frame = garp_frame(mac, *vip);
        for _ in 0..REPEAT {
            // SAFETY: frame and sll are live for the call, with their true sizes.
            let rc = unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// A Neighbor Advertisement for `target` with the Override and Router flags and
/// the target link-layer address option; the kernel fills in the checksum.
pub fn na_message(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    // type 136, code 0, checksum 0 (kernel), flags R|O.
    m.extend_from_slice(&[136, 0, 0, 0, 0xa0, 0, 0, 0]);
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    m
}

fn unsolicited_na(ifname: &str, ifindex: u32, mac: [u8; 6], vips: &[Ipv6Addr]) -> io::Result<()> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_if_v6(ifindex)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    let dst = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, ifindex));
    for vip in vips {
        let msg = na_message(mac, *vip);
        for _ in 0..REPEAT {
            s.send_to(&msg, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_vip_and_the_mac() {
        let mac = [2, 0, 0, 0, 0, 1];
        let f = garp_frame(mac, Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(f.len(), 28);
        assert_eq!(&f[8..14], &mac);
        assert_eq!(&f[14..18], &[10, 0, 0, 254]);
        assert_eq!(&f[24..28], &[10, 0, 0, 254]);
        let na = na_message(mac, "fe80::99".parse().unwrap());
        assert_eq!(na.len(), 32);
        assert_eq!(na[4] & 0x20, 0x20, "override");
        assert_eq!(&na[26..32], &mac);
    }
}
