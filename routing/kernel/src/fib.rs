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
    RouteScope, RouteType, RouteVia,
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
                .push(gateway_attribute(&route.destination, one.gateway));
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
                        .push(gateway_attribute(&route.destination, h.gateway));
                    hop
                })
                .collect();
            m.attributes.push(RouteAttribute::MultiPath(hops));
        }
    }
    m
}

/// A gateway of the route's own family goes in RTA_GATEWAY; an IPv6 one
/// for an IPv4 route (RFC 8950) needs RTA_VIA, which the kernel takes
/// with its own family (RTA_GATEWAY of the other family is refused).
fn gateway_attribute(destination: &IpNet, gateway: IpAddr) -> RouteAttribute {
    match (destination, gateway) {
        (IpNet::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        _ => RouteAttribute::Gateway(RouteAddress::from(gateway)),
    }
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
            RouteAttribute::Via(v) => gateway = via(v),
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    let gw = h.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => address(g),
                        RouteAttribute::Via(v) => via(v),
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

fn via(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
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
    ///
    /// The writes go in batches on a netlink socket of their own: hundreds
    /// of requests in one `sendmsg`, only the last of each asking for an
    /// ACK (the kernel answers failures anyway). A request per round trip
    /// through the shared connection cost about 11 µs a route, ten times
    /// what the kernel spends on it, and a full table took over a second.
    pub async fn fib_write(&self, protocol: u8, ops: &[FibOp]) -> FibReport {
        let started = Instant::now();
        if ops.is_empty() {
            return FibReport::default();
        }
        // The socket is opened here, in this thread's namespace, which must
        // be the one the handle was opened in; otherwise (or if it cannot
        // be opened) the writes go one by one through the handle. So do a
        // few writes, for which a socket and a blocking task cost more
        // than they save.
        let batch_socket = if ops.len() >= BATCH_MIN && self.same_netns_as_thread() {
            BatchSocket::open()
                .map_err(
                    |e| tracing::debug!(error = %e, "no batch netlink socket; writing one by one"),
                )
                .ok()
        } else {
            None
        };
        let mut results: Vec<Result<(), String>> = match batch_socket {
            Some(sock) => write_batched(sock, protocol, ops).await,
            None => self.fib_write_each(protocol, ops.iter()).await,
        };
        // A delete of a route that is not there is done. What else failed
        // goes again through the handle, whose answer carries the kernel's
        // extended-ACK reason; a table the kernel refuses alike is not
        // redone whole (the first few get their reason, the rest keep the
        // errno). What a broken batch socket left unwritten is redone in full.
        let mut retry = Vec::new();
        let mut refused = 0;
        for (i, (op, r)) in ops.iter().zip(results.iter_mut()).enumerate() {
            if let Err(e) = r {
                if matches!(op, FibOp::Delete { .. }) && e.contains("No such process") {
                    *r = Ok(());
                } else if e.starts_with(BATCH_BROKE) {
                    retry.push(i);
                } else if refused < RETRY_FOR_REASON {
                    refused += 1;
                    retry.push(i);
                }
            }
        }
        if !retry.is_empty() {
            let again = self
                .fib_write_each(protocol, retry.iter().map(|&i| &ops[i]))
                .await;
            for (i, r) in retry.into_iter().zip(again) {
                results[i] = r;
            }
        }
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

    /// One request per op through the shared handle, `FIB_IN_FLIGHT` at once.
    async fn fib_write_each<'a>(
        &self,
        protocol: u8,
        ops: impl Iterator<Item = &'a FibOp>,
    ) -> Vec<Result<(), String>> {
        let writes: Vec<_> = ops
            .map(|op| async move {
                let (msg, flags) = op_message(protocol, op);
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
        futures::stream::iter(writes)
            .buffered(FIB_IN_FLIGHT)
            .collect()
            .await
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

/// `ops` through the batch socket, a slice at a time on the blocking pool
/// (the requests of a slice are built there, so a full table never sits in
/// memory as netlink messages at once).
async fn write_batched(
    mut sock: BatchSocket,
    protocol: u8,
    ops: &[FibOp],
) -> Vec<Result<(), String>> {
    let mut results = Vec::with_capacity(ops.len());
    for slice in ops.chunks(OPS_PER_TASK) {
        let owned = slice.to_vec();
        let done = tokio::task::spawn_blocking(move || {
            let r = sock.write_all(protocol, &owned);
            (sock, r)
        })
        .await;
        match done {
            Ok((back, Ok(errnos))) => {
                sock = back;
                results.extend(errnos.into_iter().map(|e| {
                    if e == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::from_raw_os_error(-e).to_string())
                    }
                }));
            }
            Ok((_, Err(e))) => {
                let e = format!("{BATCH_BROKE}: {e}");
                results.resize(ops.len(), Err(e));
                return results;
            }
            Err(e) => {
                let e = format!("{BATCH_BROKE} task: {e}");
                results.resize(ops.len(), Err(e));
                return results;
            }
        }
    }
    results
}

/// How the results of writes the batch socket could not do begin.
const BATCH_BROKE: &str = "netlink batch";

/// The request for one op and its extra flags.
fn op_message(protocol: u8, op: &FibOp) -> (RouteNetlinkMessage, u16) {
    match op {
        FibOp::Replace(r) => (
            RouteNetlinkMessage::NewRoute(route_message(protocol, r)),
            NLM_F_CREATE | NLM_F_REPLACE,
        ),
        FibOp::Delete {
            destination,
            metric,
            table,
        } => (
            RouteNetlinkMessage::DelRoute(delete_message(protocol, destination, *metric, *table)),
            0,
        ),
    }
}

/// Fewer writes than this go through the shared handle.
const BATCH_MIN: usize = 16;
/// Ops handed to one blocking task.
const OPS_PER_TASK: usize = 4096;
/// Bytes of requests per `sendmsg` (the socket's send buffer, 208 KiB by
/// default, bounds one message).
const BATCH_BYTES: usize = 64 * 1024;
/// Receive buffer of the batch socket: the error answers of one batch
/// queue here until read (about 100 bytes each with the extended ACK).
/// Where net.core.rmem_max caps it lower and a batch refused whole
/// overflows it, the kernel drops answers (the last ACK with them) and
/// recv reports ENOBUFS: that slice is then redone one by one, so a lost
/// answer never reads as success.
const BATCH_RCVBUF: usize = 4 << 20;
const NLMSG_ERROR: u16 = 2;
/// Failed writes of a batch redone one by one for the kernel's reason.
const RETRY_FOR_REASON: usize = 64;
const NLMSG_HDRLEN: usize = 16;

/// A blocking rtnetlink socket for one batch of writes.
struct BatchSocket {
    sock: rtnetlink::sys::Socket,
    port: u32,
}

impl BatchSocket {
    fn open() -> std::io::Result<BatchSocket> {
        use rtnetlink::sys::{Socket, protocols::NETLINK_ROUTE};
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        let addr = sock.bind_auto()?;
        // Capped errors: a failure does not echo the whole request back.
        sock.set_cap_ack(true)?;
        sock.set_ext_ack(true)?;
        if let Err(e) = sock.set_rx_buf_sz(BATCH_RCVBUF) {
            tracing::debug!(error = %e, "cannot enlarge the batch netlink socket buffer");
        }
        Ok(BatchSocket {
            sock,
            port: addr.port_number(),
        })
    }

    /// Sends `ops` in batches; per op 0 or the kernel's negative errno.
    fn write_all(&mut self, protocol: u8, ops: &[FibOp]) -> std::io::Result<Vec<i32>> {
        use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage};
        let mut errnos = vec![0i32; ops.len()];
        let mut out = Vec::with_capacity(BATCH_BYTES + 1024);
        let mut inbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut i = 0;
        while i < ops.len() {
            out.clear();
            let first = i;
            while i < ops.len() && out.len() < BATCH_BYTES {
                let (msg, flags) = op_message(protocol, &ops[i]);
                let mut req = NetlinkMessage::from(msg);
                req.header.flags = NLM_F_REQUEST | flags;
                if i + 1 == ops.len() || out.len() + 512 >= BATCH_BYTES {
                    req.header.flags |= NLM_F_ACK;
                }
                // Sequence numbers are indices + 1 (0 is never used).
                req.header.sequence_number = u32::try_from(i + 1).unwrap_or(u32::MAX);
                req.header.port_number = self.port;
                req.finalize();
                let at = out.len();
                out.resize(at + req.buffer_len(), 0);
                req.serialize(&mut out[at..]);
                i += 1;
                if req.header.flags & NLM_F_ACK != 0 {
                    break;
                }
            }
            let last_seq = u32::try_from(i).unwrap_or(u32::MAX);
            let sent = self.sock.send(&out, 0)?;
            if sent != out.len() {
                return Err(std::io::Error::other("short netlink send"));
            }
            // Until the answer to the batch's last request: errors of the
            // others come before it, in order. The kernel handles a route
            // request inside our sendmsg, so the answers are queued by the
            // time it returns and this recv does not wait on the kernel.
            let mut waited = 0usize;
            'batch: loop {
                inbuf.clear();
                let n = self.sock.recv(&mut inbuf, 0)?;
                let mut b = &inbuf[..n.min(inbuf.len())];
                while b.len() >= NLMSG_HDRLEN {
                    let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    if len < NLMSG_HDRLEN || len > b.len() {
                        break;
                    }
                    let kind = u16::from_ne_bytes([b[4], b[5]]);
                    let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                    if kind == NLMSG_ERROR && len >= NLMSG_HDRLEN + 4 {
                        let code = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                        let idx = (seq as usize).wrapping_sub(1);
                        if (first..i).contains(&idx) {
                            errnos[idx] = code;
                        }
                        if seq == last_seq {
                            break 'batch;
                        }
                    }
                    b = &b[((len + 3) & !3).min(b.len())..];
                }
                waited += 1;
                if waited > i - first + 1 {
                    return Err(std::io::Error::other(
                        "no answer to the batch's last request",
                    ));
                }
            }
        }
        Ok(errnos)
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

        // RFC 8950: an IPv4 route via IPv6 gateways goes in RTA_VIA.
        let mut v4_via_v6 = FibRoute {
            destination: "10.2.0.0/16".parse().expect("net"),
            nexthops: vec![NextHop::via("2001:db8::1".parse().expect("ip"))],
            metric: 20,
            table: 254,
        };
        let m = route_message(BGP_PROTO, &v4_via_v6);
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Via(RouteVia::Inet6(_)))),
            "{m:?}"
        );
        assert_eq!(fib_route(&roundtrip(&m)).as_ref(), Some(&v4_via_v6));
        v4_via_v6
            .nexthops
            .push(NextHop::via("2001:db8::2".parse().expect("ip")));
        let back = fib_route(&roundtrip(&route_message(BGP_PROTO, &v4_via_v6)));
        assert_eq!(back, Some(v4_via_v6));

        let del = delete_message(BGP_PROTO, &"10.1.0.0/16".parse().expect("net"), 20, 254);
        let back = roundtrip(&del);
        assert_eq!(u8::from(back.header.protocol), 186);
        assert_eq!(back.header.destination_prefix_length, 16);
    }
}
