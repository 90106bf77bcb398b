//! Turning a spec's target into an address: a literal, a hostname, or the
//! kernel's default gateway (read over rtnetlink; this daemon never writes).

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use futures::StreamExt;
use netlink_packet_route::AddressFamily as NlFamily;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};

use crate::spec::{AddressFamily, ProbeSpec, TargetSource};

/// Why a target could not be turned into an address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// DNS lookup failed.
    #[error("cannot resolve {host}: {reason}")]
    Lookup {
        /// The hostname.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// DNS answered, but not with an address of the wanted family.
    #[error("{host} has no {family} address")]
    NoAddressInFamily {
        /// The hostname.
        host: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// No usable default route.
    #[error("no {family} default gateway{on}")]
    NoGateway {
        /// "IPv4" or "IPv6".
        family: &'static str,
        /// " on IFNAME" when restricted to the source interface.
        on: String,
    },
    /// The source interface does not exist.
    #[error("source interface {0} does not exist")]
    NoSuchInterface(String),
    /// Talking to the kernel failed.
    #[error("reading routes from the kernel: {0}")]
    Netlink(String),
}

/// How the address was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOrigin {
    /// An IP literal in the spec.
    Literal,
    /// A hostname looked up in DNS.
    Hostname,
    /// The kernel's default gateway.
    DefaultGateway,
}

/// A target ready to probe: the address plus how to send to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Destination address.
    pub addr: IpAddr,
    /// Destination port, for protocols that have one.
    pub port: Option<u16>,
    /// Interface index for IPv6 link-local destinations (0 = none).
    pub scope_id: u32,
    /// The hostname from the spec, for HTTP's Host header.
    pub host: Option<String>,
    /// How the address was found.
    pub origin: TargetOrigin,
    /// SO_BINDTODEVICE interface.
    pub source_interface: Option<String>,
    /// Local address to bind.
    pub source_address: Option<IpAddr>,
}

impl Resolved {
    /// A literal target with no source binding (tests and simple callers).
    pub fn literal(addr: IpAddr, port: Option<u16>) -> Self {
        Resolved {
            addr,
            port,
            scope_id: 0,
            host: None,
            origin: TargetOrigin::Literal,
            source_interface: None,
            source_address: None,
        }
    }

    /// The socket address to send to (port 0 when the protocol has none).
    pub fn socket_addr(&self) -> SocketAddr {
        let port = self.port.unwrap_or(0);
        match self.addr {
            IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, self.scope_id)),
        }
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V4(v4), Some(port)) => write!(f, "{v4}:{port}"),
            (IpAddr::V6(v6), Some(port)) => write!(f, "[{v6}]:{port}"),
            (addr, None) => write!(f, "{addr}"),
        }
    }
}

fn family_label(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Ipv4 => "IPv4",
        AddressFamily::Ipv6 => "IPv6",
    }
}

/// Resolves the spec's target as of now (gateways and DNS answers change).
pub async fn resolve(spec: &ProbeSpec) -> Result<Resolved, ResolveError> {
    let mut resolved = Resolved {
        addr: IpAddr::from([0, 0, 0, 0]),
        port: spec.effective_port(),
        scope_id: 0,
        host: None,
        origin: TargetOrigin::Literal,
        source_interface: spec.source_interface.clone(),
        source_address: spec.source_address,
    };
    match (spec.effective_target_source(), spec.target.as_deref()) {
        (TargetSource::Static, Some(target)) => {
            if let Ok(ip) = target.parse::<IpAddr>() {
                resolved.addr = ip;
            } else {
                resolved.addr = lookup(target, spec.family()).await?;
                resolved.host = Some(target.trim_end_matches('.').to_string());
                resolved.origin = TargetOrigin::Hostname;
            }
        }
        _ => {
            // A gateway has to be of one family; IPv4 unless told otherwise.
            let family = spec.family().unwrap_or(AddressFamily::Ipv4);
            let (addr, oif) = default_gateway(family, spec.source_interface.as_deref()).await?;
            resolved.addr = addr;
            resolved.origin = TargetOrigin::DefaultGateway;
            if addr.is_ipv6() {
                resolved.scope_id = oif;
            }
        }
    }
    Ok(resolved)
}

