//! Routes a routing protocol learned (BGP), written in bulk: tens of
//! thousands of replaces or deletes pipelined on the netlink socket,
//! multipath (ECMP) next hops in one RTA_MULTIPATH, and the whole set of
//! one protocol's routes dumped or flushed by its rtm_protocol.
//!
//! These routes are not intents of the config: the protocol daemon owns
//! them, marked with its own protocol id, so routerd's reconciler (which
//! owns [`ROUTERD_PROTO`](crate::ROUTERD_PROTO) routes) never touches them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteNextHopFlags, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use serde::{Deserialize, Serialize};

use crate::netlink::{ack, dump};
use crate::{Kernel, KernelError};

/// rtm_protocol 186: `bgp` in iproute2's rt_protos, so `ip route` shows
/// `proto bgp` for the routes routerd-bgp installs.
pub const BGP_PROTO: u8 = 186;

/// Writes in flight at once (see `apply.rs`: the ACKs queue in our receive
/// buffer, which must not overflow).
const FIB_IN_FLIGHT: usize = 256;

/// One next hop of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextHop {
    /// The gateway.
    pub gateway: IpAddr,
    /// The link to reach it on (needed for an IPv6 link-local gateway).
    pub ifindex: Option<u32>,
    /// ECMP weight, 1–256.
    pub weight: u16,
    /// The gateway is on-link even if no connected route says so.
    pub onlink: bool,
}

impl NextHop {
    /// A next hop via `gateway`, weight 1.
    pub fn via(gateway: IpAddr) -> NextHop {
        NextHop {
            gateway,
            ifindex: None,
            weight: 1,
            onlink: false,
        }
    }
}

/// A route with one or more next hops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FibRoute {
    /// Destination (host bits clear).
    pub destination: IpNet,
    /// Next hops: one is a plain route, several an ECMP route.
    pub nexthops: Vec<NextHop>,
    /// Metric (priority).
    pub metric: u32,
    /// Table id.
    pub table: u32,
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibOp {
    /// Add the route, or replace the one with the same key.
    Replace(FibRoute),
    /// Remove the protocol's route with this key.
    Delete {
        /// Destination.
        destination: IpNet,
        /// Metric.
        metric: u32,
        /// Table id.
        table: u32,
    },
}

impl FibOp {
    fn destination(&self) -> IpNet {
        match self {
            FibOp::Replace(r) => r.destination,
            FibOp::Delete { destination, .. } => *destination,
        }
    }
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FibReport {
    /// Writes the kernel accepted.
    pub done: usize,
    /// Writes it refused, with why (a delete of a route that is not there
    /// counts as done).
    pub failed: Vec<(IpNet, String)>,
    /// How long the batch took.
    pub elapsed: Duration,
}

fn family(addr: &IpAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn base(protocol: u8, destination: &IpNet, metric: u32, table: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&destination.addr());
    m.header.destination_prefix_length = destination.prefix_len();
    m.header.table = u8::try_from(table).unwrap_or(0);
    m.header.protocol = RouteProtocol::from(protocol);
    if destination.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                destination.trunc().addr(),
            )));
    }
    m.attributes.push(RouteAttribute::Table(table));
    m.attributes.push(RouteAttribute::Priority(metric));
    m
}

/// The RTM_NEWROUTE message for `route`: one gateway in RTA_GATEWAY, or
/// several in RTA_MULTIPATH (weight w is sent as rtnh_hops w-1).
pub fn route_message(protocol: u8, route: &FibRoute) -> RouteMessage {
    let mut m = base(protocol, &route.destination, route.metric, route.table);
    m.header.kind = RouteType::Unicast;
    m.header.scope = RouteScope::Universe;
    match route.nexthops.as_slice() {
        [one] => {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(one.gateway)));
            if let Some(oif) = one.ifindex {
                m.attributes.push(RouteAttribute::Oif(oif));
            }
            if one.onlink {
                m.header.flags |= netlink_packet_route::route::RouteFlags::Onlink;
            }
        }
        many => {
            let hops = many
                .iter()
                .map(|h| {
                    let mut hop = RouteNextHop::default();
                    hop.interface_index = h.ifindex.unwrap_or(0);
                    hop.hops = u8::try_from(h.weight.clamp(1, 256) - 1).unwrap_or(u8::MAX);
                    if h.onlink {
                        hop.flags = RouteNextHopFlags::Onlink;
                    }
                    hop.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(h.gateway)));
                    hop
                })
                .collect();
            m.attributes.push(RouteAttribute::MultiPath(hops));
        }
    }
    m
}

/// The RTM_DELROUTE message for the protocol's route with this key.
pub fn delete_message(protocol: u8, destination: &IpNet, metric: u32, table: u32) -> RouteMessage {
    let mut m = base(protocol, destination, metric, table);
    m.header.scope = RouteScope::NoWhere;
    m
}

/// Reads a route message of `protocol` back as a [`FibRoute`].
pub fn fib_route(m: &RouteMessage) -> Option<FibRoute> {
    let mut destination = None;
    let mut table = u32::from(m.header.table);
    let mut metric = 0;
    let mut gateway = None;
    let mut oif = None;
    let mut nexthops = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => destination = address(d),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(g) => gateway = address(g),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    let gw = h.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => address(g),
                        _ => None,
                    })?;
                    nexthops.push(NextHop {
                        gateway: gw,
                        ifindex: (h.interface_index != 0).then_some(h.interface_index),
                        weight: u16::from(h.hops) + 1,
                        onlink: h.flags.contains(RouteNextHopFlags::Onlink),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(gateway) = gateway {
        nexthops.push(NextHop {
            gateway,
            ifindex: oif,
            weight: 1,
            onlink: m
                .header
                .flags
                .contains(netlink_packet_route::route::RouteFlags::Onlink),
        });
    }
    let len = m.header.destination_prefix_length;
    let destination = match destination {
        Some(a) => IpNet::new(a, len).ok()?,
        None if m.header.address_family == AddressFamily::Inet6 => {
            IpNet::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0).ok()?
        }
        None => IpNet::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0).ok()?,
    };
    Some(FibRoute {
        destination,
        nexthops,
        metric,
        table,
    })
}

fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Kernel {
    /// Carries out `ops` for routes of `protocol`, many at a time. A delete
    /// of a route that is already gone counts as done; other failures are
    /// reported per destination and the rest still run.
    pub async fn fib_write(&self, protocol: u8, ops: &[FibOp]) -> FibReport {
        let started = Instant::now();
        let writes: Vec<_> = ops
            .iter()
            .map(|op| async move {
                let (msg, flags) = match op {
                    FibOp::Replace(r) => (
                        RouteNetlinkMessage::NewRoute(route_message(protocol, r)),
                        NLM_F_CREATE | NLM_F_REPLACE,
                    ),
                    FibOp::Delete {
                        destination,
                        metric,
                        table,
                    } => (
                        RouteNetlinkMessage::DelRoute(delete_message(
                            protocol,
                            destination,
                            *metric,
                            *table,
                        )),
                        0,
                    ),
                };
                match ack(&self.handle, msg, flags).await {
                    Ok(()) => Ok(()),
                    // ESRCH: the route to delete is not there.
                    Err(e)
                        if matches!(op, FibOp::Delete { .. })
                            && e.message().contains("No such process") =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(e.message()),
                }
            })
            .collect();
        let results: Vec<Result<(), String>> = futures::stream::iter(writes)
            .buffered(FIB_IN_FLIGHT)
            .collect()
            .await;
        let mut report = FibReport::default();
        for (op, result) in ops.iter().zip(results) {
            match result {
                Ok(()) => report.done += 1,
                Err(e) => report.failed.push((op.destination(), e)),
            }
        }
        report.elapsed = started.elapsed();
        report
    }

    /// Every route of `protocol` in every table, IPv4 and IPv6.
    pub async fn fib_routes(&self, protocol: u8) -> Result<Vec<FibRoute>, KernelError> {
        let _dumping = self.dumps.lock().await;
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            let msgs = dump(&self.handle, RouteNetlinkMessage::GetRoute(req))
                .await
                .map_err(|e| e.into_kernel("dump routes"))?;
            out.extend(msgs.iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if u8::from(r.header.protocol) == protocol
                        && r.header.kind == RouteType::Unicast =>
                {
                    fib_route(r)
                }
                _ => None,
            }));
        }
        Ok(out)
    }

    /// Removes every route of `protocol` (a protocol daemon starting afresh,
    /// or giving up); returns how many went.
    pub async fn fib_flush(&self, protocol: u8) -> Result<usize, KernelError> {
        let routes = self.fib_routes(protocol).await?;
        let ops: Vec<FibOp> = routes
            .iter()
            .map(|r| FibOp::Delete {
                destination: r.destination,
                metric: r.metric,
                table: r.table,
            })
            .collect();
        let report = self.fib_write(protocol, &ops).await;
        match report.failed.first() {
            None => Ok(report.done),
            Some((net, e)) => Err(KernelError::Netlink {
                what: format!("flush protocol {protocol} routes ({net} and others)"),
                message: e.clone(),
            }),
        }
    }
}

/// Groups the routes of a dump by destination, for callers that keep a
/// map of what they installed.
pub fn by_destination(routes: Vec<FibRoute>) -> HashMap<IpNet, FibRoute> {
    routes.into_iter().map(|r| (r.destination, r)).collect()
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_core::{Emitable, Parseable};

    use super::*;

    fn roundtrip(m: &RouteMessage) -> RouteMessage {
        let mut bytes = vec![0u8; m.buffer_len()];
        m.emit(&mut bytes);
        RouteMessage::parse(bytes.as_slice()).expect("parses")
    }

    #[test]
    fn single_and_multipath_routes_survive_the_wire() {
        let one = FibRoute {
            destination: "10.1.0.0/16".parse().expect("net"),
            nexthops: vec![NextHop::via("192.0.2.1".parse().expect("ip"))],
            metric: 20,
            table: 254,
        };
        let m = route_message(BGP_PROTO, &one);
        assert_eq!(u8::from(m.header.protocol), 186);
        assert_eq!(fib_route(&roundtrip(&m)), Some(one));

        let ecmp = FibRoute {
            destination: "2001:db8:100::/48".parse().expect("net"),
            nexthops: vec![
                NextHop {
                    gateway: "fe80::1".parse().expect("ip"),
                    ifindex: Some(4),
                    weight: 1,
                    onlink: false,
                },
                NextHop {
                    gateway: "fe80::2".parse().expect("ip"),
                    ifindex: Some(5),
                    weight: 3,
                    onlink: false,
                },
            ],
            metric: 20,
            table: 254,
        };
        let back = fib_route(&roundtrip(&route_message(BGP_PROTO, &ecmp))).expect("route");
        assert_eq!(back, ecmp, "weights and links of both hops kept");

        let del = delete_message(BGP_PROTO, &"10.1.0.0/16".parse().expect("net"), 20, 254);
        let back = roundtrip(&del);
        assert_eq!(u8::from(back.header.protocol), 186);
        assert_eq!(back.header.destination_prefix_length, 16);
    }
}
