//! From a config to kernel intents, and from a plan back to the resources it
//! concerns. Pure: used by the controllers of `routerd serve` and by the
//! one-shot `routerd plan` / `routerd apply --once`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use routerd_config::Config;
use routerd_config::kinds::{
    DHCPv4Client, DHCPv6PrefixDelegation, DSLiteTunnel, IPv4Route, IPv4StaticAddress,
    IPv4StaticRoute, IPv6DelegatedAddress, IPv6Route, IPv6StaticAddress, IPv6StaticRoute,
    Interface, RouteSpec, RouteType, StaticAddress, Sysctl, SysctlCompare,
};
use routerd_config::types::ResourceRef;
use routerd_kernel::{
    AddressIntent, Change, Desired, LinkIntent, MAIN_TABLE, Observed, Pending, Plan, RemovalReason,
    RouteIntent, RouteKind, SysctlIntent,
};

use crate::gate::{Closed, Lookup, depends_blocks, value_from, when_blocks};

/// The kernel-facing resource families, one controller each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Interface admin state and MTU.
    Links,
    /// Static addresses.
    Addresses,
    /// Static routes.
    Routes,
    /// Sysctls.
    Sysctls,
}

impl Family {
    /// All families in apply order.
    pub const ALL: [Family; 4] = [
        Family::Links,
        Family::Addresses,
        Family::Routes,
        Family::Sysctls,
    ];

    /// The controller name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Links => "links",
            Family::Addresses => "addresses",
            Family::Routes => "routes",
            Family::Sysctls => "sysctls",
        }
    }

    /// The kinds the family reconciles.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            Family::Links => &["Interface"],
            Family::Addresses => &[
                "IPv4StaticAddress",
                "IPv6StaticAddress",
                "IPv6DelegatedAddress",
            ],
            Family::Routes => &[
                "IPv4Route",
                "IPv6Route",
                "IPv4StaticRoute",
                "IPv6StaticRoute",
            ],
            Family::Sysctls => &["Sysctl"],
        }
    }

    /// The family a change belongs to.
    pub fn of(change: &Change) -> Family {
        match change {
            Change::SetLink { .. } => Family::Links,
            Change::AddAddress { .. } | Change::RemoveAddress { .. } => Family::Addresses,
            Change::AddRoute { .. } | Change::ReplaceRoute { .. } | Change::RemoveRoute { .. } => {
                Family::Routes
            }
            Change::SetSysctl { .. } => Family::Sysctls,
        }
    }
}

/// The link a change touches, if any.
pub fn change_ifname(change: &Change) -> Option<&str> {
    match change {
        Change::SetLink { ifname, .. }
        | Change::AddAddress { ifname, .. }
        | Change::RemoveAddress { ifname, .. } => Some(ifname),
        Change::AddRoute { route, .. } => route.ifname.as_deref(),
        Change::ReplaceRoute { to, .. } => to.ifname.as_deref(),
        Change::RemoveRoute { route, .. } => route.ifname.as_deref(),
        Change::SetSysctl { .. } => None,
    }
}

/// The destination a route change touches, if it is one.
pub fn change_destination(change: &Change) -> Option<IpNet> {
    match change {
        Change::AddRoute { route, .. } => Some(route.destination),
        Change::ReplaceRoute { to, .. } => Some(to.destination),
        Change::RemoveRoute { route, .. } => Some(route.destination),
        _ => None,
    }
}

/// What the config wants from the kernel right now.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Intents for every resource whose gates are open.
    pub desired: Desired,
    /// Resources held back, with why (`when`, `dependsOn`, `*From`).
    pub blocked: Vec<(String, String)>,
    /// Addresses whose gate cannot be decided yet (a status not reported):
    /// whatever the kernel has for them stays.
    pub held_addresses: Vec<(String, IpNet)>,
    /// Route destinations held the same way.
    pub held_routes: Vec<IpNet>,
    /// Links whose routerd-owned addresses and routes are held: a DHCP
    /// client has not reported its lease yet, so which of them it still
    /// wants is unknown.
    pub held_links: Vec<String>,
    /// A delegation has not reported yet: routerd's unreachable routes
    /// (one per delegated prefix, whose prefixes are not known yet) stay.
    pub hold_unreachable: bool,
    /// Status fields of resources whose intents were derived (the address
    /// an `IPv6DelegatedAddress` computed from its delegation).
    pub derived: Vec<(String, serde_json::Map<String, serde_json::Value>)>,
}

