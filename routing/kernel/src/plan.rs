//! The pure heart of the crate: what to change so the kernel holds what the
//! intents want. No I/O: the kernel's state comes in as [`Observed`], sysctls
//! through a [`SysctlReader`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::ROUTERD_PROTO;
use crate::change::{Change, Pending, Plan, RemovalReason, RouteSpec, Transition};
use crate::sysctl::{SysctlReader, canonical_key, normalise_value};
use crate::types::{
    Desired, LOCAL_TABLE, Link, Observed, Route, RouteIntent, RouteKind, SysctlCompare,
    default_metric,
};

/// What identifies a route to the kernel: a second route with the same key is
/// refused (or, with NLM_F_REPLACE, replaces the first).
type RouteKey = (u32, IpNet, u32);

/// Computes the changes that make `observed` match `desired`, and the intents
/// that must wait. Pure: the same inputs always give the same plan, in the order
/// links, address removals, address adds, route removals, route writes, sysctls.
pub fn plan(desired: &Desired, observed: &Observed, sysctls: &dyn SysctlReader) -> Plan {
    let links: HashMap<&str, &Link> = observed
        .links
        .iter()
        .map(|l| (l.name.as_str(), l))
        .collect();
    let mut pending = Vec::new();
    let mut changes = plan_links(desired, &links, &mut pending);
    changes.extend(plan_addresses(desired, observed, &links, &mut pending));
    changes.extend(plan_routes(desired, observed, &links, &mut pending));
    changes.extend(plan_sysctls(desired, sysctls, &mut pending));
    Plan { changes, pending }
}

fn pend(pending: &mut Vec<Pending>, owner: &str, subject: String, reason: String) {
    pending.push(Pending {
        owner: owner.to_string(),
        subject,
        reason,
    });
}

fn missing_link(ifname: &str) -> String {
    format!("link {ifname} does not exist")
}

