//! The ingress controller: for each IngressService, find its virtual
//! address and its backends' addresses, run one `routerd-healthcheck` probe
//! per backend with the service's interval, timeout and thresholds, and
//! keep routerd's nftables table DNATing new connections to the backends
//! that are healthy and not drained.
//!
//! The rules are installed on every node that has the service; they match
//! only while the VIP is an address of the node (`fib daddr type local`), so
//! the service moves with the VIP's owner (VRRP, or a BGP announcement),
//! granted through Raft ownership, without this controller taking part.
//!
//! Established connections never move: conntrack keeps their translation
//! whatever the table says, which is what makes a drain graceful.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use routerd_config::Config;
use routerd_config::kinds::IngressService;
use routerd_config::kinds::ingress::{
    BackendProbe, IngressServiceSpec, ListenProtocol, SelectionPolicy,
};
use routerd_contract::{Event, NewEvent};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::controller::{Cause, Controller};
use crate::controllers::daemons::sync_daemons;
use crate::daemon::DaemonSpec;
use crate::drains::{self, Drains};
use crate::gate::{ConfigLookup, Lookup, any_mentions, value_from, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};

/// Probe daemons of backends are named `ingress-SERVICE-BACKEND`.
pub const PREFIX: &str = "ingress-";
/// Drain ends and DNS answers are noticed within this; nftables drift too.
const RESYNC: Duration = Duration::from_secs(1);
/// After a start, the table is not written until every backend's probe
/// has reported (at most this long): the table in the kernel, from before
/// a restart, knows which backends were down; a table written before the
/// probes' statuses are read would treat them all as not yet judged.
const STARTUP_GRACE: Duration = Duration::from_secs(5);
/// How long a host name's answer (or failure) is kept.
const DNS_TTL_MIN: Duration = Duration::from_secs(5);
const DNS_TTL_MAX: Duration = Duration::from_secs(300);

/// Manages the IngressServices.
pub struct IngressController;

/// A host name's answer (addresses, or why none) and when it goes stale.
type DnsAnswer = (Result<Vec<IpAddr>, String>, Instant);

/// What the controller remembers between reconciles; in the runtime's
/// services, so a restarted controller does not re-announce every backend.
#[derive(Default)]
pub struct IngressMemory {
    /// The table last written and the nftables generation after it.
    applied: Option<(routerd_nft::Table, u32)>,
    /// Each backend's last reported state, to announce changes once.
    states: BTreeMap<String, String>,
    /// Host names resolved (or not), by name and family.
    dns: BTreeMap<(String, bool), DnsAnswer>,
    /// When this routerd's first reconcile ran (see `STARTUP_GRACE`).
    started: Option<Instant>,
}

/// The status of a backend's probe lives under this id (kept while the
/// service exists: see `is_sub_status`).
pub fn probe_status_id(service: &str, backend: &str) -> String {
    format!("IngressService/{service}#{backend}")
}

/// Whether `id` is a part of a resource's status (`Kind/name#part`), kept
/// as long as `Kind/name` is.
pub fn is_sub_status(id: &str) -> Option<&str> {
    id.split_once('#').map(|(base, _)| base)
}

/// One backend as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    /// Its name.
    pub name: String,
    /// The address it resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its port.
    pub port: u16,
    /// Its weight.
    pub weight: u32,
    /// `Healthy`, `Unhealthy`, `Unknown` (no verdict yet) or `Unresolved`.
    pub health: String,
    /// Drained by an operator.
    pub drained: bool,
    /// When the drain ends by itself (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draining_until: Option<String>,
    /// Takes new connections now.
    pub eligible: bool,
    /// Why not, or what the probe last said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl BackendStatus {
    /// One word for events: what changed about the backend.
    fn state(&self) -> String {
        if self.drained {
            "Drained".into()
        } else {
            self.health.clone()
        }
    }
}

fn rfc3339_ms(unix_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(t).to_string()
}

