//! The VRRP controller: one `routerd-vrrp` daemon per virtual router
//! (interface, family, VRID) of this node's VirtualAddress resources.
//!
//! One daemon per group rather than one for all: a crash in one group's
//! packet handling cannot take another group's mastership with it, and the
//! daemon's status maps onto one resource's status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use routerd_config::Config;
use routerd_config::kinds::VirtualAddress;
use routerd_config::kinds::virtual_address::{DEFAULT_PENALTY, DEFAULT_PRIORITY, Family};
use routerd_config::types::ResourceRef;
use routerd_contract::Event;
use serde_json::{Value, json};

use crate::controller::{Cause, Controller};
use crate::controllers::daemons::sync_daemons;
use crate::daemon::DaemonSpec;
use crate::gate::{ConfigLookup, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};
use crate::status::Statuses;

/// Daemon names of VRRP groups start with this.
pub const PREFIX: &str = "vrrp-";

/// Phases of a tracked resource that count against the priority.
const UNHEALTHY: &[&str] = &["Unhealthy", "Down", "Failed", "Missing", "Expired"];

/// Manages the VRRP daemons.
pub struct VrrpController;

/// One virtual router as this node runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpGroup {
    /// Ownership group key, `interface/family/vrid`.
    pub group: String,
    /// The daemon serving it.
    pub daemon: String,
    /// The first resource of the group (its status carries the daemon's).
    pub resource: String,
    /// The kernel interface.
    pub ifname: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracking penalties.
    pub effective_priority: u8,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// The daemon's config for this group's instance.
    pub instance: Value,
}

/// The virtual routers of `config` (a node's view), gates applied.
/// `fenced`: routerd runs in a cluster and grants mastership.
pub fn groups(config: &Config, statuses: &Statuses, fenced: bool) -> Vec<VrrpGroup> {
    let lookup = ConfigLookup { statuses, config };
    let mut by_group: BTreeMap<String, VrrpGroup> = BTreeMap::new();
    for (r, spec) in config.of_kind::<VirtualAddress>() {
        if !spec.is_vrrp() || when_blocks(spec.when.as_ref(), &lookup).is_some() {
            continue;
        }
        let (Some(group), Some(vrrp), Some(net)) = (spec.group(), &spec.vrrp, spec.net()) else {
            continue;
        };
        let Some(ifname) = ifname_of(config, &spec.interface) else {
            continue;
        };
        if let Some(existing) = by_group.get_mut(&group) {
            // A second resource of the same virtual router adds its address.
            if let Some(list) = existing.instance["addresses"].as_array_mut() {
                let text = net.to_string();
                if !list.iter().any(|a| a.as_str() == Some(text.as_str())) {
                    list.push(text.into());
                }
            }
            continue;
        }
        let priority = vrrp.priority.unwrap_or(DEFAULT_PRIORITY);
        let penalty: u32 = spec
            .track
            .iter()
            .filter(|t| tracked_unhealthy(statuses, &t.resource))
            .map(|t| u32::from(t.unhealthy_penalty.unwrap_or(DEFAULT_PENALTY)))
            .sum();
        let effective =
            u8::try_from(u32::from(priority).saturating_sub(penalty).max(1)).unwrap_or(1);
        let mut addresses: Vec<String> = Vec::new();
        if let Some(ll) = spec.link_local() {
            addresses.push(format!("{ll}/64"));
        }
        let text = net.to_string();
        if !addresses.contains(&text) {
            addresses.push(text);
        }
        let advert_cs = u64::try_from(spec.advert_interval().as_millis() / 10).unwrap_or(100);
        let preempt = vrrp.preempt.unwrap_or(true);
        let preempt_delay = vrrp.preempt_delay.map_or(Duration::ZERO, |d| d.0);
        let instance = json!({
            "name": r.name,
            "group": group,
            "interface": ifname,
            "family": match spec.family() { Family::Ipv4 => "ipv4", Family::Ipv6 => "ipv6" },
            "version": vrrp.version.unwrap_or(3),
            "vrid": vrrp.virtual_router_id,
            "priority": effective,
            "advertIntervalCs": advert_cs,
            "preempt": preempt,
            "preemptDelayMs": u64::try_from(preempt_delay.as_millis()).unwrap_or(u64::MAX),
            "acceptMode": vrrp.accept_mode.unwrap_or(false),
            "addresses": addresses,
            "unicastPeers": vrrp.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "authentication": vrrp.authentication.as_ref().map(|a| a.chars().take(8).collect::<String>()),
            "fenced": fenced,
        });
        by_group.insert(
            group.clone(),
            VrrpGroup {
                daemon: format!("{PREFIX}{}", r.name),
                resource: r.id(),
                group,
                ifname,
                priority,
                effective_priority: effective,
                preempt,
                preempt_delay,
                instance,
            },
        );
    }
    by_group.into_values().collect()
}

fn tracked_unhealthy(statuses: &Statuses, target: &str) -> bool {
    let Some((kind, name)) = target.split_once('/') else {
        return false;
    };
    let target = ResourceRef {
        kind: kind.to_string(),
        name: name.to_string(),
    };
    statuses
        .field(&target, "phase")
        .and_then(|v| v.as_str().map(str::to_string))
        .is_some_and(|phase| UNHEALTHY.contains(&phase.as_str()))
}

impl Controller for VrrpController {
    fn name(&self) -> &'static str {
        "vrrp"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec![
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.actor.daemon-supervisors.restarted",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let relevant = event.topic != "routerd.status.changed"
            || event.resource.as_deref().is_some_and(|target| {
                generation.config.of_kind::<VirtualAddress>().any(|(_, s)| {
                    s.track.iter().any(|t| t.resource == target)
                        || s.when.as_ref().is_some_and(|w| {
                            w.state.keys().any(|k| k.starts_with(&format!("{target}.")))
                        })
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

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let fenced = runtime.options.cluster_node.is_some();
    let node = runtime
        .options
        .cluster_node
        .clone()
        .unwrap_or_else(|| "routerd".into());
    let mut wanted: BTreeMap<String, DaemonSpec> = BTreeMap::new();
    for g in groups(&generation.config, &runtime.statuses, fenced) {
        wanted.insert(
            g.daemon.clone(),
            DaemonSpec::new(
                g.daemon.clone(),
                "routerd-vrrp",
                Some(g.resource.clone()),
                json!({ "name": node, "instances": [g.instance] }),
            ),
        );
    }
    sync_daemons(runtime, PREFIX, wanted, &BTreeSet::new()).await
}