#[derive(Default)]
struct LinkWant<'a> {
    admin_up: Option<(bool, &'a str)>,
    mtu: Option<(u32, &'a str)>,
}

fn plan_links(
    desired: &Desired,
    links: &HashMap<&str, &Link>,
    pending: &mut Vec<Pending>,
) -> Vec<Change> {
    let mut wants: BTreeMap<&str, LinkWant> = BTreeMap::new();
    for li in &desired.links {
        let subject = format!("link {}", li.ifname);
        if !links.contains_key(li.ifname.as_str()) {
            pend(pending, &li.owner, subject, missing_link(&li.ifname));
            continue;
        }
        let want = wants.entry(li.ifname.as_str()).or_default();
        if let Some(up) = li.admin_up {
            match want.admin_up {
                None => want.admin_up = Some((up, &li.owner)),
                Some((prev, other)) if prev != up => pend(
                    pending,
                    &li.owner,
                    subject.clone(),
                    format!("admin state conflicts with {other}"),
                ),
                Some(_) => {}
            }
        }
        if let Some(mtu) = li.mtu {
            match want.mtu {
                _ if mtu == 0 => {
                    pend(
                        pending,
                        &li.owner,
                        subject,
                        "MTU 0 is not valid".to_string(),
                    );
                }
                None => want.mtu = Some((mtu, &li.owner)),
                Some((prev, other)) if prev != mtu => pend(
                    pending,
                    &li.owner,
                    subject,
                    format!("MTU {mtu} conflicts with {other}, which wants {prev}"),
                ),
                Some(_) => {}
            }
        }
    }

    let mut changes = Vec::new();
    for (ifname, want) in wants {
        let Some(link) = links.get(ifname) else {
            continue;
        };
        let admin = want.admin_up.filter(|(up, _)| *up != link.admin_up);
        let mtu = want.mtu.filter(|(mtu, _)| *mtu != link.mtu);
        if admin.is_none() && mtu.is_none() {
            continue;
        }
        let mut owners: Vec<&str> = admin
            .iter()
            .map(|a| a.1)
            .chain(mtu.iter().map(|m| m.1))
            .collect();
        owners.dedup();
        changes.push(Change::SetLink {
            owner: owners.join(", "),
            ifname: ifname.to_string(),
            admin_up: admin.map(|(to, _)| Transition {
                from: link.admin_up,
                to,
            }),
            mtu: mtu.map(|(to, _)| Transition { from: link.mtu, to }),
        });
    }
    changes
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn is_ipv6_link_local(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn plan_addresses(
    desired: &Desired,
    observed: &Observed,
    links: &HashMap<&str, &Link>,
    pending: &mut Vec<Pending>,
) -> Vec<Change> {
    // (ifname, address, prefix) → owner; sorted so adds come out in a stable order.
    let mut wanted: BTreeMap<(&str, IpAddr, u8), &str> = BTreeMap::new();
    // (ifname, address) → (prefix, owner): one address has one prefix length.
    let mut by_addr: HashMap<(&str, IpAddr), (u8, &str)> = HashMap::new();
    // (ifname, is IPv6) → owner of the first exclusive intent.
    let mut exclusive: HashMap<(&str, bool), &str> = HashMap::new();

    for ai in &desired.addresses {
        let subject = format!("address {}/{} on {}", ai.address, ai.prefix_len, ai.ifname);
        if ai.prefix_len > max_prefix(&ai.address) {
            pend(
                pending,
                &ai.owner,
                subject,
                "prefix length is out of range".to_string(),
            );
            continue;
        }
        if !links.contains_key(ai.ifname.as_str()) {
            pend(pending, &ai.owner, subject, missing_link(&ai.ifname));
            continue;
        }
        let ifname = ai.ifname.as_str();
        if let Some((prefix, other)) = by_addr.get(&(ifname, ai.address)) {
            if *prefix != ai.prefix_len {
                let reason = format!("conflicts with {other}, which wants /{prefix}");
                pend(pending, &ai.owner, subject, reason);
            }
            continue;
        }
        by_addr.insert((ifname, ai.address), (ai.prefix_len, &ai.owner));
        wanted.insert((ifname, ai.address, ai.prefix_len), &ai.owner);
        if ai.exclusive {
            exclusive
                .entry((ifname, ai.address.is_ipv6()))
                .or_insert(&ai.owner);
        }
    }

    let mut removals = Vec::new();
    let mut present = HashSet::new();
    let mut removed_primaries = Vec::new();
    for a in &observed.addresses {
        let key = (a.ifname.as_str(), a.addr, a.prefix_len);
        present.insert(key);
        if wanted.contains_key(&key) {
            continue;
        }
        let (owner, reason) = if let Some((_, owner)) = by_addr.get(&(key.0, key.1)) {
            (Some(*owner), RemovalReason::PrefixConflict)
        } else if let Some(owner) = exclusive.get(&(key.0, a.addr.is_ipv6()))
            && !is_ipv6_link_local(&a.addr)
        {
            (Some(*owner), RemovalReason::Exclusive)
        } else if a.protocol == ROUTERD_PROTO {
            (None, RemovalReason::Orphaned)
        } else {
            continue;
        };
        if a.addr.is_ipv4() && !a.flags.secondary {
            removed_primaries.push(a);
        }
        removals.push(Change::RemoveAddress {
            owner: owner.map(str::to_string),
            reason,
            ifname: a.ifname.clone(),
            address: a.addr,
            prefix_len: a.prefix_len,
        });
    }
    removals.sort_by(|x, y| address_sort_key(x).cmp(&address_sort_key(y)));

    // Removing an IPv4 primary address makes the kernel delete the secondaries of
    // its subnet too (or promote one, with promote_secondaries): wanted ones among
    // them are added again after the removals. Adds replace an existing address,
    // so a promoted one does not make that an error.
    let mut lost = HashSet::new();
    for primary in removed_primaries {
        let Ok(subnet) = IpNet::new(primary.addr, primary.prefix_len) else {
            continue;
        };
        for a in &observed.addresses {
            let key = (a.ifname.as_str(), a.addr, a.prefix_len);
            if a.ifname == primary.ifname
                && a.flags.secondary
                && a.prefix_len == primary.prefix_len
                && subnet.contains(&a.addr)
                && wanted.contains_key(&key)
            {
                lost.insert(key);
            }
        }
    }

    let adds = wanted
        .iter()
        .filter(|(key, _)| !present.contains(*key) || lost.contains(*key))
        .map(
            |((ifname, address, prefix_len), owner)| Change::AddAddress {
                owner: owner.to_string(),
                ifname: ifname.to_string(),
                address: *address,
                prefix_len: *prefix_len,
            },
        );
    removals.extend(adds);
    removals
}

fn address_sort_key(c: &Change) -> Option<(&str, IpAddr, u8)> {
    match c {
        Change::RemoveAddress {
            ifname,
            address,
            prefix_len,
            ..
        } => Some((ifname.as_str(), *address, *prefix_len)),
        _ => None,
    }
}

/// The route an intent asks for, with what the kernel would fill in filled in.
pub(crate) fn route_spec(ri: &RouteIntent) -> RouteSpec {
    let destination = ri.destination.trunc();
    RouteSpec {
        table: ri.table,
        metric: ri.metric.unwrap_or_else(|| default_metric(&destination)),
        destination,
        gateway: ri.gateway,
        ifname: ri.ifname.clone(),
        kind: ri.kind,
        pref_src: ri.pref_src,
    }
}

/// Why an intent cannot be programmed as written, if it cannot.
fn invalid_route(spec: &RouteSpec) -> Option<String> {
    let v6 = matches!(spec.destination, IpNet::V6(_));
    let family = if v6 { "IPv6" } else { "IPv4" };
    match spec.kind {
        RouteKind::Unicast => {
            if spec.gateway.is_none() && spec.ifname.is_none() {
                return Some("a unicast route needs a gateway or an interface".to_string());
            }
        }
        RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit => {
            if spec.gateway.is_some() || spec.ifname.is_some() {
                return Some(format!(
                    "a {} route takes no gateway or interface",
                    spec.kind
                ));
            }
        }
        RouteKind::Local | RouteKind::Other => {
            return Some(
                "routerd programs unicast, blackhole, unreachable and prohibit routes only"
                    .to_string(),
            );
        }
    }
    for (what, addr) in [("gateway", spec.gateway), ("source", spec.pref_src)] {
        if let Some(addr) = addr
            && addr.is_ipv6() != v6
        {
            return Some(format!("{what} {addr} is not an {family} address"));
        }
    }
    if spec.table == 0 || spec.table == LOCAL_TABLE {
        return Some(format!("table {} cannot hold routerd's routes", spec.table));
    }
    None
}

/// True when an observed route already does what the spec asks. The output
/// device is compared only when the intent names one: otherwise the kernel
/// chose it from the gateway (and reports `lo` for IPv6 blackholes).
fn satisfies(spec: &RouteSpec, r: &Route) -> bool {
    r.kind == spec.kind
        && r.gateway == spec.gateway
        && r.pref_src == spec.pref_src
        && spec
            .ifname
            .as_ref()
            .is_none_or(|n| r.ifname.as_ref() == Some(n))
}

fn plan_routes(
    desired: &Desired,
    observed: &Observed,
    links: &HashMap<&str, &Link>,
    pending: &mut Vec<Pending>,
) -> Vec<Change> {
    let mut wanted: BTreeMap<RouteKey, (RouteSpec, &str)> = BTreeMap::new();
    for ri in &desired.routes {
        let spec = route_spec(ri);
        let subject = format!("route {spec}");
        if let Some(reason) = invalid_route(&spec) {
            pend(pending, &ri.owner, subject, reason);
            continue;
        }
        if let Some(ifname) = &spec.ifname
            && !links.contains_key(ifname.as_str())
        {
            pend(pending, &ri.owner, subject, missing_link(ifname));
            continue;
        }
        let key = (spec.table, spec.destination, spec.metric);
        match wanted.get(&key) {
            Some((existing, _)) if *existing == spec => {}
            Some((_, other)) => {
                let reason = format!("conflicts with {other} (same table, destination and metric)");
                pend(pending, &ri.owner, subject, reason);
            }
            None => {
                wanted.insert(key, (spec, &ri.owner));
            }
        }
    }

    let mut present: HashMap<RouteKey, Vec<&Route>> = HashMap::new();
    for r in &observed.routes {
        present
            .entry((r.table, r.destination, r.metric))
            .or_default()
            .push(r);
    }

    let mut removals: Vec<(RouteKey, Change)> = observed
        .routes
        .iter()
        .filter(|r| r.protocol == ROUTERD_PROTO)
        .map(|r| ((r.table, r.destination, r.metric), r))
        .filter(|(key, _)| !wanted.contains_key(key))
        .map(|(key, r)| {
            let change = Change::RemoveRoute {
                owner: None,
                reason: RemovalReason::Orphaned,
                route: r.clone(),
            };
            (key, change)
        })
        .collect();
    removals.sort_by_key(|a| a.0);
    let mut changes: Vec<Change> = removals.into_iter().map(|(_, c)| c).collect();

    let mut adds = Vec::new();
    for (key, (spec, owner)) in wanted {
        match present.get(&key) {
            None => adds.push(Change::AddRoute {
                owner: owner.to_string(),
                route: spec,
            }),
            Some(routes) if routes.iter().any(|r| satisfies(&spec, r)) => {}
            Some(routes) => changes.push(Change::ReplaceRoute {
                owner: owner.to_string(),
                from: routes[0].clone(),
                to: spec,
            }),
        }
    }
    changes.extend(adds);
    changes
}

fn plan_sysctls(
    desired: &Desired,
    reader: &dyn SysctlReader,
    pending: &mut Vec<Pending>,
) -> Vec<Change> {
    let mut seen: HashMap<String, (&str, SysctlCompare, &str)> = HashMap::new();
    let mut changes = Vec::new();
    for si in &desired.sysctls {
        let subject = format!("sysctl {}", si.key);
        let key = canonical_key(&si.key);
        if let Some((value, compare, other)) = seen.get(&key) {
            if normalise_value(value) != normalise_value(&si.value) || *compare != si.compare {
                pend(
                    pending,
                    &si.owner,
                    subject,
                    format!("conflicts with {other}"),
                );
            }
            continue;
        }
        seen.insert(key.clone(), (&si.value, si.compare, &si.owner));

        let want = normalise_value(&si.value);
        let want_num = want.parse::<i64>();
        if si.compare == SysctlCompare::AtLeast && want_num.is_err() {
            pend(
                pending,
                &si.owner,
                subject,
                format!("wanted value {want:?} is not a number"),
            );
            continue;
        }
        let current = match reader.read(&si.key) {
            Ok(Some(v)) => normalise_value(&v),
            Ok(None) if si.optional => continue,
            Ok(None) => {
                pend(
                    pending,
                    &si.owner,
                    subject,
                    format!("sysctl key {} does not exist", si.key),
                );
                continue;
            }
            Err(e) => {
                pend(pending, &si.owner, subject, format!("cannot read it: {e}"));
                continue;
            }
        };
        let differs = match (si.compare, want_num) {
            (SysctlCompare::AtLeast, Ok(want_num)) => match current.parse::<i64>() {
                Ok(cur) => cur < want_num,
                Err(_) => {
                    let reason = format!("current value {current:?} is not a number");
                    pend(pending, &si.owner, subject, reason);
                    continue;
                }
            },
            _ => match &si.expected {
                Some(expected) => current != normalise_value(expected),
                None => current != want,
            },
        };
        if differs {
            changes.push((
                key,
                Change::SetSysctl {
                    owner: si.owner.clone(),
                    key: si.key.clone(),
                    from: current,
                    to: want,
                },
            ));
        }
    }
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
