//! What the edges need to know about their interface, read in the calling
//! thread's network namespace: index, MAC, usable link-local address.
//!
//! `/proc/net` follows the *process*'s namespace (it is `/proc/self/net`);
//! the controller, and the tests, may run these loops on a thread that
//! joined another one, so addresses come from `/proc/thread-self/net`.
//! Likewise the MAC comes from an ioctl, not from `/sys/class/net`, which
//! shows the namespace sysfs was mounted in.

use std::ffi::CString;
use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket, Type};

/// Where the calling thread's IPv6 addresses are listed.
const IF_INET6: &str = "/proc/thread-self/net/if_inet6";

/// Whether `name` can name a Linux interface.
pub(crate) fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
}

/// The interface's index, if it exists (in this thread's namespace).
pub(crate) fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The interface's Ethernet address, if it has one (tunnels do not).
pub(crate) fn mac_of(name: &str) -> Option<[u8; 6]> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, None).ok()?;
    // SAFETY: a zeroed ifreq is a valid value (name empty, union zero).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of the
    // ifreq we own; the descriptor is valid while `s` lives.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return None;
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds a sockaddr.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    if sa.sa_family != libc::ARPHRD_ETHER {
        return None;
    }
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    (mac != [0; 6]).then_some(mac)
}

/// A DUID-LL (RFC 8415 §11.4) from an Ethernet address: type 3, hardware
/// type 1, the address.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend(mac);
    d
}

/// The first link-local address on `ifname` in an `if_inet6` table that
/// has finished DAD (neither tentative nor failed): until then the kernel
/// will not send from it.
pub(crate) fn usable_link_local(if_inet6: &str, ifname: &str) -> Option<Ipv6Addr> {
    const SCOPE_LINK: u32 = 0x20;
    const IFA_F_TENTATIVE: u32 = 0x40;
    const IFA_F_DADFAILED: u32 = 0x08;
    if_inet6.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(scope), Some(flags), Some(name)) =
            (f.first(), f.get(3), f.get(4), f.get(5))
        else {
            return None;
        };
        let scope = u32::from_str_radix(scope, 16).ok()?;
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if *name != ifname
            || scope != SCOPE_LINK
            || flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0
        {
            return None;
        }
        u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
    })
}

/// The usable link-local address of `ifname` now, in this thread's namespace.
pub(crate) fn link_local(ifname: &str) -> Option<Ipv6Addr> {
    let table = std::fs::read_to_string(IF_INET6).ok()?;
    usable_link_local(&table, ifname)
}

/// Whether `a` is in fe80::/10.
pub(crate) fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
fd009900000200000000000000000001 05 40 00 80 srv0
fe80000000000000a8c899fffe7af5f4 05 40 20 80 wan0
fe80000000000000b05713fffe913e38 06 40 20 c0 eth1
fe800000000000000000000000000009 07 40 20 88 lan1
00000000000000000000000000000001 01 80 10 80 lo
";

    #[test]
    fn only_a_settled_link_local_address_counts() {
        assert_eq!(
            usable_link_local(TABLE, "wan0"),
            Some("fe80::a8c8:99ff:fe7a:f5f4".parse().expect("ip"))
        );
        // Tentative (0x40), DAD failed (0x08), global only, absent.
        assert_eq!(usable_link_local(TABLE, "eth1"), None);
        assert_eq!(usable_link_local(TABLE, "lan1"), None);
        assert_eq!(usable_link_local(TABLE, "srv0"), None);
        assert_eq!(usable_link_local(TABLE, "nope"), None);
        assert_eq!(usable_link_local("garbage\n\n1 2", "wan0"), None);
    }

    #[test]
    fn names_duid_and_loopback_facts() {
        assert!(valid_ifname("lan0"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("sixteen-chars-xx"));
        assert_eq!(
            duid_ll([2, 0, 0, 0, 0, 1]),
            vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1]
        );
        assert!(if_index("lo").is_some());
        assert!(if_index("no-such-if0").is_none());
        // Loopback has no Ethernet address.
        assert_eq!(mac_of("lo"), None);
    }
}