async fn lookup(host: &str, family: Option<AddressFamily>) -> Result<IpAddr, ResolveError> {
    let addrs = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| ResolveError::Lookup {
            host: host.to_string(),
            reason: e.to_string(),
        })?;
    let mut addrs = addrs.map(|a| a.ip());
    let found = match family {
        None => addrs.next(),
        Some(f) => addrs.find(|ip| AddressFamily::of(ip) == f),
    };
    found.ok_or_else(|| ResolveError::NoAddressInFamily {
        host: host.to_string(),
        family: family.map(family_label).unwrap_or("IP"),
    })
}

/// The gateway of the lowest-metric default route in the main table, and the
/// interface it leaves through.
async fn default_gateway(
    family: AddressFamily,
    ifname: Option<&str>,
) -> Result<(IpAddr, u32), ResolveError> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| ResolveError::Netlink(e.to_string()))?;
    // The connection task ends with the handle, but abort it explicitly so a
    // timed-out probe cannot leave it behind.
    let task = tokio::spawn(connection);
    let result = async {
        let oif = match ifname {
            Some(name) => Some(ifindex(&handle, name).await?),
            None => None,
        };
        let mut request = RouteMessage::default();
        request.header.address_family = match family {
            AddressFamily::Ipv4 => NlFamily::Inet,
            AddressFamily::Ipv6 => NlFamily::Inet6,
        };
        let mut routes = handle.route().get(request).execute();
        let mut best: Option<(u32, IpAddr, u32)> = None;
        while let Some(route) = routes.next().await {
            let route = route.map_err(|e| ResolveError::Netlink(e.to_string()))?;
            if let Some((metric, gw, dev)) = default_route_gateway(&route, oif)
                && best.is_none_or(|(m, _, _)| metric < m)
            {
                best = Some((metric, gw, dev));
            }
        }
        best.map(|(_, gw, dev)| (gw, dev))
            .ok_or_else(|| ResolveError::NoGateway {
                family: family_label(family),
                on: ifname.map(|n| format!(" on {n}")).unwrap_or_default(),
            })
    }
    .await;
    drop(handle);
    task.abort();
    result
}

async fn ifindex(handle: &rtnetlink::Handle, name: &str) -> Result<u32, ResolveError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.next().await {
        Some(Ok(link)) => Ok(link.header.index),
        // The kernel answers an unknown name with ENODEV.
        Some(Err(_)) | None => Err(ResolveError::NoSuchInterface(name.to_string())),
    }
}

const RT_TABLE_MAIN: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// `(metric, gateway, oif)` when `route` is a main-table unicast default route
/// with a gateway (leaving through `oif` when one is required).
pub(crate) fn default_route_gateway(
    route: &RouteMessage,
    oif: Option<u32>,
) -> Option<(u32, IpAddr, u32)> {
    let header = &route.header;
    if header.destination_prefix_length != 0 || header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut metric = 0;
    let mut gateway = None;
    let mut dev = 0;
    let mut nexthops = Vec::new();
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Oif(i) => dev = *i,
            RouteAttribute::Gateway(addr) => gateway = route_address(addr),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    let gw = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(addr) => route_address(addr),
                        _ => None,
                    });
                    if let Some(gw) = gw {
                        nexthops.push((gw, hop.interface_index));
                    }
                }
            }
            _ => {}
        }
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    let mut candidates = gateway.map(|gw| (gw, dev)).into_iter().chain(nexthops);
    let (gw, dev) = candidates.find(|(_, dev)| oif.is_none_or(|want| want == *dev))?;
    Some((metric, gw, dev))
}

fn route_address(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
