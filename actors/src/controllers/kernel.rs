//! The kernel-facing controllers: links, addresses, routes and sysctls.
//!
//! Each computes the whole desired state (cheap) but applies and reports
//! only its own family within the scope of the events that woke it, so a
//! deleted address repairs that address and nothing else.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use ipnet::IpNet;
use routerd_config::kinds::{
    DHCPv4Client, IPv4Route, IPv4StaticAddress, IPv4StaticRoute, IPv6DelegatedAddress, IPv6Route,
    IPv6StaticAddress, IPv6StaticRoute, Interface, RouteSpec, StaticAddress,
};
use routerd_config::{Config, Resource};
use routerd_contract::{Event, NewEvent};
use routerd_kernel::{Change, Observed, ProcSysctl};
use serde_json::{Map, Value};

use crate::controller::{Cause, Controller};
use crate::gate::{ConfigLookup, mentions};
use crate::reconcile::{Family, Scope, desired, ifname_of, interface_fields, select};
use crate::runtime::{Generation, Runtime};

/// Status fields computed from other resources' status (see `crate::derived`).
const DERIVED_FIELDS: &[&str] = &[
    "address",
    "cidr",
    "prefix",
    "delegatedPrefix",
    "preferredUntilUnixMs",
    "validUntilUnixMs",
];

/// How often sysctls are re-read to catch changes made behind routerd's back.
pub const SYSCTL_RESYNC: std::time::Duration = std::time::Duration::from_secs(10);

/// Reconciles one [`Family`] against the kernel.
pub struct KernelController {
    family: Family,
}

impl KernelController {
    /// The controller of `family`.
    pub fn new(family: Family) -> Self {
        KernelController { family }
    }

