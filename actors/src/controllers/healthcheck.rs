//! The healthcheck controller: one `routerd-healthcheck` daemon per enabled
//! `HealthCheck`, started, reconfigured and retired through the daemon
//! supervisors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use routerd_config::Config;
use routerd_config::kinds::{HealthCheck, HealthCheckSpec, healthcheck::TargetSource};
use routerd_contract::Event;
use serde_json::{Value, json};

use crate::controller::{Cause, Controller};
use crate::controllers::daemons::sync_daemons;
use crate::daemon::DaemonSpec;
use crate::gate::{ConfigLookup, Lookup, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};

/// Daemon names of health checks start with this.
const PREFIX: &str = "healthcheck-";

/// Manages the healthcheck daemons.
pub struct HealthCheckController;

/// The daemon config for a HealthCheck (the `routerd-healthcheck` ProbeSpec).
pub fn probe_spec(config: &Config, name: &str, spec: &HealthCheckSpec) -> Value {
    let mut v = json!({
        "name": name,
        "protocol": format!("{:?}", spec.protocol()).to_lowercase(),
        "targetSource": match spec.target_source() {
            TargetSource::DefaultGateway => "defaultGateway",
            _ => "static",
        },
        "intervalMs": duration_ms(spec.interval()),
        "timeoutMs": duration_ms(spec.timeout()),
        "healthyThreshold": spec.healthy_threshold.unwrap_or(2),
        "unhealthyThreshold": spec.unhealthy_threshold.unwrap_or(3),
        "enabled": spec.enabled.unwrap_or(true),
    });
    let obj = v
        .as_object_mut()
        .expect("a json! object literal is an object");
    // With the default gateway as target, a configured target is ignored
    // (validation warns); the daemon refuses both at once.
    if let (Some(target), TargetSource::Static) = (&spec.target, spec.target_source()) {
        obj.insert("target".into(), target.clone().into());
    }
    if let Some(family) = spec.address_family {
        obj.insert(
            "addressFamily".into(),
            format!("{family:?}").to_lowercase().into(),
        );
    }
    if let Some(port) = spec.port() {
        obj.insert("port".into(), port.into());
    }
    if let Some(path) = &spec.path {
        obj.insert("path".into(), path.clone().into());
    }
    if let Some(query) = &spec.query {
        obj.insert("query".into(), query.clone().into());
    }
    if let Some(ifname) = spec.interface.as_deref().and_then(|i| ifname_of(config, i)) {
        obj.insert("sourceInterface".into(), ifname.into());
    }
    v
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Controller for HealthCheckController {
    fn name(&self) -> &'static str {
        "healthchecks"
    }

    fn topics(&self) -> Vec<&'static str> {
        // A restarted daemon-supervisors starts empty: re-add the daemons
        // (they kept running and are adopted).
        vec![
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.actor.daemon-supervisors.restarted",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let relevant = event.topic == "routerd.config.applied"
            || event.topic == "routerd.actor.daemon-supervisors.restarted"
            || event.resource.as_deref().is_some_and(|target| {
                generation.config.of_kind::<HealthCheck>().any(|(_, s)| {
                    s.when.as_ref().is_some_and(|w| {
                        w.state.keys().any(|k| k.starts_with(&format!("{target}.")))
                    }) || (s.target_source() == TargetSource::DsliteRemote
                        && s.interface
                            .as_deref()
                            .is_some_and(|t| target == format!("DSLiteTunnel/{t}")))
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

/// A dsliteRemote check probes the tunnel's AFTR (over IPv6, out of the
/// tunnel's upstream link), once the DS-Lite controller has found it.
fn dslite_target(
    config: &Config,
    lookup: &ConfigLookup<'_>,
    spec: &HealthCheckSpec,
) -> Result<serde_json::Map<String, Value>, String> {
    let name = spec.interface.as_deref().unwrap_or_default();
    let tunnel = routerd_config::types::ResourceRef {
        kind: "DSLiteTunnel".into(),
        name: name.to_string(),
    };
    let aftr = lookup
        .field(&tunnel, "aftr")
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| format!("waiting for {tunnel} to find its AFTR"))?;
    let mut fields = serde_json::Map::new();
    fields.insert("target".into(), aftr.into());
    fields.insert("targetSource".into(), "static".into());
    fields.insert("addressFamily".into(), "ipv6".into());
    let wan = config
        .spec_of::<routerd_config::kinds::DSLiteTunnel>(name)
        .and_then(|t| ifname_of(config, &t.interface));
    match wan {
        Some(ifname) => fields.insert("sourceInterface".into(), ifname.into()),
        None => fields.remove("sourceInterface"),
    };
    Ok(fields)
}

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    let lookup = ConfigLookup {
        statuses: &runtime.statuses,
        config,
    };
    let mut wanted: BTreeMap<String, DaemonSpec> = BTreeMap::new();
    let mut held: BTreeSet<String> = BTreeSet::new();
    for (r, spec) in config.of_kind::<HealthCheck>() {
        let id = r.id();
        if spec.enabled == Some(false) {
            runtime
                .statuses
                .set_phase(&id, "Disabled", "Disabled", Some("enabled: false".into()));
            continue;
        }
        if let Some(gate) = when_blocks(spec.when.as_ref(), &lookup) {
            let name = format!("{PREFIX}{}", r.name);
            if gate.unknown && runtime.daemon_slot(&name).is_some() {
                // Undecided yet: a running check keeps running.
                held.insert(name);
            } else {
                runtime
                    .statuses
                    .set_phase(&id, "Pending", "Gated", Some(gate.reason));
            }
            continue;
        }
        let name = format!("{PREFIX}{}", r.name);
        let mut probe = probe_spec(config, &r.name, spec);
        if spec.target_source() == TargetSource::DsliteRemote {
            match dslite_target(config, &lookup, spec) {
                Ok(target) => {
                    if let Some(obj) = probe.as_object_mut() {
                        obj.extend(target);
                    }
                }
                Err(why) => {
                    runtime
                        .statuses
                        .set_phase(&id, "Pending", "WaitingForAftr", Some(why));
                    continue;
                }
            }
        }
        wanted.insert(
            name.clone(),
            DaemonSpec::new(name, "routerd-healthcheck", Some(id), probe),
        );
    }
    sync_daemons(runtime, PREFIX, wanted, &held).await
}