impl DesiredState {
    fn block(&mut self, id: String, gate: &Closed) {
        self.blocked.push((id, gate.reason.clone()));
    }
}

/// Drops from `plan` the removals of kernel state that belongs to held
/// resources: right after a restart, a route gated on a HealthCheck must not
/// flap out and back while the check's daemon reports its phase.
pub fn keep_held(plan: &mut Plan, state: &DesiredState) {
    plan.changes.retain(|change| match change {
        Change::RemoveAddress {
            reason: RemovalReason::Orphaned,
            ifname,
            address,
            prefix_len,
            ..
        } => {
            !state.held_links.contains(ifname)
                && !state.held_addresses.iter().any(|(i, net)| {
                    i == ifname && net.addr() == *address && net.prefix_len() == *prefix_len
                })
        }
        Change::RemoveRoute {
            reason: RemovalReason::Orphaned,
            route,
            ..
        } => {
            let held = (state.hold_unreachable && route.kind == RouteKind::Unreachable)
                || state.held_routes.contains(&route.destination)
                || route
                    .ifname
                    .as_ref()
                    .is_some_and(|i| state.held_links.contains(i));
            !held
        }
        _ => true,
    });
}

/// Kernel interface name of the Interface resource `name`.
pub fn ifname_of(config: &Config, name: &str) -> Option<String> {
    config.spec_of::<Interface>(name).map(|s| s.ifname.clone())
}

/// Computes the intents of `config`, consulting `lookup` for gates and `*From`.
pub fn desired(config: &Config, lookup: &dyn Lookup) -> DesiredState {
    let mut out = DesiredState::default();
    for (r, spec) in config.of_kind::<Interface>() {
        if let Some(gate) = when_blocks(spec.when.as_ref(), lookup) {
            out.block(r.id(), &gate);
            continue;
        }
        if spec.is_managed() {
            out.desired.links.push(LinkIntent {
                owner: r.id(),
                ifname: spec.ifname.clone(),
                admin_up: spec.desired_admin_up(),
                mtu: spec.mtu,
            });
        }
    }
    let v4 = config
        .of_kind::<IPv4StaticAddress>()
        .map(|(r, s)| (r, s as &dyn StaticAddress));
    let v6 = config
        .of_kind::<IPv6StaticAddress>()
        .map(|(r, s)| (r, s as &dyn StaticAddress));
    for (r, spec) in v4.chain(v6) {
        if let Some(gate) = when_blocks(spec.when(), lookup) {
            if gate.unknown
                && let Some(ifname) = ifname_of(config, spec.interface())
            {
                out.held_addresses.push((ifname, spec.net()));
            }
            out.block(r.id(), &gate);
            continue;
        }
        match ifname_of(config, spec.interface()) {
            Some(ifname) => out.desired.addresses.push(AddressIntent::new(
                &r.id(),
                &ifname,
                spec.net(),
                spec.is_exclusive(),
            )),
            None => out.blocked.push((
                r.id(),
                format!(
                    "interface `{}` is not an Interface this build manages",
                    spec.interface()
                ),
            )),
        }
    }
    derived_intents(config, lookup, &mut out);
    let r4 = config
        .of_kind::<IPv4Route>()
        .map(|(r, s)| (r, s as &dyn RouteSpec));
    let r6 = config
        .of_kind::<IPv6Route>()
        .map(|(r, s)| (r, s as &dyn RouteSpec));
    for (r, spec) in r4.chain(r6) {
        match route_intent(&r.id(), spec, lookup) {
            Ok(intent) => out.desired.routes.push(intent),
            Err(gate) => {
                if gate.unknown {
                    out.held_routes.push(spec.destination());
                }
                out.block(r.id(), &gate);
            }
        }
    }
    let s4 = config
        .of_kind::<IPv4StaticRoute>()
        .map(|(r, s)| (r, s.destination(), s.via(), &s.interface, s.metric));
    let s6 = config
        .of_kind::<IPv6StaticRoute>()
        .map(|(r, s)| (r, s.destination(), s.via(), &s.interface, s.metric));
    for (r, destination, via, interface, metric) in s4.chain(s6) {
        match ifname_of(config, interface) {
            Some(ifname) => {
                let mut intent = RouteIntent::unicast(&r.id(), destination, via, Some(&ifname));
                intent.metric = metric;
                out.desired.routes.push(intent);
            }
            None => out.blocked.push((
                r.id(),
                format!("interface `{interface}` is not an Interface this build manages"),
            )),
        }
    }
    for (r, spec) in config.of_kind::<Sysctl>() {
        if let Some(gate) = when_blocks(spec.when.as_ref(), lookup) {
            out.block(r.id(), &gate);
            continue;
        }
        if spec.runtime == Some(false) {
            continue;
        }
        out.desired.sysctls.push(SysctlIntent {
            owner: r.id(),
            key: spec.key.clone(),
            value: spec.value.clone(),
            expected: spec.expected_value.clone(),
            compare: match spec.compare.unwrap_or_default() {
                SysctlCompare::Exact => routerd_kernel::SysctlCompare::Exact,
                SysctlCompare::AtLeast => routerd_kernel::SysctlCompare::AtLeast,
            },
            optional: spec.optional.unwrap_or(false),
        });
    }
    // HealthChecks have no kernel intents: their daemons are the healthcheck
    // controller's desired state.
    out
}