    fn resources<'c>(&self, config: &'c Config) -> impl Iterator<Item = &'c Resource> {
        let kinds = self.family.kinds();
        config
            .resources
            .iter()
            .filter(move |r| kinds.contains(&r.kind))
    }

    /// The kernel interface a resource of this family lives on.
    fn ifname(&self, config: &Config, r: &Resource) -> Option<String> {
        if let Some(s) = r.spec_as::<Interface>() {
            return Some(s.ifname.clone());
        }
        if let Some(s) = r.spec_as::<IPv4StaticAddress>() {
            return ifname_of(config, s.interface());
        }
        if let Some(s) = r.spec_as::<IPv6StaticAddress>() {
            return ifname_of(config, s.interface());
        }
        if let Some(s) = r.spec_as::<IPv6DelegatedAddress>() {
            return ifname_of(config, &s.interface);
        }
        if let Some(s) = r.spec_as::<IPv4StaticRoute>() {
            return ifname_of(config, &s.interface);
        }
        if let Some(s) = r.spec_as::<IPv6StaticRoute>() {
            return ifname_of(config, &s.interface);
        }
        if let Some(s) = r.spec_as::<IPv4Route>() {
            return s.device.clone();
        }
        r.spec_as::<IPv6Route>().and_then(|s| s.device.clone())
    }

    /// The destination of a route resource.
    fn destination(r: &Resource) -> Option<IpNet> {
        if let Some(s) = r.spec_as::<IPv4Route>() {
            return Some(s.destination());
        }
        if let Some(s) = r.spec_as::<IPv6Route>() {
            return Some(s.destination());
        }
        if let Some(s) = r.spec_as::<IPv4StaticRoute>() {
            return Some(s.destination());
        }
        r.spec_as::<IPv6StaticRoute>().map(|s| s.destination())
    }

    /// A scope covering `resources` and whatever kernel state sits where
    /// they live (their link, their route destination), so that a resource
    /// gated off has its orphaned address or route removed too.
    fn scope_of<'c>(
        &self,
        config: &'c Config,
        resources: impl Iterator<Item = &'c Resource>,
    ) -> Scope {
        let mut scope = Scope::none();
        if let Scope::Some {
            resources: ids,
            ifnames,
            destinations,
        } = &mut scope
        {
            for r in resources {
                ids.insert(r.id());
                if self.family == Family::Addresses
                    && let Some(ifname) = self.ifname(config, r)
                {
                    ifnames.insert(ifname);
                }
                if let Some(d) = Self::destination(r) {
                    destinations.insert(d);
                }
            }
        }
        scope
    }

    fn on_link(&self, config: &Config, ifname: &str) -> Scope {
        // Routes and sysctls depend on links and their addresses in ways
        // (gateway reachability, per-interface keys) cheaper to recheck than
        // to track.
        if matches!(self.family, Family::Routes | Family::Sysctls) {
            return Scope::All;
        }
        let mut scope = self.scope_of(
            config,
            self.resources(config)
                .filter(|r| self.ifname(config, r).as_deref() == Some(ifname)),
        );
        scope.merge(Scope::Some {
            resources: BTreeSet::new(),
            ifnames: BTreeSet::from([ifname.to_string()]),
            destinations: BTreeSet::new(),
        });
        scope
    }

    /// Route resources affected by route notifications: routerd's own
    /// routes (drift, orphans) and any other route to a destination routerd
    /// wants. Other daemons' routes elsewhere are none of routerd's business.
    fn on_routes(&self, config: &Config, event: &Event) -> Scope {
        if event.attributes.get("truncated") == Some(&Value::Bool(true)) {
            return Scope::All;
        }
        let wanted: BTreeSet<IpNet> = self
            .resources(config)
            .filter_map(Self::destination)
            .collect();
        let mut touched = BTreeSet::new();
        for route in event
            .attributes
            .get("routes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(destination) = route
                .get("destination")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<IpNet>().ok())
            else {
                return Scope::All;
            };
            let ours = route.get("protocol").and_then(Value::as_u64)
                == Some(u64::from(routerd_kernel::ROUTERD_PROTO));
            if ours || wanted.contains(&destination) {
                touched.insert(destination);
            }
        }
        let mut scope = self.scope_of(
            config,
            self.resources(config)
                .filter(|r| Self::destination(r).is_some_and(|d| touched.contains(&d))),
        );
        scope.merge(Scope::Some {
            resources: BTreeSet::new(),
            ifnames: BTreeSet::new(),
            destinations: touched,
        });
        scope
    }

    /// Resources of the family whose gates or `*From` mention `target`, and
    /// the intents derived from it when it is a DHCP client.
    fn gated_on(&self, config: &Config, target: &str) -> Scope {
        let needle = Value::String(target.to_string());
        let prefix = format!("{target}.");
        let delegation = target.strip_prefix("DHCPv6PrefixDelegation/");
        let mut scope = self.scope_of(
            config,
            self.resources(config).filter(|r| {
                let spec = r.spec.to_json();
                let gated = ["when", "dependsOn", "deviceFrom", "gatewayFrom"]
                    .iter()
                    .any(|k| spec.get(*k).is_some_and(|v| mentions(v, &needle, &prefix)));
                let derived = delegation.is_some_and(|pd| {
                    r.spec_as::<IPv6DelegatedAddress>()
                        .is_some_and(|s| s.prefix_delegation == pd)
                });
                gated || derived
            }),
        );
        // A delegation's unreachable route follows its lease.
        if target.starts_with("DHCPv6PrefixDelegation/") && self.family == Family::Routes {
            scope.merge(Scope::All);
        }
        // A DS-Lite tunnel's B4 address and default route follow its status.
        if target.starts_with("DSLiteTunnel/")
            && matches!(self.family, Family::Addresses | Family::Routes)
        {
            scope.merge(Scope::All);
        }
        if let Some(name) = target.strip_prefix("DHCPv4Client/")
            && let Some(spec) = config.spec_of::<DHCPv4Client>(name)
        {
            match self.family {
                // The lease's address, and whatever routerd holds on its link.
                Family::Addresses => scope.merge(Scope::Some {
                    resources: BTreeSet::from([target.to_string()]),
                    ifnames: ifname_of(config, &spec.interface).into_iter().collect(),
                    destinations: BTreeSet::new(),
                }),
                // Its routes' destinations come and go with the lease.
                Family::Routes => scope.merge(Scope::All),
                // Its MTU (option 26) on the link.
                Family::Links => scope.merge(Scope::Some {
                    resources: BTreeSet::from([target.to_string()]),
                    ifnames: ifname_of(config, &spec.interface).into_iter().collect(),
                    destinations: BTreeSet::new(),
                }),
                _ => {}
            }
        }
        scope
    }
}

fn attr_str<'e>(event: &'e Event, key: &str) -> Option<&'e str> {
    event.attributes.get(key).and_then(Value::as_str)
}