impl Controller for IngressController {
    fn name(&self) -> &'static str {
        "ingress"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec![
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.actor.daemon-supervisors.restarted",
            "routerd.ingressservice.*.drained",
            "routerd.ingressservice.*.undrained",
            "routerd.kernel.address.**",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let config = &generation.config;
        let has = config.of_kind::<IngressService>().next().is_some();
        let relevant = match event.topic.as_str() {
            // A new config may remove the last service: its table goes too.
            "routerd.config.applied" | "routerd.actor.daemon-supervisors.restarted" => true,
            "routerd.status.changed" => {
                has && event.resource.as_deref().is_some_and(|r| {
                    r.starts_with("IngressService/")
                        || any_mentions(config, &["IngressService"], r)
                        || r.starts_with("DNSUpstream/")
                        || r.starts_with("DNSForwarder/")
                })
            }
            // Whether the VIP is here shows in status.
            _ => has,
        };
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

    fn resync_every(&self) -> Option<Duration> {
        Some(RESYNC)
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

/// The routerd-healthcheck probe of one backend.
pub fn probe_spec(
    service: &str,
    backend: &str,
    spec: &IngressServiceSpec,
    address: IpAddr,
    port: u16,
) -> Value {
    let h = spec.health();
    let http = h.protocol() == BackendProbe::Http;
    let mut v = json!({
        "name": format!("{service}-{backend}"),
        // https is probed with a TCP connect (no TLS here); status says so.
        "protocol": if http { "http" } else { "tcp" },
        "targetSource": "static",
        "target": address.to_string(),
        "port": port,
        "intervalMs": u64::try_from(h.interval().as_millis()).unwrap_or(u64::MAX),
        "timeoutMs": u64::try_from(h.timeout().as_millis()).unwrap_or(u64::MAX),
        "healthyThreshold": h.healthy_threshold.unwrap_or(2),
        "unhealthyThreshold": h.unhealthy_threshold.unwrap_or(3),
        "enabled": true,
    });
    if http && let Some(obj) = v.as_object_mut() {
        if let Some(path) = &h.path {
            obj.insert("path".into(), path.clone().into());
        }
        if !h.expected_status.is_empty() {
            obj.insert("expectedStatus".into(), json!(h.expected_status));
        }
        if let Some(host) = &h.host {
            obj.insert("host".into(), host.clone().into());
        }
    }
    v
}

/// An address given literally, read from a resource, or looked up by name.
enum Address {
    Ip(IpAddr),
    Name(String),
}

fn address_of(
    literal: Option<&String>,
    from: Option<&routerd_config::ValueFrom>,
    lookup: &dyn Lookup,
) -> Result<Address, String> {
    let text = match (literal, from) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => value_from(f, lookup)
            .map_err(|c| c.reason)?
            .ok_or_else(|| format!("{} has no address yet", f.resource))?,
        (None, None) => return Err("no address".into()),
    };
    // Status fields often carry a prefix length (`cidr`-like values).
    let bare = text.split('/').next().unwrap_or(&text);
    Ok(match bare.parse() {
        Ok(ip) => Address::Ip(ip),
        Err(_) => Address::Name(text.trim_end_matches('.').to_string()),
    })
}

/// A host name's addresses of one family, through routerd's DNS forwarding
/// (cached here for the answer's TTL, failures for a few seconds).
async fn resolve(runtime: &Runtime, name: &str, v6: bool) -> Result<Vec<IpAddr>, String> {
    let key = (name.to_string(), v6);
    if let Some((answer, until)) = memory(runtime, |m| m.dns.get(&key).cloned())
        && until > Instant::now()
    {
        return answer;
    }
    let (answer, ttl) = match runtime.services.forwarding() {
        None => (
            Err(format!(
                "cannot resolve `{name}`: no DNSForwarder is configured (routerd never uses the host's resolver)"
            )),
            DNS_TTL_MIN,
        ),
        Some(forwarding) => {
            let result = if v6 {
                forwarding.lookup_ipv6(name).await
            } else {
                forwarding.lookup_ipv4(name).await
            };
            match result {
                Ok(a) if a.addresses.is_empty() => (
                    Err(format!(
                        "`{name}` has no {} record",
                        if v6 { "AAAA" } else { "A" }
                    )),
                    DNS_TTL_MIN,
                ),
                Ok(a) => (
                    Ok(a.addresses.clone()),
                    Duration::from_secs(u64::from(a.ttl)).clamp(DNS_TTL_MIN, DNS_TTL_MAX),
                ),
                Err(e) => (Err(format!("cannot resolve `{name}`: {e}")), DNS_TTL_MIN),
            }
        }
    };
    memory(runtime, |m| {
        m.dns.insert(key, (answer.clone(), Instant::now() + ttl));
    });
    answer
}

fn memory<R>(runtime: &Runtime, f: impl FnOnce(&mut IngressMemory) -> R) -> R {
    let mutex: &Mutex<IngressMemory> = &runtime.services.ingress;
    match mutex.lock() {
        Ok(mut m) => f(&mut m),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// How fit a backend is for new connections, best first: healthy; not
/// judged yet but its last probe succeeded; not probed yet; never (unhealthy,
/// or not judged yet with a failed last probe).
///
/// New connections go to the undrained backends of the best rank present,
/// never to `NEVER`. So a fresh start serves at once instead of refusing
/// until the thresholds are met, a backend whose first probe failed is not
/// used meanwhile, and once one backend is known good, unknown ones wait.
/// (A restarted routerd finds the probes' phases as they were: the
/// healthcheck daemons persist them.)
fn rank(health: &str, last_ok: Option<bool>) -> u8 {
    match (health, last_ok) {
        ("Healthy", _) => 0,
        ("Unknown", Some(true)) => 1,
        ("Unknown", None) => 2,
        _ => NEVER,
    }
}

/// The rank that takes no connections.
const NEVER: u8 = 3;

/// One service: its status fields, the backends' statuses, and the intent.
struct Planned {
    id: String,
    phase: &'static str,
    message: Option<String>,
    fields: Map<String, Value>,
    backends: Vec<BackendStatus>,
    service: Option<routerd_nft::Service>,
    /// Backends whose probe has not reported since routerd started.
    unheard: Vec<String>,
}

/// What every service of one reconcile is planned against.
struct Context<'a> {
    runtime: &'a Runtime,
    config: &'a Config,
    lookup: ConfigLookup<'a>,
    drains: Drains,
    /// The node's addresses now: where the VIPs are.
    local: BTreeSet<IpAddr>,
}

async fn plan_service(
    cx: &Context<'_>,
    name: &str,
    spec: &IngressServiceSpec,
    probes: &mut BTreeMap<String, DaemonSpec>,
) -> Planned {
    let Context {
        runtime,
        config,
        lookup,
        drains,
        local,
    } = cx;
    let (runtime, config): (&Runtime, &Config) = (runtime, config);
    let id = format!("IngressService/{name}");
    let mut fields = Map::new();
    fields.insert("protocol".into(), spec.listen.protocol.as_str().into());
    fields.insert("port".into(), spec.listen.port.into());
    let selection = match spec.selection() {
        SelectionPolicy::SourceHash => "sourceHash",
        SelectionPolicy::Random => "random",
        _ => "failover",
    };
    fields.insert("selection".into(), selection.into());
    if spec.health().protocol() == BackendProbe::Https {
        fields.insert(
            "probe".into(),
            "tcp connect (https requested; this build speaks no TLS)".into(),
        );
    }
    let pending = |why: String, fields: Map<String, Value>| Planned {
        id: id.clone(),
        phase: "Pending",
        message: Some(why),
        fields,
        backends: Vec::new(),
        service: None,
        unheard: Vec::new(),
    };
    if let Some(gate) = when_blocks(spec.when.as_ref(), lookup) {
        return pending(gate.reason, fields);
    }
    let vip = match address_of(
        spec.listen.address.as_ref(),
        spec.listen.address_from.as_ref(),
        lookup,
    ) {
        Ok(Address::Ip(ip)) => ip,
        Ok(Address::Name(n)) => {
            return pending(
                format!("the listen address `{n}` is not an IP address"),
                fields,
            );
        }
        Err(why) => return pending(format!("no listen address: {why}"), fields),
    };
    fields.insert("address".into(), vip.to_string().into());
    // Whether this node holds the VIP now: the rules act only where it does.
    fields.insert("vipHeld".into(), local.contains(&vip).into());
    if let Some(ifname) = ifname_of(config, &spec.listen.interface) {
        fields.insert("interface".into(), ifname.into());
    }

    let mut backends = Vec::new();
    let mut targets = Vec::new();
    let mut unheard = Vec::new();
    for (i, b) in spec.backends.iter().enumerate() {
        let bname = spec.backend_name(i);
        let drain = drains.get(&drains::key(name, &bname));
        let mut status = BackendStatus {
            name: bname.clone(),
            address: None,
            port: b.port,
            weight: b.weight.unwrap_or(1),
            health: "Unresolved".into(),
            drained: drain.is_some(),
            draining_until: drain.and_then(|d| d.until_unix_ms).map(rfc3339_ms),
            eligible: false,
            message: None,
        };
        let address = match address_of(b.address.as_ref(), b.address_from.as_ref(), lookup) {
            Ok(Address::Ip(ip)) => Ok(ip),
            Ok(Address::Name(host)) => resolve(runtime, &host, vip.is_ipv6()).await.and_then(|a| {
                a.first()
                    .copied()
                    .ok_or_else(|| format!("`{host}` resolved to nothing"))
            }),
            Err(why) => Err(why),
        };
        match address {
            Ok(ip) if ip.is_ipv6() != vip.is_ipv6() => {
                status.message = Some(format!(
                    "{ip} is not of the VIP's family ({vip}): DNAT cannot translate between IPv4 and IPv6"
                ));
            }
            Ok(ip) => {
                status.address = Some(ip.to_string());
                let probe_id = probe_status_id(name, &bname);
                let daemon = format!("{PREFIX}{name}-{bname}");
                probes.insert(
                    daemon.clone(),
                    DaemonSpec::new(
                        daemon,
                        "routerd-healthcheck",
                        Some(probe_id.clone()),
                        probe_spec(name, &bname, spec, ip, b.port),
                    ),
                );
                let probe = runtime.statuses.get(&probe_id);
                if probe.as_ref().is_none_or(|s| s.phase.is_empty()) {
                    unheard.push(bname.clone());
                }
                status.health = probe
                    .as_ref()
                    .map(|s| s.phase.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "Unknown".into());
                let last = probe.as_ref().and_then(|s| s.fields.get("lastResult"));
                let last_ok = last.and_then(|r| r.get("ok")).and_then(Value::as_bool);
                // The probe's last error explains a backend that is not
                // healthy (or about to stop being so).
                status.message = last
                    .and_then(|r| r.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                targets.push((backends.len(), ip, rank(&status.health, last_ok)));
            }
            Err(why) => status.message = Some(why),
        }
        backends.push(status);
    }
    let best = targets
        .iter()
        .filter(|(index, _, _)| !backends[*index].drained)
        .map(|(_, _, rank)| *rank)
        .min()
        .unwrap_or(NEVER);
    let mut eligible_backends = Vec::new();
    for (index, ip, rank) in targets {
        let b = &mut backends[index];
        b.eligible = !b.drained && rank < NEVER && rank == best;
        if b.eligible {
            eligible_backends.push(routerd_nft::Backend {
                name: b.name.clone(),
                address: ip,
                port: b.port,
                weight: b.weight,
            });
        }
    }
    let hairpin = spec.hairpin().map(|ifaces| routerd_nft::Hairpin {
        interfaces: ifaces.iter().filter_map(|i| ifname_of(config, i)).collect(),
    });
    let service = routerd_nft::Service {
        name: name.to_string(),
        address: vip,
        protocol: match spec.listen.protocol {
            ListenProtocol::Tcp => routerd_nft::L4::Tcp,
            ListenProtocol::Udp => routerd_nft::L4::Udp,
        },
        port: spec.listen.port,
        selection: match spec.selection() {
            SelectionPolicy::SourceHash => routerd_nft::Selection::SourceHash,
            SelectionPolicy::Random => routerd_nft::Selection::Random,
            _ => routerd_nft::Selection::Failover,
        },
        backends: eligible_backends,
        no_backend: if spec.drops_without_backends() {
            routerd_nft::NoBackend::Drop
        } else {
            routerd_nft::NoBackend::Reject
        },
        hairpin,
    };
    let serving = service.backends.len();
    fields.insert("eligibleBackends".into(), serving.into());
    let (phase, message) = if serving > 0 {
        ("Serving", None)
    } else {
        (
            "NoHealthyBackends",
            Some(format!(
                "no backend is healthy and undrained: new connections are {}",
                if spec.drops_without_backends() {
                    "dropped"
                } else {
                    "rejected"
                }
            )),
        )
    };
    Planned {
        id,
        phase,
        message,
        fields,
        backends,
        service: Some(service),
        unheard,
    }
}

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    let has_services = config.of_kind::<IngressService>().next().is_some();
    // The resync runs every second on every router: without a service and
    // with no table of ours left to remove, there is nothing to read.
    if !has_services
        && memory(runtime, |m| {
            m.applied.as_ref().is_some_and(|(t, _)| t.is_empty())
        })
    {
        return Ok(());
    }
    // Only the addresses: a full observe() dumps every route, which on a
    // router with a BGP table is far too much for a once-a-second look.
    let local: BTreeSet<IpAddr> = if has_services {
        match runtime.kernel.addresses().await {
            Ok(a) => a.iter().map(|a| a.addr).collect(),
            Err(e) => return Err(format!("cannot read the node's addresses: {e}")),
        }
    } else {
        BTreeSet::new()
    };
    let cx = Context {
        runtime,
        config,
        lookup: ConfigLookup {
            statuses: &runtime.statuses,
            config,
        },
        drains: drains::load(&runtime.options.state_dir, drains::now_ms()),
        local,
    };
    let mut probes = BTreeMap::new();
    let mut planned = Vec::new();
    for (r, spec) in config.of_kind::<IngressService>() {
        planned.push(plan_service(&cx, &r.name, spec, &mut probes).await);
    }
    let daemons = sync_daemons(runtime, PREFIX, probes, &BTreeSet::new()).await;

    let services: Vec<routerd_nft::Service> =
        planned.iter().filter_map(|p| p.service.clone()).collect();
    let table = routerd_nft::render(&services);
    let started = memory(runtime, |m| *m.started.get_or_insert_with(Instant::now));
    let never_applied = memory(runtime, |m| m.applied.is_none());
    let unheard: Vec<String> = planned
        .iter()
        .flat_map(|p| p.unheard.iter().map(|b| format!("{}/{b}", p.id)))
        .collect();
    // Right after a start, keep what the kernel has until the probes have
    // spoken (bounded): a restart must not hand new connections back to a
    // backend that was down.
    let waiting = never_applied && !unheard.is_empty() && started.elapsed() < STARTUP_GRACE;
    let applied = if waiting {
        Ok(false)
    } else {
        apply_if_changed(runtime, &table)
    };

    let mut events = Vec::new();
    for p in planned {
        let mut fields = p.fields;
        fields.insert("backends".into(), json!(p.backends));
        // Drift is repaired by re-applying; the rules as installed are shown.
        if let Some(s) = &p.service {
            let mine = routerd_nft::render(std::slice::from_ref(s));
            let rules: Vec<String> = mine
                .chains
                .iter()
                .flat_map(|c| c.rules.iter().map(move |r| format!("{}: {r}", c.name)))
                .collect();
            fields.insert("rules".into(), json!(rules));
        }
        let watched: Vec<String> = vec!["backends".into(), "address".into(), "vipHeld".into()];
        runtime.statuses.set_fields_watched(&p.id, fields, &watched);
        let (phase, message) = match &applied {
            Err(e) if p.service.is_some() => ("Failed", Some(format!("nftables: {e}"))),
            _ if waiting && p.service.is_some() => (
                "Pending",
                Some(format!(
                    "starting: waiting up to {}s for the probes of {} to report; nftables keeps the rules it had",
                    STARTUP_GRACE.as_secs(),
                    unheard.join(", ")
                )),
            ),
            _ => (p.phase, p.message),
        };
        if let Some(t) = runtime
            .statuses
            .set_phase(&p.id, phase, "Reconciled", message.clone())
        {
            events.push(
                NewEvent::new(
                    crate::controllers::kernel::topic_for(&p.id, &phase.to_lowercase()),
                    phase,
                )
                .resource(p.id.clone())
                .message(message.unwrap_or_else(|| format!("{} → {}", t.from, t.to)))
                .attr("from", t.from)
                .attr("to", t.to),
            );
        }
        let service = p.id.trim_start_matches("IngressService/").to_string();
        for b in &p.backends {
            let key = drains::key(&service, &b.name);
            let state = b.state();
            let before = memory(runtime, |m| m.states.insert(key.clone(), state.clone()));
            if before.as_deref() == Some(state.as_str()) {
                continue;
            }
            let reason = format!("Backend{state}");
            let detail = b
                .message
                .clone()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            events.push(
                NewEvent::new(format!("routerd.ingressservice.{service}.backend"), reason)
                    .resource(p.id.clone())
                    .message(format!(
                        "{} is {}{} ({})",
                        b.name,
                        state,
                        detail,
                        if b.eligible {
                            "takes new connections"
                        } else {
                            "no new connections"
                        }
                    ))
                    .attr("backend", b.name.clone())
                    .attr("from", before.unwrap_or_default())
                    .attr("to", state),
            );
        }
    }
    runtime.bus.publish_all(events);
    let known: BTreeSet<String> = config
        .of_kind::<IngressService>()
        .flat_map(|(r, s)| {
            (0..s.backends.len())
                .map(|i| drains::key(&r.name, &s.backend_name(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    memory(runtime, |m| m.states.retain(|k, _| known.contains(k)));
    daemons?;
    applied.map(|_| ())
}

/// Writes the table when it differs from the last one written, or when
/// nftables changed since (someone else's edit may have touched ours).
fn apply_if_changed(runtime: &Runtime, table: &routerd_nft::Table) -> Result<bool, String> {
    let last = memory(runtime, |m| m.applied.clone());
    if let Some((last_table, last_gen)) = &last
        && last_table == table
        && routerd_nft::generation().ok() == Some(*last_gen)
    {
        return Ok(false);
    }
    let generation = match routerd_nft::apply(table) {
        Ok(g) => g,
        // Without services, a failure (a kernel without nf_tables) is no
        // reason to retry forever: nothing needs the table.
        Err(e) if table.is_empty() => {
            tracing::debug!(error = %e, "cannot remove table inet routerd");
            memory(runtime, |m| m.applied = Some((table.clone(), 0)));
            return Ok(false);
        }
        Err(e) => return Err(e.to_string()),
    };
    let drift = last.as_ref().is_some_and(|(t, _)| t == table);
    memory(runtime, |m| m.applied = Some((table.clone(), generation)));
    if drift {
        runtime.bus.publish(
            NewEvent::new("routerd.nftables.repaired", "DriftRepaired")
                .message("nftables changed behind routerd's back: table inet routerd re-applied"),
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backends_serve_until_one_is_known_good() {
        assert!(rank("Healthy", Some(false)) < rank("Unknown", Some(true)));
        assert!(
            rank("Unknown", Some(true)) < rank("Unknown", None),
            "a first success beats no probe yet"
        );
        assert!(rank("Unknown", None) < NEVER, "a fresh start serves");
        assert_eq!(
            rank("Unknown", Some(false)),
            NEVER,
            "a first failure does not"
        );
        assert_eq!(rank("Unhealthy", Some(true)), NEVER);
        assert_eq!(rank("Unresolved", None), NEVER);
    }

    #[test]
    fn probes_use_the_services_interval_and_http_settings() {
        let text = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: lan0, managed: true}}
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: web}
    spec:
      listen: {interface: lan, address: 192.0.2.10, protocol: tcp, port: 80}
      backends: [{name: b1, address: 10.0.0.1, port: 8080}]
      healthCheck: {protocol: http, path: /healthz, expectedStatus: [204], interval: 300ms, unhealthyThreshold: 1}
"#;
        let config = routerd_config::load_str("t.yaml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let spec = config.spec_of::<IngressService>("web").expect("web");
        let v = probe_spec("web", "b1", spec, "10.0.0.1".parse().expect("ip"), 8080);
        assert_eq!(v["protocol"], "http");
        assert_eq!(v["intervalMs"], 300);
        assert_eq!(v["timeoutMs"], 150);
        assert_eq!(v["unhealthyThreshold"], 1);
        assert_eq!(v["expectedStatus"], json!([204]));
        assert_eq!(v["path"], "/healthz");
        assert_eq!(v["target"], "10.0.0.1");
        // What the daemon accepts, the controller sends.
        let parsed: routerd_healthcheck::spec::ProbeSpec =
            serde_json::from_value(v).expect("a ProbeSpec");
        parsed.validate().expect("valid for the daemon");
    }
}