/// Intents from what DHCP clients learned: delegated LAN addresses and
/// DHCPv4 leases (see [`crate::derived`]).
fn derived_intents(config: &Config, lookup: &dyn Lookup, out: &mut DesiredState) {
    for (r, spec) in config.of_kind::<IPv6DelegatedAddress>() {
        let id = r.id();
        let Some(ifname) = ifname_of(config, &spec.interface) else {
            out.blocked.push((
                id,
                format!(
                    "interface `{}` is not an Interface this build manages",
                    spec.interface
                ),
            ));
            continue;
        };
        let gate = when_blocks(spec.when.as_ref(), lookup)
            .or_else(|| depends_blocks(&spec.depends_on, lookup));
        let derived = match gate {
            Some(gate) => Err(gate),
            None => crate::derived::delegated_address(spec, lookup),
        };
        match derived {
            Ok(d) => {
                out.desired.addresses.push(AddressIntent::new(
                    &id,
                    &ifname,
                    IpNet::V6(d.address),
                    false,
                ));
                out.derived.push((id, d.fields()));
            }
            Err(gate) => {
                if gate.unknown {
                    out.held_links.push(ifname);
                }
                out.block(id, &gate);
            }
        }
    }
    // RFC 7084 WPD-5: packets to a delegated prefix's unassigned subnets
    // must not follow the default route back to the ISP (a loop until the
    // hop limit runs out); an unreachable route for the whole delegation
    // answers them at once, and the LAN /64s, more specific, still win.
    for (r, _) in config.of_kind::<DHCPv6PrefixDelegation>() {
        let pd = ResourceRef {
            kind: "DHCPv6PrefixDelegation".into(),
            name: r.name.clone(),
        };
        if let Some(gate) = crate::derived::lease_blocks(&pd, lookup) {
            out.hold_unreachable |= gate.unknown;
            continue;
        }
        let prefixes = lookup.field(&pd, "prefixes");
        for p in prefixes
            .as_ref()
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(net) = p
                .get("prefix")
                .and_then(|v| v.as_str()?.parse::<IpNet>().ok())
            {
                out.desired.routes.push(RouteIntent {
                    kind: RouteKind::Unreachable,
                    ..RouteIntent::blackhole(&r.id(), net.trunc())
                });
            }
        }
    }
    for (r, spec) in config.of_kind::<DHCPv4Client>() {
        let id = r.id();
        let Some(ifname) = ifname_of(config, &spec.interface) else {
            continue;
        };
        if when_blocks(spec.when.as_ref(), lookup).is_some() {
            continue;
        }
        let client = ResourceRef {
            kind: "DHCPv4Client".into(),
            name: r.name.clone(),
        };
        match crate::derived::v4_lease(&client, lookup) {
            Ok(lease) => {
                let (address, routes) = crate::derived::v4_intents(&id, &ifname, spec, &lease);
                out.desired.addresses.push(address);
                out.desired.routes.extend(routes);
                // Option 26, unless the Interface sets the MTU itself.
                let configured = out
                    .desired
                    .links
                    .iter()
                    .any(|l| l.ifname == ifname && l.mtu.is_some());
                if let Some(mtu) = lease.mtu.filter(|m| *m >= crate::derived::V4_MTU_MIN)
                    && !configured
                {
                    out.desired.links.push(LinkIntent {
                        owner: id.clone(),
                        ifname: ifname.clone(),
                        admin_up: None,
                        mtu: Some(mtu),
                    });
                }
            }
            Err(gate) if gate.unknown => out.held_links.push(ifname),
            Err(_) => {}
        }
    }
    for (r, spec) in config.of_kind::<DSLiteTunnel>() {
        let tunnel = ResourceRef {
            kind: "DSLiteTunnel".into(),
            name: r.name.clone(),
        };
        // The DS-Lite controller reports Up once the link is there with
        // its AFTR and B4 address; only then do they become kernel state.
        let phase = lookup
            .field(&tunnel, "phase")
            .and_then(|p| p.as_str().map(str::to_string));
        match phase.as_deref() {
            Some("Up") => {}
            // Not reported yet (routerd just started), or its inputs not
            // yet: what routerd holds on the tunnel stays.
            None | Some("Undecided") => {
                out.held_links.push(spec.ifname(&r.name).to_string());
                continue;
            }
            Some(_) => continue,
        }
        let text = |f: &str| {
            lookup
                .field(&tunnel, f)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        if let (Some(local), Some(link)) = (text("localAddress"), text("localInterface"))
            && let Ok(local) = local.parse::<std::net::Ipv6Addr>()
        {
            out.desired.addresses.push(AddressIntent::new(
                &r.id(),
                &link,
                IpNet::V6(ipnet::Ipv6Net::from(local)),
                false,
            ));
        }
        if spec.default_route.unwrap_or(true) {
            let mut route = RouteIntent::unicast(
                &r.id(),
                "0.0.0.0/0".parse().unwrap_or_default(),
                None,
                Some(spec.ifname(&r.name)),
            );
            route.metric = spec.route_metric;
            out.desired.routes.push(route);
        }
    }
}