impl Controller for KernelController {
    fn name(&self) -> &'static str {
        self.family.name()
    }

    fn topics(&self) -> Vec<&'static str> {
        vec![
            "routerd.config.applied",
            "routerd.kernel.**",
            "routerd.status.changed",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let config = &generation.config;
        let drift = Cause {
            config: false,
            drift: true,
        };
        let topic = event.topic.as_str();
        match topic {
            "routerd.config.applied" => (
                Scope::All,
                Cause {
                    config: true,
                    drift: false,
                },
            ),
            "routerd.kernel.resync" => (Scope::All, drift),
            "routerd.status.changed" => match event.resource.as_deref() {
                Some(target) => (self.gated_on(config, target), Cause::default()),
                None => (Scope::none(), Cause::default()),
            },
            _ if topic.starts_with("routerd.kernel.link.")
                || topic.starts_with("routerd.kernel.address.") =>
            {
                let mut scope = Scope::none();
                if let Some(Value::Array(names)) = event.attributes.get("ifnames") {
                    for name in names.iter().filter_map(Value::as_str) {
                        scope.merge(self.on_link(config, name));
                    }
                }
                if let Some(name) = attr_str(event, "ifname") {
                    scope.merge(self.on_link(config, name));
                }
                (scope, drift)
            }
            _ if topic.starts_with("routerd.kernel.route.") && self.family == Family::Routes => {
                (self.on_routes(config, event), drift)
            }
            _ => (Scope::none(), Cause::default()),
        }
    }

    fn resync_every(&self) -> Option<std::time::Duration> {
        // The kernel sends no notification when a sysctl changes: check
        // them (a handful of /proc reads) now and then instead.
        (self.family == Family::Sysctls).then_some(SYSCTL_RESYNC)
    }

    fn reconcile<'a>(
        &'a self,
        runtime: &'a Arc<Runtime>,
        scope: Scope,
        cause: Cause,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move { self.run(runtime, scope, cause).await }.boxed()
    }
}

impl KernelController {
    async fn run(&self, runtime: &Arc<Runtime>, scope: Scope, cause: Cause) -> Result<(), String> {
        let generation = runtime.generation();
        let config = &generation.config;
        let lookup = ConfigLookup {
            statuses: &runtime.statuses,
            config,
        };
        let state = desired(config, &lookup);
        // Sysctls are planned from /proc, not from netlink dumps.
        let observed = if self.family == Family::Sysctls {
            Observed::default()
        } else {
            runtime
                .kernel
                .observe()
                .await
                .map_err(|e| format!("cannot read the kernel's state: {e}"))?
        };
        let mut plan = routerd_kernel::plan(&state.desired, &observed, &ProcSysctl);
        crate::reconcile::keep_held(&mut plan, &state);
        let (selected, protected) = select(
            &plan,
            self.family,
            &scope,
            &config.reconcile.protected_interfaces,
        );
        let report = runtime.kernel.apply(&selected).await;

        // One flush for all of a reconcile's events.
        let mut events: Vec<NewEvent> = report
            .applied
            .iter()
            .map(|change| self.announce(change, cause))
            .collect();
        if self.family == Family::Sysctls {
            match crate::persist::sync(config, &runtime.options.sysctl_dir) {
                Ok(Some(path)) => runtime.bus.publish(
                    NewEvent::new("routerd.sysctl.persisted", "Persisted").message(format!(
                        "{} updated from the persistent Sysctl resources",
                        path.display()
                    )),
                ),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot write persistent sysctls: {e}")),
            }
        }
        // Failures are reported once, as the resource's transition to
        // Failed (below), not on every retry.
        // Statuses of the family's resources within the scope.
        let observed_after = if report.applied.is_empty() {
            observed
        } else {
            runtime.kernel.observe().await.unwrap_or(observed)
        };
        for r in self
            .resources(config)
            .filter(|r| scope.covers_resource(&r.id()))
        {
            let id = r.id();
            let (phase, message) = if let Some((_, why)) =
                state.blocked.iter().find(|(o, _)| *o == id)
            {
                ("Pending", Some(why.clone()))
            } else if let Some((c, e)) = report.failed.iter().find(|(c, _)| c.owner() == Some(&id))
            {
                ("Failed", Some(format!("{c}: {e}")))
            } else if let Some(p) = selected.pending.iter().find(|p| p.owner == id) {
                ("Pending", Some(format!("{}: {}", p.subject, p.reason)))
            } else if let Some(c) = protected.iter().find(|c| c.owner() == Some(&id)) {
                (
                    "Protected",
                    Some(format!("not applied, the interface is protected: {c}")),
                )
            } else {
                ("Applied", None)
            };
            let (phase, mut fields) = self.observe_fields(config, r, &observed_after, phase);
            if r.spec_as::<IPv6DelegatedAddress>().is_some() {
                // Only what is derived now: a blocked one shows no address.
                if let Some((_, derived)) = state.derived.iter().find(|(o, _)| *o == id) {
                    fields.extend(derived.clone());
                }
                // Readers of a derived address (router advertisements,
                // DS-Lite) must hear of a new one even when the phase stays
                // Applied.
                let watched: Vec<String> = DERIVED_FIELDS.iter().map(|k| k.to_string()).collect();
                runtime.statuses.set_fields_watched(&id, fields, &watched);
            } else {
                runtime.statuses.set_fields(&id, fields);
            }
            if let Some(t) = runtime
                .statuses
                .set_phase(&id, phase, "Reconciled", message.clone())
            {
                events.push(
                    NewEvent::new(topic_for(&id, &phase.to_lowercase()), phase)
                        .resource(id.clone())
                        .message(message.unwrap_or_else(|| transition_text(&t.from, &t.to)))
                        .attr("from", t.from)
                        .attr("to", t.to),
                );
            }
        }
        runtime.bus.publish_all(events);
        let known: BTreeSet<String> = config.resources.iter().map(Resource::id).collect();
        // A part of a resource's status (`Kind/name#part`, an ingress
        // backend's probe) lives as long as the resource.
        runtime.statuses.retain(|id| {
            known.contains(crate::controllers::ingress::is_sub_status(id).unwrap_or(id))
        });

        if report.failed.is_empty() {
            Ok(())
        } else {
            Err(format!("{} change(s) failed", report.failed.len()))
        }
    }

