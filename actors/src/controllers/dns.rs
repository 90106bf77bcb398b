//! The DNS controller: routerd's own DNS forwarding (`routerd-dns`) built
//! from the `DNSUpstream` and `DNSForwarder` resources, with the upstreams'
//! `addressFrom` read from other resources' status (the resolvers a DHCPv6
//! Information-request or a DHCPv4 lease learned).
//!
//! The forwarding is rebuilt only when what it is built from changes, so
//! its cache and the upstreams' health survive unrelated reconciles.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use routerd_config::Config;
use routerd_config::kinds::dns::{DnsProtocol, FieldFrom};
use routerd_config::kinds::{DNSForwarder, DNSUpstream};
use routerd_config::{ValueFrom, types::ResourceRef};
use routerd_contract::{Event, NewEvent};
use routerd_dns::{ForwarderSpec, Forwarding, HealthSpec, Protocol, UpstreamSpec};
use serde_json::{Map, Value};

use crate::controller::{Cause, Controller};
use crate::gate::{ConfigLookup, Lookup, when_blocks};
use crate::reconcile::Scope;
use crate::runtime::{Generation, Runtime};
use crate::services::DnsService;
use crate::task::Task;

/// How often the upstreams' health and counters are copied into status.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Manages routerd's DNS forwarding.
pub struct DnsController;

/// Addresses read from a `*From`: a list field gives each of its items, a
/// text field one address (an `addr/len` keeps the address).
fn addresses_from(
    resource: &ResourceRef,
    field: &str,
    lookup: &dyn Lookup,
) -> Result<Vec<IpAddr>, String> {
    let value = lookup.field(resource, field);
    let items: Vec<String> = match &value {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for item in items {
        let text = item.split('/').next().unwrap_or_default();
        match text.parse::<IpAddr>() {
            Ok(ip) => out.push(ip),
            Err(_) => return Err(format!("{resource}.{field} gave `{item}`, not an address")),
        }
    }
    Ok(out)
}

/// The upstream spec of one `DNSUpstream`, or why it has no usable address yet.
fn upstream_spec(
    name: &str,
    spec: &routerd_config::kinds::DNSUpstreamSpec,
    lookup: &dyn Lookup,
) -> Result<UpstreamSpec, String> {
    let mut up = UpstreamSpec {
        name: name.to_string(),
        protocol: match spec.protocol {
            DnsProtocol::Udp => Protocol::Udp,
            DnsProtocol::Tcp => Protocol::Tcp,
            DnsProtocol::Dot => Protocol::Dot,
            DnsProtocol::Doh => Protocol::Doh,
        },
        port: spec.port,
        tls_name: spec.tls_name.clone(),
        path: spec.path.clone(),
        bootstrap: spec.bootstrap.clone(),
        source_interface: spec.source_interface.clone(),
        ..UpstreamSpec::default()
    };
    match spec.address.as_deref().map(|a| (a, a.parse::<IpAddr>())) {
        Some((_, Ok(ip))) => up.addresses.push(ip),
        Some((host, Err(_))) => up.host = Some(host.to_string()),
        None => {}
    }
    let mut waiting = Vec::new();
    for ValueFrom {
        resource,
        field,
        optional,
    } in &spec.address_from
    {
        let field = field.as_deref().unwrap_or("address");
        let found = addresses_from(resource, field, lookup)?;
        if found.is_empty() && optional != &Some(true) {
            waiting.push(format!("{resource}.{field}"));
        }
        up.addresses.extend(found);
    }
    for FieldFrom {
        resource, field, ..
    } in &spec.bootstrap_from
    {
        up.bootstrap
            .extend(addresses_from(resource, field, lookup)?);
    }
    if up.addresses.is_empty() && up.host.is_some() && up.bootstrap.is_empty() {
        return Err(format!(
            "`{}` cannot be resolved: no bootstrap servers (routerd never uses the host's resolver)",
            up.host.as_deref().unwrap_or_default()
        ));
    }
    if up.addresses.is_empty() && up.host.is_none() {
        return Err(format!(
            "no address yet: waiting for {}",
            if waiting.is_empty() {
                "an address".to_string()
            } else {
                waiting.join(", ")
            }
        ));
    }
    Ok(up)
}

/// Specs for the forwarding, and the resources left out with why.
fn specs(
    config: &Config,
    lookup: &dyn Lookup,
) -> (Vec<UpstreamSpec>, Vec<ForwarderSpec>, Vec<(String, String)>) {
    let mut pending = Vec::new();
    let mut upstreams = Vec::new();
    for (r, spec) in config.of_kind::<DNSUpstream>() {
        if let Some(gate) = when_blocks(spec.when.as_ref(), lookup) {
            pending.push((r.id(), gate.reason));
            continue;
        }
        match upstream_spec(&r.name, spec, lookup) {
            Ok(up) => upstreams.push(up),
            Err(why) => pending.push((r.id(), why)),
        }
    }
    let mut forwarders = Vec::new();
    for (r, spec) in config.of_kind::<DNSForwarder>() {
        if let Some(gate) = when_blocks(spec.when.as_ref(), lookup) {
            pending.push((r.id(), gate.reason));
            continue;
        }
        let usable: Vec<String> = spec
            .upstreams
            .iter()
            .filter(|u| upstreams.iter().any(|s: &UpstreamSpec| s.name == u.name))
            .map(|u| u.name.clone())
            .collect();
        if usable.is_empty() {
            pending.push((
                r.id(),
                "none of its upstreams has an address yet".to_string(),
            ));
            continue;
        }
        forwarders.push(ForwarderSpec {
            name: r.name.clone(),
            domains: spec.match_domains.clone(),
            upstreams: usable,
            health: spec.healthcheck.as_ref().map(|h| HealthSpec {
                interval: h.interval.map(|d| d.0),
                timeout: h.timeout.map(|d| d.0),
                fail_threshold: h.fail_threshold,
                pass_threshold: h.pass_threshold,
                probe_name: None,
            }),
        });
    }
    // Upstreams no forwarder uses are left out: nothing would ask them.
    upstreams.retain(|u| forwarders.iter().any(|f| f.upstreams.contains(&u.name)));
    (upstreams, forwarders, pending)
}

impl Controller for DnsController {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec!["routerd.config.applied", "routerd.status.changed"]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let config = &generation.config;
        let relevant = event.topic == "routerd.config.applied"
            || event.resource.as_deref().is_some_and(|target| {
                let mentions = |r: &ResourceRef| r.to_string() == target;
                config.of_kind::<DNSUpstream>().any(|(_, s)| {
                    s.address_from.iter().any(|f| mentions(&f.resource))
                        || s.bootstrap_from.iter().any(|f| mentions(&f.resource))
                        || s.when.as_ref().is_some_and(|w| {
                            w.state.keys().any(|k| k.starts_with(&format!("{target}.")))
                        })
                })
            });
        if relevant {
            (Scope::All, Cause::default())
        } else {
            (Scope::none(), Cause::default())
        }
    }

    fn resync_every(&self) -> Option<Duration> {
        Some(STATUS_EVERY)
    }

    fn reconcile<'a>(
        &'a self,
        runtime: &'a Arc<Runtime>,
        _scope: Scope,
        _cause: Cause,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move { reconcile(runtime) }.boxed()
    }
}

fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    let lookup = ConfigLookup {
        statuses: &runtime.statuses,
        config,
    };
    let (upstreams, forwarders, pending) = specs(config, &lookup);
    let mut error = None;
    {
        let mut dns = runtime
            .services
            .dns
            .lock()
            .map_err(|_| "the DNS service lock is poisoned")?;
        let wanted = (upstreams, forwarders);
        let unchanged = dns.as_ref().is_some_and(|d| d.built_from == wanted);
        if wanted.1.is_empty() {
            *dns = None;
        } else if !unchanged {
            match Forwarding::new(&wanted.0, &wanted.1) {
                Ok(forwarding) => {
                    let forwarding = Arc::new(forwarding);
                    let health = wanted
                        .1
                        .iter()
                        .any(|f| f.health.as_ref().is_some_and(|h| h.interval.is_some()))
                        .then(|| {
                            let f = forwarding.clone();
                            Task::spawn(async move { f.run_health_checks().await })
                        });
                    runtime.bus.publish(
                        NewEvent::new("routerd.dns.forwarding.changed", "Rebuilt").message(
                            format!(
                                "{} forwarder(s), {} upstream(s)",
                                wanted.1.len(),
                                wanted.0.len()
                            ),
                        ),
                    );
                    *dns = Some(DnsService {
                        built_from: wanted,
                        forwarding,
                        _health: health,
                    });
                }
                Err(e) => {
                    *dns = None;
                    error = Some(e.to_string());
                }
            }
        }
    }
    report(runtime, config, &pending, error.as_deref());
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Copies the forwarding's view into the resources' status.
fn report(runtime: &Runtime, config: &Config, pending: &[(String, String)], error: Option<&str>) {
    let status = runtime.services.forwarding().map(|f| f.status());
    let statuses = &runtime.statuses;
    let kinds = config
        .of_kind::<DNSUpstream>()
        .map(|(r, _)| r)
        .chain(config.of_kind::<DNSForwarder>().map(|(r, _)| r));
    for r in kinds {
        let id = r.id();
        if let Some((_, why)) = pending.iter().find(|(p, _)| *p == id) {
            statuses.set_fields(&id, Map::new());
            statuses.set_phase(&id, "Pending", "Waiting", Some(why.clone()));
            continue;
        }
        if let Some(e) = error {
            statuses.set_phase(&id, "Failed", "Invalid", Some(e.to_string()));
            continue;
        }
        let fields = status.as_ref().and_then(|s| {
            let v = if r.kind == "DNSUpstream" {
                serde_json::to_value(s.upstreams.iter().find(|u| u.name == r.name)?).ok()?
            } else {
                serde_json::to_value(s.forwarders.iter().find(|f| f.name == r.name)?).ok()?
            };
            v.as_object().cloned()
        });
        match fields {
            Some(fields) => {
                let healthy = fields.get("healthy").and_then(Value::as_bool);
                statuses.set_fields_watched(&id, fields, &["addresses".to_string()]);
                let (phase, why) = match healthy {
                    Some(false) => (
                        "Unhealthy",
                        Some("failing; tried after the healthy upstreams".into()),
                    ),
                    _ => ("Ready", None),
                };
                statuses.set_phase(&id, phase, "Forwarding", why);
            }
            None => {
                statuses.set_phase(
                    &id,
                    "Pending",
                    "Unused",
                    Some("no DNSForwarder uses it".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Fake(BTreeMap<String, Value>);

    impl Lookup for Fake {
        fn field(&self, target: &ResourceRef, field: &str) -> Option<Value> {
            self.0.get(&format!("{target}.{field}")).cloned()
        }
        fn has_status(&self, target: &ResourceRef) -> bool {
            self.0.keys().any(|k| k.starts_with(&format!("{target}.")))
        }
    }

    const CONFIG: &str = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: wan0, managed: false}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Information, metadata: {name: wan-info}, spec: {interface: wan}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSUpstream
    metadata: {name: isp}
    spec: {protocol: udp, addressFrom: [{resource: DHCPv6Information/wan-info, field: dnsServers}]}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DNSUpstream, metadata: {name: public}, spec: {protocol: dot, address: dns.example, bootstrap: ["192.0.2.53"]}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DNSForwarder, metadata: {name: aftr}, spec: {match: [isp.example], upstreams: [DNSUpstream/isp]}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DNSForwarder, metadata: {name: rest}, spec: {match: ["."], upstreams: [DNSUpstream/public, DNSUpstream/isp]}}
"#;

    #[test]
    fn upstreams_wait_for_the_resolvers_a_dhcp_client_learned() {
        let config = routerd_config::load_str("t.yaml", CONFIG)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let (ups, fwds, pending) = specs(&config, &Fake(BTreeMap::new()));
        assert_eq!(ups.len(), 1, "only the static DoT upstream: {ups:?}");
        assert_eq!(ups[0].host.as_deref(), Some("dns.example"));
        assert_eq!(fwds.len(), 1, "the aftr forwarder has no upstream yet");
        assert_eq!(fwds[0].upstreams, ["public"]);
        assert!(
            pending.iter().any(|(id, why)| id == "DNSUpstream/isp"
                && why.contains("DHCPv6Information/wan-info.dnsServers")),
            "{pending:?}"
        );

        let learned = Fake(BTreeMap::from([(
            "DHCPv6Information/wan-info.dnsServers".to_string(),
            serde_json::json!(["fd00:99:2::53", "fd00:99:2::54"]),
        )]));
        let (ups, fwds, pending) = specs(&config, &learned);
        assert!(pending.is_empty(), "{pending:?}");
        let isp = ups.iter().find(|u| u.name == "isp").expect("isp");
        assert_eq!(isp.addresses.len(), 2);
        assert_eq!(fwds.len(), 2);
        assert_eq!(fwds[1].upstreams, ["public", "isp"]);
        Forwarding::new(&ups, &fwds).expect("a valid forwarding");
    }
}
