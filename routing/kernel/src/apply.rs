//! Carrying out a plan: netlink writes pipelined within each phase, sysctls last.

use std::collections::HashMap;
use std::net::IpAddr;

use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{
    AddressAttribute, AddressMessage, AddressProtocol, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use serde::{Deserialize, Serialize};

use crate::change::{Change, Phase, Plan, RouteSpec};
use crate::netlink::ack;
use crate::sysctl::ProcSysctl;
use crate::types::{Route, RouteKind};
use crate::{Kernel, ROUTERD_PROTO};

/// Requests in flight at once. The kernel answers each write synchronously into
/// our receive buffer; bounding the window keeps those answers from overflowing
/// it (a dropped ACK would leave a request waiting for its timeout).
const MAX_IN_FLIGHT: usize = 128;

/// What happened to each change of an applied plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Changes the kernel accepted, in plan order.
    pub applied: Vec<Change>,
    /// Changes that failed, with the kernel's (or our) reason.
    pub failed: Vec<(Change, String)>,
}

impl ApplyReport {
    /// True when every change was applied.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Kernel {
    /// Applies every change of `plan`, phase by phase (links, address removals,
    /// address adds, route removals, route writes, sysctls). A failed change is
    /// recorded and the rest still run. Sysctls are written through the calling
    /// thread's `/proc/sys`, so call this from the namespace `connect` ran in.
    pub async fn apply(&self, plan: &Plan) -> ApplyReport {
        let mut report = ApplyReport::default();
        if plan.changes.is_empty() {
            return report;
        }
        // Names are resolved now, not at plan time: a link recreated in between
        // keeps its name but not its index.
        let ifindex: Result<HashMap<String, u32>, String> = match self.links().await {
            Ok(links) => Ok(links.into_iter().map(|l| (l.name, l.index)).collect()),
            Err(e) => Err(e.to_string()),
        };

        for phase in plan.changes.chunk_by(|a, b| a.phase() == b.phase()) {
            let results: Vec<Result<(), String>> = if phase[0].phase() == Phase::Sysctls {
                phase.iter().map(|c| self.write_sysctl(c)).collect()
            } else {
                // Collected first so the stream's future type names one
                // lifetime; a lazily mapped iterator makes `apply` non-Send
                // (higher-ranked lifetime inference) for callers that box it.
                let writes: Vec<_> = phase.iter().map(|c| self.write(c, &ifindex)).collect();
                futures::stream::iter(writes)
                    .buffered(MAX_IN_FLIGHT)
                    .collect()
                    .await
            };
            for (change, result) in phase.iter().zip(results) {
                match result {
                    Ok(()) => report.applied.push(change.clone()),
                    Err(e) => {
                        tracing::warn!(change = %change, error = %e, "kernel change failed");
                        report.failed.push((change.clone(), e));
                    }
                }
            }
        }
        report
    }