    /// Observed fields, and for Interfaces the phase the link is in.
    fn observe_fields(
        &self,
        config: &Config,
        r: &Resource,
        observed: &Observed,
        applied: &'static str,
    ) -> (&'static str, Map<String, Value>) {
        if let Some(spec) = r.spec_as::<Interface>() {
            let fields = interface_fields(observed, &spec.ifname);
            let phase = match applied {
                // A failure or a wait (missing link) says more than the link state.
                "Applied" => crate::reconcile::interface_phase(observed, &spec.ifname),
                _ if observed.link(&spec.ifname).is_none() => "Missing",
                other => other,
            };
            return (phase, fields);
        }
        let mut fields = Map::new();
        if let Some(ifname) = self.ifname(config, r) {
            fields.insert("ifname".into(), ifname.into());
        }
        let spec = r.spec.to_json();
        if let Some(addr) = spec.get("address").and_then(Value::as_str) {
            fields.insert("cidr".into(), addr.into());
            fields.insert(
                "address".into(),
                addr.split('/').next().unwrap_or(addr).into(),
            );
        }
        for key in ["destination", "gateway", "via", "metric", "key", "value"] {
            if let Some(v) = spec.get(key) {
                fields.insert(key.into(), v.clone());
            }
        }
        (applied, fields)
    }

    fn announce(&self, change: &Change, cause: Cause) -> NewEvent {
        let (owner, verb, reason) = match change.owner() {
            Some(owner) => {
                let (verb, reason) = match change.action() {
                    routerd_kernel::Action::Remove => ("removed", "Removed"),
                    _ if cause.drift && !cause.config => ("repaired", "DriftRepaired"),
                    routerd_kernel::Action::Add => ("created", "Created"),
                    routerd_kernel::Action::Change => ("updated", "Updated"),
                };
                (owner.to_string(), verb, reason)
            }
            None => ("routerd".to_string(), "removed", "OrphanRemoved"),
        };
        let topic = if change.owner().is_some() {
            topic_for(&owner, verb)
        } else {
            "routerd.kernel.orphan.removed".to_string()
        };
        let mut event = NewEvent::new(topic, reason).message(change.to_string());
        if change.owner().is_some() {
            event = event.resource(owner);
        }
        event
    }
}

fn transition_text(from: &str, to: &str) -> String {
    if from.is_empty() {
        to.to_string()
    } else {
        format!("{from} → {to}")
    }
}

