//! The DHCP client controller: one `routerd-dhcpv6-client` per upstream
//! link (its prefix delegation and its Information-request share UDP port
//! 546 there) and one `routerd-dhcpv4-client` per `DHCPv4Client`.
//!
//! The daemons only speak DHCP and report what they hold; the addresses
//! and routes it implies are the kernel controllers' work (see
//! `crate::derived`), woken by the watched status fields.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use routerd_config::Resource;
use routerd_config::kinds::dhcp::parse_duid;
use routerd_config::kinds::{
    DHCPv4Client, DHCPv4ClientSpec, DHCPv6Information, DHCPv6InformationSpec,
    DHCPv6PrefixDelegation, DHCPv6PrefixDelegationSpec,
};
use routerd_contract::Event;
use serde_json::{Value, json};

use crate::controller::{Cause, Controller};
use crate::controllers::daemons::sync_daemons;
use crate::daemon::{DaemonSpec, SubResource};
use crate::gate::{ConfigLookup, depends_blocks, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};

/// Daemon names of DHCPv6 clients start with this (then the Interface's name).
pub const V6_PREFIX: &str = "dhcpv6-";
/// Daemon names of DHCPv4 clients start with this (then the resource's name).
pub const V4_PREFIX: &str = "dhcpv4-";

/// What readers of a delegation act on.
const PD_WATCHED: &[&str] = &["prefix", "prefixes"];
/// What readers of a DHCPv4 lease act on.
const V4_WATCHED: &[&str] = &[
    "address",
    "gateway",
    "routers",
    "routes",
    "dnsServers",
    "domain",
    "mtu",
];

/// Manages the DHCP client daemons.
pub struct DhcpController;

/// The DHCPv6 work on one upstream link.
#[derive(Default)]
pub struct Link<'c> {
    /// Its prefix delegation.
    pub pd: Option<(&'c Resource, &'c DHCPv6PrefixDelegationSpec)>,
    /// Its information request.
    pub info: Option<(&'c Resource, &'c DHCPv6InformationSpec)>,
}

/// The `routerd-dhcpv6-client` config for one link.
pub fn dhcpv6_config(ifname: &str, link: &Link<'_>) -> Value {
    let name = link
        .pd
        .map(|(r, _)| r.name.clone())
        .or_else(|| link.info.map(|(r, _)| r.name.clone()))
        .unwrap_or_default();
    let mut v = json!({
        "name": name,
        "interface": ifname,
        "delegate": link.pd.is_some(),
        "information": link.info.is_some(),
    });
    if let Some(obj) = v.as_object_mut() {
        // Events name the resources, so routerctl describe shows them.
        if let Some((r, _)) = link.pd {
            obj.insert("delegationResource".into(), r.id().into());
        }
        if let Some((r, _)) = link.info {
            obj.insert("informationResource".into(), r.id().into());
        }
    }
    if let (Some((_, pd)), Some(obj)) = (link.pd, v.as_object_mut()) {
        if let Some(len) = pd.prefix_hint() {
            obj.insert("prefixHint".into(), len.into());
        }
        obj.insert("rapidCommit".into(), pd.rapid_commit.unwrap_or(true).into());
        obj.insert(
            "releaseOnStop".into(),
            pd.release_on_removal.unwrap_or(true).into(),
        );
        if let Some(d) = pd.solicit_max_delay {
            obj.insert(
                "solicitMaxDelayMs".into(),
                u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX).into(),
            );
        }
        if let Some(duid) = pd.client_duid.as_deref().and_then(parse_duid) {
            let hex: String = duid.iter().map(|b| format!("{b:02x}")).collect();
            obj.insert("duid".into(), hex.into());
        }
        if let Some(iaid) = pd.iaid {
            obj.insert("iaid".into(), iaid.into());
        }
    }
    v
}

