//! What the daemon needs to know of a link: its index, MAC and primary address.

use std::net::IpAddr;

use routerd_kernel::{Kernel, ROUTERD_VRRP_PROTO};

/// One link as seen at instance start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// Hardware address (zero when the link has none).
    pub mac: [u8; 6],
    /// The primary address: first IPv4 address, or the IPv6 link-local, that is
    /// not one of ours (IFA_PROTO 158) and not a configured VIP.
    pub primary: Option<IpAddr>,
}

/// Looks `ifname` up; `vips` are left out of the primary address choice.
pub async fn lookup(
    kernel: &Kernel,
    ifname: &str,
    ipv4: bool,
    vips: &[IpAddr],
) -> anyhow::Result<LinkInfo> {
    let links = kernel.links().await?;
    let link = links
        .iter()
        .find(|l| l.name == ifname)
        .ok_or_else(|| anyhow::anyhow!("interface {ifname} does not exist"))?;
    let mac = link.mac.as_deref().map(parse_mac).unwrap_or_default();
    let addresses = kernel.addresses().await?;
    let primary = addresses
        .iter()
        .filter(|a| a.ifindex == link.index && a.protocol != ROUTERD_VRRP_PROTO)
        .filter(|a| !vips.contains(&a.addr) && !a.flags.tentative && !a.flags.dadfailed)
        .filter(|a| match a.addr {
            IpAddr::V4(_) => ipv4,
            IpAddr::V6(v6) => !ipv4 && v6.segments()[0] & 0xffc0 == 0xfe80,
        })
        .min_by_key(|a| a.flags.secondary)
        .map(|a| a.addr);
    Ok(LinkInfo {
        name: link.name.clone(),
        index: link.index,
        mac,
        primary,
    })
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (m, part) in mac.iter_mut().zip(s.split(':')) {
        *m = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}