/// `routerd.<kind>.<name>.<verb>` for a `Kind/name` id.
pub fn topic_for(id: &str, verb: &str) -> String {
    match id.split_once('/') {
        Some((kind, name)) => format!("routerd.{}.{name}.{verb}", kind.to_lowercase()),
        None => format!("routerd.{verb}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routerd_contract::Event;

    fn generation() -> Generation {
        let text = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: eth1, managed: true}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: eth0, managed: true}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv4StaticAddress, metadata: {name: lan-v4}, spec: {interface: lan, address: 192.0.2.1/24}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv4StaticAddress, metadata: {name: wan-v4}, spec: {interface: wan, address: 198.51.100.2/24}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: HealthCheck, metadata: {name: up}, spec: {target: 198.51.100.1}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv4Route
    metadata: {name: gated}
    spec:
      destination: 10.0.0.0/8
      gateway: 192.0.2.2
      when: {state: {"HealthCheck/up.phase": {equals: Healthy}}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv4Route, metadata: {name: plain}, spec: {destination: 10.1.0.0/16, gateway: 192.0.2.2}}
"#;
        Generation {
            number: 1,
            config: routerd_config::load_str("t.yaml", text)
                .expect("valid")
                .config,
            source: text.into(),
            applied_at: String::new(),
        }
    }

    fn event(topic: &str, resource: Option<&str>, ifnames: &[&str]) -> Event {
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("ifnames".to_string(), serde_json::json!(ifnames));
        Event {
            seq: 0,
            time: String::new(),
            source: "test".into(),
            topic: topic.into(),
            resource: resource.map(str::to_string),
            reason: String::new(),
            message: String::new(),
            attributes,
        }
    }

    fn some(resources: &[&str], ifnames: &[&str]) -> Scope {
        some_with(resources, ifnames, &[])
    }

    fn some_with(resources: &[&str], ifnames: &[&str], destinations: &[&str]) -> Scope {
        Scope::Some {
            resources: resources.iter().map(|s| s.to_string()).collect(),
            ifnames: ifnames.iter().map(|s| s.to_string()).collect(),
            destinations: destinations.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn a_kernel_event_scopes_to_the_resources_on_that_link() {
        let g = generation();
        let addresses = KernelController::new(Family::Addresses);
        let (scope, cause) = addresses.scope(
            &event("routerd.kernel.address.changed", None, &["eth1"]),
            &g,
        );
        assert_eq!(scope, some(&["IPv4StaticAddress/lan-v4"], &["eth1"]));
        assert!(cause.drift && !cause.config);
        let links = KernelController::new(Family::Links);
        let (scope, _) = links.scope(&event("routerd.kernel.link.changed", None, &["eth0"]), &g);
        assert_eq!(scope, some(&["Interface/wan"], &["eth0"]));
        // A link nobody configured affects nothing of these families.
        let (scope, _) =
            addresses.scope(&event("routerd.kernel.link.changed", None, &["eth9"]), &g);
        assert_eq!(scope, some(&[], &["eth9"]));
    }

    #[test]
    fn a_status_change_scopes_to_the_resources_gated_on_it() {
        let g = generation();
        let routes = KernelController::new(Family::Routes);
        let (scope, _) = routes.scope(
            &event("routerd.status.changed", Some("HealthCheck/up"), &[]),
            &g,
        );
        assert_eq!(scope, some_with(&["IPv4Route/gated"], &[], &["10.0.0.0/8"]));
        let (scope, _) = routes.scope(
            &event("routerd.status.changed", Some("Interface/lan"), &[]),
            &g,
        );
        assert!(scope.is_empty());
    }

    #[test]
    fn route_notifications_scope_to_routerd_routes_and_wanted_destinations() {
        let g = generation();
        let routes = KernelController::new(Family::Routes);
        let mut e = event("routerd.kernel.route.changed", None, &[]);
        e.attributes.insert(
            "routes".into(),
            serde_json::json!([
                {"destination": "10.1.0.0/16", "protocol": 2},
                {"destination": "192.168.99.0/24", "protocol": 186},
                {"destination": "172.16.0.0/12", "protocol": routerd_kernel::ROUTERD_PROTO},
            ]),
        );
        let (scope, _) = routes.scope(&e, &g);
        // A foreign route to a wanted destination, and a routerd route (an
        // orphan, maybe): yes. A BGP route elsewhere: none of routerd's business.
        assert_eq!(
            scope,
            some_with(&["IPv4Route/plain"], &[], &["10.1.0.0/16", "172.16.0.0/12"])
        );
        e.attributes.insert("truncated".into(), true.into());
        assert_eq!(routes.scope(&e, &g).0, Scope::All);
    }

    #[test]
    fn a_config_change_reconciles_the_whole_family() {
        let (scope, cause) = KernelController::new(Family::Sysctls)
            .scope(&event("routerd.config.applied", None, &[]), &generation());
        assert_eq!(scope, Scope::All);
        assert!(cause.config);
    }
}