/// The `routerd-dhcpv4-client` config for one client.
pub fn dhcpv4_config(name: &str, ifname: &str, spec: &DHCPv4ClientSpec) -> Value {
    let mut v = json!({
        "name": name,
        "interface": ifname,
        "releaseOnStop": spec.release_on_removal.unwrap_or(true),
        "resource": format!("DHCPv4Client/{name}"),
    });
    if let Some(obj) = v.as_object_mut() {
        for (key, value) in [
            ("hostname", spec.hostname.clone()),
            ("clientId", spec.client_id.clone()),
            ("classId", spec.class_id.clone()),
            (
                "requestedAddress",
                spec.requested_address.map(|a| a.to_string()),
            ),
        ] {
            if let Some(value) = value {
                obj.insert(key.into(), value.into());
            }
        }
    }
    v
}

impl Controller for DhcpController {
    fn name(&self) -> &'static str {
        "dhcp"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec![
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.actor.daemon-supervisors.restarted",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let config = &generation.config;
        let relevant = event.topic != "routerd.status.changed"
            || event.resource.as_deref().is_some_and(|target| {
                let prefix = format!("{target}.");
                let gated = |when: Option<&routerd_config::When>| {
                    when.is_some_and(|w| w.state.keys().any(|k| k.starts_with(&prefix)))
                };
                config
                    .of_kind::<DHCPv6PrefixDelegation>()
                    .any(|(_, s)| gated(s.when.as_ref()))
                    || config
                        .of_kind::<DHCPv4Client>()
                        .any(|(_, s)| gated(s.when.as_ref()))
                    || config.of_kind::<DHCPv6Information>().any(|(_, s)| {
                        gated(s.when.as_ref())
                            || s.depends_on
                                .iter()
                                .any(|d| d.resource.to_string() == target)
                    })
            });
        if relevant {
            (
                Scope::All,
                Cause {
                    config: true,
                    drift: false,
                },
            )
        } else {
            (Scope::none(), Cause::default())
        }
    }

    fn reconcile<'a>(
        &'a self,
        runtime: &'a Arc<Runtime>,
        _scope: Scope,
        _cause: Cause,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move { reconcile(runtime).await }.boxed()
    }
}

