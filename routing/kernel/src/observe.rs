//! Reading the kernel: dumps of links, addresses and routes turned into [`Observed`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags as NlAddressFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType, RouteVia,
};

use crate::netlink::dump;
use crate::types::{Address, AddressFlags, LOCAL_TABLE, Link, Observed, Route, RouteKind};
use crate::{Kernel, KernelError};

impl Kernel {
    /// Dumps every link, IPv4/IPv6 address and IPv4/IPv6 route (all tables but
    /// `local`, so routerd's routes in any table it ever used are seen and can be
    /// cleaned up when orphaned).
    pub async fn observe(&self) -> Result<Observed, KernelError> {
        let _dumping = self.dumps.lock().await;
        let links = self.dump_links().await?;
        let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();

        let msgs = dump(
            &self.handle,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .await
        .map_err(|e| e.into_kernel("dump addresses"))?;
        let addresses = msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => parse_address(a, &names),
                _ => None,
            })
            .collect();

        let msgs = dump(
            &self.handle,
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        )
        .await
        .map_err(|e| e.into_kernel("dump routes"))?;
        let routes = msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => parse_route(r, &names),
                _ => None,
            })
            .filter(|r| r.table != LOCAL_TABLE)
            .collect();

        Ok(Observed {
            links,
            addresses,
            routes,
        })
    }

    /// Dumps every link.
    pub async fn links(&self) -> Result<Vec<Link>, KernelError> {
        let _dumping = self.dumps.lock().await;
        self.dump_links().await
    }

    async fn dump_links(&self) -> Result<Vec<Link>, KernelError> {
        let msgs = dump(
            &self.handle,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )
        .await
        .map_err(|e| e.into_kernel("dump links"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => parse_link(l),
                _ => None,
            })
            .collect())
    }
}

/// A link message as a [`Link`]; `None` if it carries no name (never from a dump).
pub(crate) fn parse_link(msg: &LinkMessage) -> Option<Link> {
    let mut name = None;
    let mut mtu = 0;
    let mut mac = None;
    let mut kind = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Address(bytes) if !bytes.is_empty() => mac = Some(format_mac(bytes)),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(k) = info {
                        kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let flags = msg.header.flags;
    Some(Link {
        index: msg.header.index,
        name: name?,
        admin_up: flags.contains(LinkFlags::Up),
        // IFF_RUNNING is the kernel's own "operstate UP or UNKNOWN with carrier".
        oper_up: flags.contains(LinkFlags::Running),
        mtu,
        mac,
        kind,
    })
}

fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An address message as an [`Address`]; `None` for families other than IPv4/IPv6.
pub(crate) fn parse_address(msg: &AddressMessage, names: &HashMap<u32, String>) -> Option<Address> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = None;
    let mut protocol = 0;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = Some(*f),
            AddressAttribute::Protocol(p) => protocol = u8::from(*p),
            _ => {}
        }
    }
    // IFA_LOCAL is the address of this host; IFA_ADDRESS is the peer on
    // point-to-point links and equal to IFA_LOCAL elsewhere.
    let addr = local.or(address)?;
    let header = &msg.header;
    let flags = flags.unwrap_or(NlAddressFlags::from_bits_retain(u32::from(
        header.flags.bits(),
    )));
    let ifname = names
        .get(&header.index)
        .cloned()
        .or(label)
        .unwrap_or_else(|| format!("if{}", header.index));
    Some(Address {
        ifindex: header.index,
        ifname,
        addr,
        prefix_len: header.prefix_len,
        scope: scope_name(header.scope),
        flags: AddressFlags {
            tentative: flags.contains(NlAddressFlags::Tentative),
            deprecated: flags.contains(NlAddressFlags::Deprecated),
            permanent: flags.contains(NlAddressFlags::Permanent),
            dadfailed: flags.contains(NlAddressFlags::Dadfailed),
            secondary: flags.contains(NlAddressFlags::Secondary),
        },
        protocol,
    })
}

fn scope_name(scope: AddressScope) -> String {
    match scope {
        AddressScope::Universe => "global".to_string(),
        AddressScope::Site => "site".to_string(),
        AddressScope::Link => "link".to_string(),
        AddressScope::Host => "host".to_string(),
        AddressScope::Nowhere => "nowhere".to_string(),
        other => u8::from(other).to_string(),
    }
}

/// A route message as a [`Route`]; `None` for non-IP families and cached clones.
pub(crate) fn parse_route(msg: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
    let header = &msg.header;
    let unspecified = match header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    if header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut destination = None;
    let mut gateway = None;
    let mut oif = None;
    let mut metric = None;
    let mut pref_src = None;
    let mut table = u32::from(header.table);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => destination = route_ip(a),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Via(RouteVia::Inet(a)) => gateway = Some(IpAddr::V4(*a)),
            RouteAttribute::Via(RouteVia::Inet6(a)) => gateway = Some(IpAddr::V6(*a)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::PrefSource(a) => pref_src = route_ip(a),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    let destination = IpNet::new(
        destination.unwrap_or(unspecified),
        header.destination_prefix_length,
    )
    .ok()?;
    Some(Route {
        table,
        metric: metric.unwrap_or_else(|| crate::types::default_metric(&destination)),
        destination,
        gateway,
        oif,
        ifname: oif.and_then(|i| names.get(&i).cloned()),
        protocol: u8::from(header.protocol),
        kind: route_kind(header.kind),
        pref_src,
    })
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_kind(t: RouteType) -> RouteKind {
    match t {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Local => RouteKind::Local,
        _ => RouteKind::Other,
    }
}