fn route_intent(
    owner: &str,
    spec: &dyn RouteSpec,
    lookup: &dyn Lookup,
) -> Result<RouteIntent, Closed> {
    if let Some(gate) = when_blocks(spec.when(), lookup) {
        return Err(gate);
    }
    if let Some(gate) = depends_blocks(spec.depends_on(), lookup) {
        return Err(gate);
    }
    let definite = |reason: String| Closed {
        reason,
        unknown: false,
    };
    let gateway = match spec.gateway_from() {
        Some(from) => match value_from(from, lookup)? {
            Some(text) => {
                let ip = text.split('/').next().unwrap_or_default();
                Some(ip.parse::<IpAddr>().map_err(|_| {
                    definite(format!(
                        "gatewayFrom {} gave `{text}`, which is not an address",
                        from.resource
                    ))
                })?)
            }
            None => None,
        },
        None => spec.gateway(),
    };
    let device = match spec.device_from() {
        Some(from) => value_from(from, lookup)?,
        None => spec.device().map(str::to_string),
    };
    let mut intent = match spec.route_type() {
        RouteType::Unicast => {
            RouteIntent::unicast(owner, spec.destination(), gateway, device.as_deref())
        }
        RouteType::Blackhole => RouteIntent::blackhole(owner, spec.destination()),
    };
    if gateway.is_none() && device.is_none() && intent.kind == RouteKind::Unicast {
        return Err(definite("no gateway or device could be resolved".into()));
    }
    intent.metric = spec.metric();
    intent.pref_src = spec.preferred_source();
    intent.table = MAIN_TABLE;
    Ok(intent)
}

/// Which part of its family a reconcile covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every resource of the family, and orphans anywhere.
    All,
    /// These resources, and whatever (orphans included) is on these links
    /// or routes to these destinations.
    Some {
        /// `Kind/name` of resources.
        resources: BTreeSet<String>,
        /// Kernel interface names.
        ifnames: BTreeSet<String>,
        /// Route destinations.
        destinations: BTreeSet<IpNet>,
    },
}

impl Scope {
    /// The empty scope.
    pub fn none() -> Scope {
        Scope::Some {
            resources: BTreeSet::new(),
            ifnames: BTreeSet::new(),
            destinations: BTreeSet::new(),
        }
    }