/// Whether a resource's gates are open; a closed one is marked and, while
/// its verdict is unknown, its running daemon is held.
fn gate_open(
    runtime: &Runtime,
    id: &str,
    daemon: &str,
    gate: Option<crate::gate::Closed>,
    held: &mut BTreeSet<String>,
) -> bool {
    let Some(gate) = gate else {
        return true;
    };
    if gate.unknown && runtime.daemon_slot(daemon).is_some() {
        held.insert(daemon.to_string());
    } else {
        runtime
            .statuses
            .set_phase(id, "Pending", "Gated", Some(gate.reason));
    }
    false
}

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    let lookup = ConfigLookup {
        statuses: &runtime.statuses,
        config,
    };
    let mut held = BTreeSet::new();

    let mut links: BTreeMap<String, Link<'_>> = BTreeMap::new();
    for (r, spec) in config.of_kind::<DHCPv6PrefixDelegation>() {
        let daemon = format!("{V6_PREFIX}{}", spec.interface);
        let gate = when_blocks(spec.when.as_ref(), &lookup);
        if gate_open(runtime, &r.id(), &daemon, gate, &mut held) {
            links.entry(spec.interface.clone()).or_default().pd = Some((r, spec));
        }
    }
    for (r, spec) in config.of_kind::<DHCPv6Information>() {
        let daemon = format!("{V6_PREFIX}{}", spec.interface);
        let gate = when_blocks(spec.when.as_ref(), &lookup)
            .or_else(|| depends_blocks(&spec.depends_on, &lookup));
        if gate_open(runtime, &r.id(), &daemon, gate, &mut held) {
            links.entry(spec.interface.clone()).or_default().info = Some((r, spec));
        }
    }
    let mut wanted_v6 = BTreeMap::new();
    for (interface, link) in &links {
        let ids: Vec<String> = link
            .pd
            .map(|(r, _)| r.id())
            .into_iter()
            .chain(link.info.map(|(r, _)| r.id()))
            .collect();
        let Some(ifname) = ifname_of(config, interface) else {
            for id in &ids {
                runtime.statuses.set_phase(
                    id,
                    "Pending",
                    "NoInterface",
                    Some(format!(
                        "interface `{interface}` is not an Interface this build manages"
                    )),
                );
            }
            continue;
        };
        let name = format!("{V6_PREFIX}{interface}");
        let mut spec = DaemonSpec::new(
            name.clone(),
            "routerd-dhcpv6-client",
            link.pd.map(|(r, _)| r.id()),
            dhcpv6_config(&ifname, link),
        );
        spec.watched = PD_WATCHED.iter().map(|s| s.to_string()).collect();
        if let Some((r, _)) = link.info {
            spec.sub_resources.push(SubResource {
                resource: r.id(),
                key: "information".into(),
            });
        }
        wanted_v6.insert(name, spec);
    }

    let mut wanted_v4 = BTreeMap::new();
    for (r, spec) in config.of_kind::<DHCPv4Client>() {
        let name = format!("{V4_PREFIX}{}", r.name);
        let gate = when_blocks(spec.when.as_ref(), &lookup);
        if !gate_open(runtime, &r.id(), &name, gate, &mut held) {
            continue;
        }
        let Some(ifname) = ifname_of(config, &spec.interface) else {
            runtime.statuses.set_phase(
                &r.id(),
                "Pending",
                "NoInterface",
                Some(format!(
                    "interface `{}` is not an Interface this build manages",
                    spec.interface
                )),
            );
            continue;
        };
        let mut daemon = DaemonSpec::new(
            name.clone(),
            "routerd-dhcpv4-client",
            Some(r.id()),
            dhcpv4_config(&r.name, &ifname, spec),
        );
        daemon.watched = V4_WATCHED.iter().map(|s| s.to_string()).collect();
        wanted_v4.insert(name, daemon);
    }
    let v6 = sync_daemons(runtime, V6_PREFIX, wanted_v6, &held).await;
    let v4 = sync_daemons(runtime, V4_PREFIX, wanted_v4, &held).await;
    v6.and(v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_link_carries_the_delegation_and_the_information() {
        let text = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: wan0, managed: false}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6PrefixDelegation
    metadata: {name: wan-pd}
    spec: {interface: wan, profile: ntt-hgw-lan-pd, clientDUID: "00:03:00:01:52:54:00:00:00:01", solicitMaxDelay: 100ms}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Information, metadata: {name: wan-info}, spec: {interface: wan}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv4Client, metadata: {name: wan-v4}, spec: {interface: wan, hostname: gw, requestedAddress: 192.0.2.9}}
"#;
        let config = routerd_config::load_str("t.yaml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let pd = config
            .of_kind::<DHCPv6PrefixDelegation>()
            .next()
            .expect("pd");
        let info = config.of_kind::<DHCPv6Information>().next().expect("info");
        let link = Link {
            pd: Some(pd),
            info: Some(info),
        };
        let v = dhcpv6_config("wan0", &link);
        assert_eq!(
            v,
            json!({
                "name": "wan-pd", "interface": "wan0", "delegate": true, "information": true,
                "delegationResource": "DHCPv6PrefixDelegation/wan-pd",
                "informationResource": "DHCPv6Information/wan-info",
                "prefixHint": 60, "rapidCommit": true, "releaseOnStop": true,
                "solicitMaxDelayMs": 100, "duid": "00030001525400000001",
            })
        );
        let only_info = Link {
            pd: None,
            info: Some(info),
        };
        assert_eq!(dhcpv6_config("wan0", &only_info)["delegate"], false);
        let (r, v4) = config.of_kind::<DHCPv4Client>().next().expect("v4");
        assert_eq!(
            dhcpv4_config(&r.name, "wan0", v4),
            json!({"name": "wan-v4", "interface": "wan0", "releaseOnStop": true,
                   "resource": "DHCPv4Client/wan-v4",
                   "hostname": "gw", "requestedAddress": "192.0.2.9"})
        );
    }
}