    async fn write(
        &self,
        change: &Change,
        ifindex: &Result<HashMap<String, u32>, String>,
    ) -> Result<(), String> {
        let ifindex = ifindex
            .as_ref()
            .map_err(|e| format!("cannot resolve links: {e}"))?;
        let index = |name: &str| {
            ifindex
                .get(name)
                .copied()
                .ok_or_else(|| format!("link {name} does not exist"))
        };
        let (msg, flags) = match change {
            Change::SetLink {
                ifname,
                admin_up,
                mtu,
                ..
            } => {
                let mut m = LinkMessage::default();
                m.header.index = index(ifname)?;
                if let Some(t) = admin_up {
                    m.header.change_mask = LinkFlags::Up;
                    if t.to {
                        m.header.flags = LinkFlags::Up;
                    }
                }
                if let Some(t) = mtu {
                    m.attributes.push(LinkAttribute::Mtu(t.to));
                }
                (RouteNetlinkMessage::SetLink(m), 0)
            }
            Change::AddAddress {
                ifname,
                address,
                prefix_len,
                ..
            } => {
                let m = address_message(index(ifname)?, *address, *prefix_len, true);
                // REPLACE, not EXCL: an address that exists already (a promoted
                // secondary, a stale plan) is updated and tagged as ours, not an error.
                (
                    RouteNetlinkMessage::NewAddress(m),
                    NLM_F_CREATE | NLM_F_REPLACE,
                )
            }
            Change::RemoveAddress {
                ifname,
                address,
                prefix_len,
                ..
            } => {
                let m = address_message(index(ifname)?, *address, *prefix_len, false);
                (RouteNetlinkMessage::DelAddress(m), 0)
            }
            Change::AddRoute { route, .. } => {
                let m = spec_message(route, &index)?;
                (RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
            }
            Change::ReplaceRoute { to, .. } => {
                let m = spec_message(to, &index)?;
                (
                    RouteNetlinkMessage::NewRoute(m),
                    NLM_F_CREATE | NLM_F_REPLACE,
                )
            }
            Change::RemoveRoute { route, .. } => {
                (RouteNetlinkMessage::DelRoute(removal_message(route)), 0)
            }
            Change::SetSysctl { .. } => return self.write_sysctl(change),
        };
        ack(&self.handle, msg, flags).await.map_err(|e| e.message())
    }

    fn write_sysctl(&self, change: &Change) -> Result<(), String> {
        let Change::SetSysctl { key, to, .. } = change else {
            return Err("not a sysctl change".to_string());
        };
        if !self.same_netns_as_thread() {
            return Err(
                "this thread is in another network namespace than the one the \
                        Kernel was connected in; apply from that namespace"
                    .to_string(),
            );
        }
        ProcSysctl.write(key, to).map_err(|e| e.to_string())
    }
}

fn family(addr: &IpAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn address_message(index: u32, addr: IpAddr, prefix_len: u8, add: bool) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&addr);
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    // IPv4 takes the scope from us (as `ip` does: host for 127/8); IPv6 derives it.
    m.header.scope = match addr {
        IpAddr::V4(v4) if v4.is_loopback() => AddressScope::Host,
        _ => AddressScope::Universe,
    };
    // IFA_LOCAL and IFA_ADDRESS equal: a plain, not point-to-point, address.
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    if add {
        if let IpAddr::V4(v4) = addr
            && prefix_len <= 30
            && let Ok(net) = ipnet::Ipv4Net::new(v4, prefix_len)
        {
            // What `ip addr add … brd +` and most network managers set: without it
            // the subnet has no broadcast address (DHCP servers and ARP tools expect one).
            m.attributes
                .push(AddressAttribute::Broadcast(net.broadcast()));
        }
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(
                ROUTERD_PROTO,
            )));
    }
    m
}

fn route_type(kind: RouteKind) -> RouteType {
    match kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Local => RouteType::Local,
        RouteKind::Other => RouteType::Unspec,
    }
}

/// The header and key attributes every route message carries.
fn route_base(table: u32, destination: &IpNet, metric: u32, kind: RouteKind) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(&destination.addr());
    m.header.destination_prefix_length = destination.prefix_len();
    // rtm_table is 8 bits; RTA_TABLE carries the full id and wins when present.
    m.header.table = u8::try_from(table).unwrap_or(0);
    m.header.kind = route_type(kind);
    if destination.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                destination.addr(),
            )));
    }
    m.attributes.push(RouteAttribute::Table(table));
    m.attributes.push(RouteAttribute::Priority(metric));
    m
}

fn spec_message(
    spec: &RouteSpec,
    index: &impl Fn(&str) -> Result<u32, String>,
) -> Result<RouteMessage, String> {
    let mut m = route_base(spec.table, &spec.destination, spec.metric, spec.kind);
    m.header.protocol = RouteProtocol::from(ROUTERD_PROTO);
    // A unicast route straight out of a device is on-link (`scope link`, as `ip`
    // gives it); everything else is universe.
    m.header.scope = if spec.kind == RouteKind::Unicast && spec.gateway.is_none() {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if let Some(gw) = spec.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(ifname) = &spec.ifname {
        m.attributes.push(RouteAttribute::Oif(index(ifname)?));
    }
    if let Some(src) = spec.pref_src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    Ok(m)
}

/// Deletes exactly the observed route: protocol, type, gateway and device narrow
/// the kernel's match, so a same-keyed route of someone else is not hit.
fn removal_message(route: &Route) -> RouteMessage {
    let mut m = route_base(route.table, &route.destination, route.metric, route.kind);
    m.header.protocol = RouteProtocol::from(route.protocol);
    m.header.scope = RouteScope::NoWhere;
    if let Some(gw) = route.gateway {
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(oif) = route.oif {
        m.attributes.push(RouteAttribute::Oif(oif));
    }
    m
}