    /// True when the scope covers nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Scope::Some { resources, ifnames, destinations } if resources.is_empty() && ifnames.is_empty() && destinations.is_empty())
    }

    /// Widens `self` to also cover `other`.
    pub fn merge(&mut self, other: Scope) {
        match (&mut *self, other) {
            (Scope::All, _) => {}
            (_, Scope::All) => *self = Scope::All,
            (
                Scope::Some {
                    resources,
                    ifnames,
                    destinations,
                },
                Scope::Some {
                    resources: r,
                    ifnames: i,
                    destinations: d,
                },
            ) => {
                destinations.extend(d);
                resources.extend(r);
                ifnames.extend(i);
            }
        }
    }

    /// Whether the scope covers a resource.
    pub fn covers_resource(&self, id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Some { resources, .. } => resources.contains(id),
        }
    }

    /// Whether the scope covers a change.
    pub fn covers(&self, change: &Change) -> bool {
        match self {
            Scope::All => true,
            Scope::Some {
                resources,
                ifnames,
                destinations,
            } => {
                change.owner().is_some_and(|o| resources.contains(o))
                    || change_ifname(change).is_some_and(|i| ifnames.contains(i))
                    || change_destination(change).is_some_and(|d| destinations.contains(&d))
            }
        }
    }
}

/// The part of `plan` that belongs to `family` and `scope`, minus changes
/// to protected interfaces (returned separately).
pub fn select(
    plan: &Plan,
    family: Family,
    scope: &Scope,
    protected: &[String],
) -> (Plan, Vec<Change>) {
    let mut selected = Plan::default();
    let mut skipped = Vec::new();
    for change in &plan.changes {
        if Family::of(change) != family || !scope.covers(change) {
            continue;
        }
        if change_ifname(change).is_some_and(|i| protected.iter().any(|p| p == i)) {
            skipped.push(change.clone());
        } else {
            selected.changes.push(change.clone());
        }
    }
    selected.pending = plan
        .pending
        .iter()
        .filter(|p| {
            family
                .kinds()
                .iter()
                .any(|k| p.owner.starts_with(&format!("{k}/")))
        })
        .filter(|p| scope.covers_resource(&p.owner))
        .cloned()
        .collect::<Vec<Pending>>();
    (selected, skipped)
}

/// An Interface's phase from what the kernel shows: `Up` (admin and
/// operationally up), `Down`, or `Missing` (no such link).
pub fn interface_phase(observed: &Observed, ifname: &str) -> &'static str {
    match observed.link(ifname) {
        None => "Missing",
        Some(link) if link.admin_up && link.oper_up => "Up",
        Some(_) => "Down",
    }
}

/// Observed facts about an Interface, for its status.
pub fn interface_fields(
    observed: &Observed,
    ifname: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("ifname".into(), ifname.into());
    if let Some(link) = observed.link(ifname) {
        fields.insert("ifindex".into(), link.index.into());
        fields.insert("adminUp".into(), link.admin_up.into());
        fields.insert("operUp".into(), link.oper_up.into());
        fields.insert("mtu".into(), link.mtu.into());
        if let Some(mac) = &link.mac {
            fields.insert("mac".into(), mac.clone().into());
        }
        let addresses: Vec<serde_json::Value> = observed
            .addresses
            .iter()
            .filter(|a| a.ifname == ifname)
            .map(|a| {
                serde_json::json!({
                    "address": a.addr.to_string(),
                    "prefixLength": a.prefix_len,
                    "scope": a.scope,
                    "family": if a.addr.is_ipv4() { "inet" } else { "inet6" },
                    "managed": a.protocol == routerd_kernel::ROUTERD_PROTO,
                })
            })
            .collect();
        fields.insert("addresses".into(), addresses.into());
    }
    fields
}

/// A plan as a person reads it: one line per change (changes to protected
/// interfaces marked), pending and blocked resources, and the summary.
/// `routerd plan` and `routerctl plan` print the same text.
pub fn plan_text(plan: &Plan, blocked: &[(String, String)], protected: &[String]) -> String {
    if plan.is_empty() && blocked.is_empty() {
        return "No changes: the host matches the config.".into();
    }
    let mut lines = Vec::new();
    for change in &plan.changes {
        let mark = match change_ifname(change) {
            Some(i) if protected.iter().any(|p| p == i) => "  [protected: will not be applied]",
            _ => "",
        };
        lines.push(format!("{change}{mark}"));
    }
    lines.extend(plan.pending.iter().map(|p| p.to_string()));
    lines.extend(
        blocked
            .iter()
            .map(|(resource, why)| format!("? {resource}: {why}")),
    );
    lines.push(format!("Plan: {}.", plan.summary()));
    lines.join("\n")
}
