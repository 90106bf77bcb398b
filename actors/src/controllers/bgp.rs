//! The BGP controller: one `routerd-bgp` per `BGPRouter`, configured with
//! the router's `BGPPeer`s, `BGPDynamicPeer`s, `BFD`s and what it
//! originates (`BGPAnnouncement`s and `redistribute`).
//!
//! Policies are rendered with explicit `ge`/`le` so the daemon never has to
//! know the Go convention that a plain prefix covers longer ones.
//!
//! A fenced announcement (`owner: VirtualAddress/x`) carries the virtual
//! router's ownership group: in a cluster the ownership actor hands
//! routerd-bgp the same grants it hands routerd-vrrp, and the daemon
//! announces only under a valid owner grant. Without a cluster there is no
//! fencing: the announcement follows the local VRRP state instead.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use ipnet::IpNet;
use routerd_config::kinds::bgp::{
    BfdTarget, ExportPolicy, ImportPolicy, PasswordFrom, StandbyAction, Timers, parse_prefix_rule,
};
use routerd_config::kinds::{
    BFD, BFDSpec, BGPAnnouncement, BGPDynamicPeer, BGPPeer, BGPRouter, BGPRouterSpec, IPv4Route,
    IPv4StaticAddress, IPv4StaticRoute, IPv6Route, IPv6StaticAddress, IPv6StaticRoute, RouteSpec,
    VirtualAddress,
};
use routerd_config::{Config, Resource};
use routerd_contract::Event;
use serde_json::{Value, json};

use crate::controller::{Cause, Controller};
use crate::controllers::daemons::sync_daemons;
use crate::daemon::{DaemonSpec, SubResource};
use crate::gate::{ConfigLookup, when_blocks};
use crate::reconcile::Scope;
use crate::runtime::{Generation, Runtime};
use crate::status::Statuses;

/// Daemon names of BGP routers start with this (then the router's name).
pub const PREFIX: &str = "bgp-";

/// The daemon that serves `BGPRouter/name`.
pub fn daemon_name(router: &str) -> String {
    format!("{PREFIX}{router}")
}

/// Most equal paths installed as one multipath route.
const MULTIPATH: u32 = 16;

/// Manages the routerd-bgp daemons.
pub struct BgpController;

/// Where a config could not be rendered: the resource and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `Kind/name`.
    pub resource: String,
    /// Why.
    pub reason: String,
}

/// A router's daemon config, and the resources whose status it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The routerd-bgp config.
    pub config: Value,
    /// Peer, dynamic peer, BFD and announcement resources it serves.
    pub sub_resources: Vec<String>,
    /// Parts that could not be rendered (a secret that cannot be read).
    pub refusals: Vec<Refusal>,
}

/// How announcements tied to a virtual router are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fencing {
    /// By Raft grants to the daemon (a cluster).
    Grants,
    /// By the local VRRP state (no cluster): announced while the virtual
    /// router is Master here.
    LocalVrrp,
}

/// Renders the routerd-bgp config of `BGPRouter/name`.
pub fn render(
    config: &Config,
    statuses: &Statuses,
    name: &str,
    router: &BGPRouterSpec,
    fencing: Fencing,
) -> Rendered {
    let lookup = ConfigLookup { statuses, config };
    let mut subs = Vec::new();
    let mut refusals = Vec::new();
    let (hold, _keepalive, retry) = router.timer_profile().timers();
    let fib = router.fib.as_ref();
    let gr = router
        .graceful_restart
        .as_ref()
        .filter(|g| g.enabled())
        .map(|g| {
            json!({
                "restartTimeSecs": g.restart_time().as_secs(),
                "stalePathTimeSecs": g.stale_path_time().as_secs(),
            })
        });
    let router_communities = router.communities.as_ref();
    let default_max = router.watcher.as_ref().and_then(|w| w.max_prefixes);
    let bfds: Vec<(&Resource, &BFDSpec)> = config
        .of_kind::<BFD>()
        .filter(|(_, s)| when_blocks(s.when.as_ref(), &lookup).is_none())
        .collect();

    let mut peers = Vec::new();
    for (r, spec) in config.of_kind::<BGPPeer>() {
        if spec.router_ref.name != name || when_blocks(spec.when.as_ref(), &lookup).is_some() {
            continue;
        }
        subs.push(r.id());
        let md5 = match secret(spec.password.as_deref(), spec.password_from.as_ref()) {
            Ok(k) => k,
            Err(e) => {
                refusals.push(Refusal {
                    resource: r.id(),
                    reason: e,
                });
                continue;
            }
        };
        if let Some(reason) = peer_refusal(spec, router.asn) {
            refusals.push(Refusal {
                resource: r.id(),
                reason,
            });
            continue;
        }
        let local_address = spec
            .local_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok());
        let communities = spec.communities.as_ref().or(router_communities);
        let import = import_policy(
            spec.import_policy
                .as_ref()
                .or(router.import_policy.as_ref()),
            communities
                .and_then(|c| c.set.as_ref())
                .map(|s| &s.on_import[..]),
        );
        let export = export_policy(
            spec.export_policy
                .as_ref()
                .or(router.export_policy.as_ref()),
            communities
                .and_then(|c| c.set.as_ref())
                .map(|s| &s.on_export[..]),
        );
        let (peer_hold, peer_retry) = session_timers(spec.timers.as_ref(), hold, retry);
        for address in spec.addresses() {
            let bfd = bfd_for(&bfds, r, Some(address), spec.bfd.as_ref());
            if let Some((b, _)) = &bfd
                && !subs.contains(&b.id())
            {
                subs.push(b.id());
            }
            peers.push(json!({
                "name": format!("{}#{address}", r.id()),
                "resource": r.id(),
                "address": address.to_string(),
                "peerAsn": spec.peer_asn,
                "passive": spec.passive_mode.unwrap_or(false),
                // One localAddress serves the neighbours of its family.
                "localAddress": local_address.filter(|l| l.is_ipv4() == address.is_ipv4()),
                "md5Key": md5,
                "ttlSecurityHops": spec.ttl_security_hops,
                "ebgpMultihop": spec.ebgp_multihop,
                "holdTime": peer_hold,
                "connectRetryMs": peer_retry,
                "import": import,
                "export": export,
                "maxPrefixes": spec.max_prefixes.or(default_max),
                "routeReflectorClient": spec.route_reflector_client.unwrap_or(false),
                "bfd": bfd.map(|(b, s)| bfd_json(b, s)),
                "port": spec.port,
            }));
        }
    }

    let mut dynamic = Vec::new();
    for (r, spec) in config.of_kind::<BGPDynamicPeer>() {
        if spec.router_ref.name != name || when_blocks(spec.when.as_ref(), &lookup).is_some() {
            continue;
        }
        subs.push(r.id());
        let md5 = match secret(spec.password.as_deref(), spec.password_from.as_ref()) {
            Ok(k) => k,
            Err(e) => {
                refusals.push(Refusal {
                    resource: r.id(),
                    reason: e,
                });
                continue;
            }
        };
        let set = router_communities.and_then(|c| c.set.as_ref());
        let import = import_policy(
            spec.import_policy
                .as_ref()
                .or(router.import_policy.as_ref()),
            set.map(|s| &s.on_import[..]),
        );
        let export = export_policy(
            spec.export_policy
                .as_ref()
                .or(router.export_policy.as_ref()),
            set.map(|s| &s.on_export[..]),
        );
        let bfd = bfd_for(&bfds, r, None, spec.bfd.as_ref());
        if let Some((b, _)) = &bfd
            && !subs.contains(&b.id())
        {
            subs.push(b.id());
        }
        let (peer_hold, _) = session_timers(spec.timers.as_ref(), hold, retry);
        dynamic.push(json!({
            "name": r.id(),
            "resource": r.id(),
            "prefixes": spec.prefixes().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "peerAsn": spec.peer_asn,
            "md5Key": md5,
            "ttlSecurityHops": spec.ttl_security_hops,
            "holdTime": peer_hold,
            "import": import,
            "export": export,
            "maxPrefixes": spec.max_prefixes.or(default_max),
            "bfd": bfd.map(|(b, s)| bfd_json(b, s)),
        }));
    }

    let announce = announcements(config, statuses, name, router, fencing, &mut subs);
    let listen = router.listen.as_ref();
    let rendered = json!({
        "name": name,
        "asn": router.asn,
        "routerId": router.router_id,
        "listen": {
            // The dual-stack wildcard takes IPv4 sessions too.
            "address": listen.and_then(|l| l.address.clone()).unwrap_or_else(|| "::".into()),
            "port": router.port(),
        },
        // Equal paths installed per prefix; 1 turns ECMP off.
        "multipath": if fib.and_then(|f| f.multipath).unwrap_or(true) { MULTIPATH } else { 1 },
        "holdTime": hold.as_secs(),
        "connectRetryMs": millis(retry),
        "gracefulRestart": gr,
        "fib": {
            "install": fib.and_then(|f| f.install).unwrap_or(true),
            "table": fib.and_then(|f| f.table).unwrap_or(254),
            "metric": fib.and_then(|f| f.metric).unwrap_or(20),
        },
        "peers": peers,
        "dynamicPeers": dynamic,
        "announce": announce,
    });
    Rendered {
        config: rendered,
        sub_resources: subs,
        refusals,
    }
}

/// Why a peer cannot become a session the daemon accepts, when validation
/// (which sees one resource at a time) let it through: refused here, the
/// peer alone fails instead of the whole daemon refusing its config.
fn peer_refusal(spec: &routerd_config::kinds::BGPPeerSpec, asn: u32) -> Option<String> {
    if spec.route_reflector_client == Some(true) && spec.peer_asn != asn {
        return Some(format!(
            "routeReflectorClient: AS {} is not this router's AS {asn}; only an iBGP peer can be a route-reflector client",
            spec.peer_asn
        ));
    }
    if spec.ttl_security_hops.is_some() && spec.ebgp_multihop.is_some() {
        return Some(
            "ttlSecurityHops and ebgpMultihop exclude each other (GTSM expects TTL 255)".into(),
        );
    }
    if let Some(local) = spec
        .local_address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
        && !spec
            .addresses()
            .iter()
            .any(|a| a.is_ipv4() == local.is_ipv4())
    {
        return Some(format!(
            "localAddress {local} is of another family than every neighbour address"
        ));
    }
    None
}

/// What the router originates: its announcements, then its redistributed
/// connected and static prefixes (each once; an announcement wins).
fn announcements(
    config: &Config,
    statuses: &Statuses,
    name: &str,
    router: &BGPRouterSpec,
    fencing: Fencing,
    subs: &mut Vec<String>,
) -> Vec<Value> {
    let lookup = ConfigLookup { statuses, config };
    let mut out: BTreeMap<IpNet, Value> = BTreeMap::new();
    for (r, spec) in config.of_kind::<BGPAnnouncement>() {
        if spec.router_ref.name != name || when_blocks(spec.when.as_ref(), &lookup).is_some() {
            continue;
        }
        subs.push(r.id());
        let owner = spec.owner.as_ref().and_then(|o| {
            config
                .spec_of::<VirtualAddress>(&o.name)
                .map(|va| (o.to_string(), va.group()))
        });
        let standby = match &spec.standby {
            Some(s) if s.action == StandbyAction::Prepend => {
                json!({ "prepend": s.prepend.unwrap_or(3) })
            }
            _ => json!("withdraw"),
        };
        let group = match &owner {
            None => None,
            Some((_, g)) if fencing == Fencing::Grants => g.clone(),
            Some((va, _)) => {
                let master = statuses
                    .get(va)
                    .is_some_and(|s| s.phase.eq_ignore_ascii_case("master"));
                // Without a cluster nobody grants: a group that never hears
                // a grant keeps the daemon in its standby behaviour, and
                // the master announces it plainly.
                if master {
                    None
                } else {
                    Some(format!("local:{va}"))
                }
            }
        };
        for net in spec.nets() {
            out.insert(
                net,
                json!({
                    "prefix": net.to_string(),
                    "nextHop": spec.next_hop,
                    "communities": spec.communities,
                    "resource": r.id(),
                    "group": group,
                    "standby": standby,
                }),
            );
        }
    }
    let Some(redistribute) = &router.redistribute else {
        return out.into_values().collect();
    };
    let covered = |rules: &[String], net: &IpNet| {
        rules
            .iter()
            .filter_map(|t| parse_prefix_rule(t).ok())
            .any(|(p, ge, le)| {
                p.contains(&net.network())
                    && net.prefix_len() >= p.prefix_len()
                    && (ge..=le).contains(&net.prefix_len())
                    && p.max_prefix_len() == net.max_prefix_len()
            })
    };
    let mut local: Vec<(IpNet, String)> = Vec::new();
    if let Some(connected) = &redistribute.connected {
        for (r, s) in config.of_kind::<IPv4StaticAddress>() {
            local.push((IpNet::V4(s.address.0.trunc()), r.id()));
        }
        for (r, s) in config.of_kind::<IPv6StaticAddress>() {
            local.push((IpNet::V6(s.address.0.trunc()), r.id()));
        }
        local.retain(|(n, _)| covered(&connected.allowed_prefixes, n));
    }
    if let Some(statics) = &redistribute.static_routes {
        let mut routes: Vec<(IpNet, String)> = Vec::new();
        for (r, s) in config.of_kind::<IPv4Route>() {
            routes.push((s.destination(), r.id()));
        }
        for (r, s) in config.of_kind::<IPv6Route>() {
            routes.push((s.destination(), r.id()));
        }
        for (r, s) in config.of_kind::<IPv4StaticRoute>() {
            routes.push((s.destination(), r.id()));
        }
        for (r, s) in config.of_kind::<IPv6StaticRoute>() {
            routes.push((s.destination(), r.id()));
        }
        routes.retain(|(n, _)| covered(&statics.allowed_prefixes, n));
        local.extend(routes);
    }
    for (net, resource) in local {
        out.entry(net).or_insert_with(|| {
            json!({
                "prefix": net.to_string(),
                "nextHop": null,
                "communities": [],
                "resource": resource,
                "group": null,
                "standby": "withdraw",
            })
        });
    }
    out.into_values().collect()
}

/// The BFD resource guarding a session: the peer's `bfd`, else a BFD
/// naming the peer resource, else one naming the neighbour's address.
fn bfd_for<'c>(
    bfds: &[(&'c Resource, &'c BFDSpec)],
    peer: &Resource,
    address: Option<IpAddr>,
    named: Option<&routerd_config::types::ResourceRef>,
) -> Option<(&'c Resource, &'c BFDSpec)> {
    if let Some(named) = named {
        return bfds.iter().copied().find(|(r, _)| r.name == named.name);
    }
    let id = peer.id();
    bfds.iter()
        .copied()
        .find(|(_, s)| matches!(s.target(), Some(BfdTarget::Resource(t)) if t.to_string() == id))
        .or_else(|| {
            bfds.iter()
                .copied()
                .find(|(_, s)| address.is_some_and(|a| s.target() == Some(BfdTarget::Address(a))))
        })
}

/// The BFD resource's id travels with its timers: the daemon keys that
/// resource's status (its phase) by it.
fn bfd_json(resource: &Resource, spec: &BFDSpec) -> Value {
    let (rx, tx, mult) = spec.timers();
    json!({
        "resource": resource.id(),
        "minTxMs": millis(tx),
        "minRxMs": millis(rx),
        "multiplier": mult,
    })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn session_timers(
    timers: Option<&Timers>,
    hold: std::time::Duration,
    retry: std::time::Duration,
) -> (u64, u64) {
    let (hold, retry) = match timers {
        Some(t) => {
            let (h, _, r) = match t.profile {
                Some(p) => p.timers(),
                None => (hold, hold / 3, retry),
            };
            (
                t.hold_time.map_or(h, |d| d.0),
                t.connect_retry.map_or(r, |d| d.0),
            )
        }
        None => (hold, retry),
    };
    (hold.as_secs(), millis(retry))
}

/// A prefix-list entry with its lengths spelled out.
fn rule(text: &str) -> Option<String> {
    let (p, ge, le) = parse_prefix_rule(text).ok()?;
    Some(format!("{p} ge {ge} le {le}"))
}

fn import_policy(policy: Option<&ImportPolicy>, add: Option<&[String]>) -> Value {
    let Some(p) = policy else {
        return Value::Null;
    };
    // An empty list allows any prefix; `null` is not a list to the daemon.
    let allowed: Vec<String> = p.allowed_prefixes.iter().filter_map(|t| rule(t)).collect();
    json!({
        "allowed": allowed,
        "lengthMin": p.allowed_prefix_length_min,
        "lengthMax": p.allowed_prefix_length_max,
        "requiredCommunities": p.required_communities,
        "forbiddenCommunities": p.forbidden_communities,
        "localPref": p.local_preference.filter(|l| *l != 0),
        "addCommunities": add.unwrap_or_default(),
    })
}

fn export_policy(policy: Option<&ExportPolicy>, add: Option<&[String]>) -> Value {
    let Some(p) = policy else {
        return Value::Null;
    };
    json!({
        "allowed": p.allowed_prefixes.iter().filter_map(|t| rule(t)).collect::<Vec<_>>(),
        "lengthMin": null,
        "lengthMax": null,
        "requiredCommunities": [],
        "forbiddenCommunities": [],
        "localPref": null,
        "addCommunities": add.unwrap_or_default(),
    })
}

/// The MD5 key: given, or read from routerd's environment or a file
/// (`base64` decodes it).
fn secret(given: Option<&str>, from: Option<&PasswordFrom>) -> Result<Option<String>, String> {
    if let Some(k) = given {
        return Ok(Some(k.to_string()));
    }
    let Some(from) = from else {
        return Ok(None);
    };
    let raw = if let Some(var) = &from.env {
        std::env::var(var)
            .map_err(|_| format!("passwordFrom.env: routerd's environment has no variable {var}"))?
    } else if let Some(file) = &from.file {
        std::fs::read_to_string(file)
            .map_err(|e| format!("passwordFrom.file: cannot read {file}: {e}"))?
            .trim_end_matches(['\r', '\n'])
            .to_string()
    } else {
        return Err("passwordFrom names no source".into());
    };
    let key = if from.base64.unwrap_or(false) {
        let bytes = base64_decode(raw.trim())
            .ok_or_else(|| "passwordFrom: the value is not valid base64".to_string())?;
        String::from_utf8(bytes)
            .map_err(|_| "passwordFrom: the decoded key is not text".to_string())?
    } else {
        raw
    };
    if key.is_empty() || key.len() > 80 {
        return Err(format!(
            "passwordFrom: a TCP MD5 key is 1 to 80 bytes, this one has {}",
            key.len()
        ));
    }
    Ok(Some(key))
}

/// Standard base64 (RFC 4648 §4), padding optional: one small decoder
/// rather than a crate for one secret field.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = text.trim_end_matches('=');
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

impl Controller for BgpController {
    fn name(&self) -> &'static str {
        "bgp"
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
        if config.of_kind::<BGPRouter>().next().is_none() && event.topic != "routerd.config.applied"
        {
            return (Scope::none(), Cause::default());
        }
        // Status changes matter to gates and, without a cluster, to the
        // VRRP state fenced announcements follow.
        let relevant = event.topic != "routerd.status.changed"
            || event.resource.as_deref().is_some_and(|target| {
                target.starts_with("VirtualAddress/") || gated_on(config, target)
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

/// Whether a BGP resource's `when` reads `target`'s status.
fn gated_on(config: &Config, target: &str) -> bool {
    let prefix = format!("{target}.");
    let gated = |w: Option<&routerd_config::When>| {
        w.is_some_and(|w| w.state.keys().any(|k| k.starts_with(&prefix)))
    };
    config
        .of_kind::<BGPRouter>()
        .any(|(_, s)| gated(s.when.as_ref()))
        || config
            .of_kind::<BGPPeer>()
            .any(|(_, s)| gated(s.when.as_ref()))
        || config
            .of_kind::<BGPDynamicPeer>()
            .any(|(_, s)| gated(s.when.as_ref()))
        || config.of_kind::<BFD>().any(|(_, s)| gated(s.when.as_ref()))
        || config
            .of_kind::<BGPAnnouncement>()
            .any(|(_, s)| gated(s.when.as_ref()))
}

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    let statuses = &runtime.statuses;
    let lookup = ConfigLookup { statuses, config };
    let fencing = if runtime.options.cluster_node.is_some() {
        Fencing::Grants
    } else {
        Fencing::LocalVrrp
    };
    let mut wanted = BTreeMap::new();
    let mut held = BTreeSet::new();
    for (r, spec) in config.of_kind::<BGPRouter>() {
        let daemon = daemon_name(&r.name);
        if let Some(gate) = when_blocks(spec.when.as_ref(), &lookup) {
            if gate.unknown && runtime.daemon_slot(&daemon).is_some() {
                held.insert(daemon);
            } else {
                statuses.set_phase(&r.id(), "Pending", "Gated", Some(gate.reason));
            }
            continue;
        }
        if let Some(vrf) = &spec.vrf {
            statuses.set_phase(
                &r.id(),
                "Failed",
                "VrfUnsupported",
                Some(format!(
                    "bound to VRF {vrf}: VRF-bound BGP routers are not implemented yet, and this one is not run in the main table instead"
                )),
            );
            continue;
        }
        let rendered = render(config, statuses, &r.name, spec, fencing);
        for refusal in &rendered.refusals {
            statuses.set_phase(
                &refusal.resource,
                "Failed",
                "SecretUnavailable",
                Some(refusal.reason.clone()),
            );
        }
        let mut d = DaemonSpec::new(daemon.clone(), "routerd-bgp", Some(r.id()), rendered.config);
        d.sub_resources = rendered
            .sub_resources
            .into_iter()
            .filter(|s| !rendered.refusals.iter().any(|x| &x.resource == s))
            .map(|resource| SubResource {
                key: resource.clone(),
                resource,
            })
            .collect();
        wanted.insert(daemon, d);
    }
    sync_daemons(runtime, PREFIX, wanted, &held).await
}

/// For the ownership actor: the routerd-bgp daemons that announce prefixes
/// owned through `group`, and so must hear its grants.
pub fn grant_followers(config: &Config, group: &str) -> Vec<String> {
    let mut out: Vec<String> = config
        .of_kind::<BGPAnnouncement>()
        .filter(|(_, s)| {
            s.owner.as_ref().is_some_and(|o| {
                config
                    .spec_of::<VirtualAddress>(&o.name)
                    .and_then(|va| va.group())
                    .as_deref()
                    == Some(group)
            })
        })
        .filter(|(_, s)| {
            config
                .spec_of::<BGPRouter>(&s.router_ref.name)
                .is_some_and(|r| r.vrf.is_none())
        })
        .map(|(_, s)| daemon_name(&s.router_ref.name))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        routerd_config::load_str("t.yaml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    const EDGE: &str = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: lan0, managed: false}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv4StaticAddress, metadata: {name: lan-v4}, spec: {interface: lan, address: 192.168.70.2/24}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv4Route, metadata: {name: svc}, spec: {destination: 10.96.0.0/12, device: lan}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: VirtualAddress
    metadata: {name: gw}
    spec: {family: ipv4, interface: lan, address: 192.168.70.1/24, mode: vrrp, vrrp: {virtualRouterID: 70}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPRouter
    metadata: {name: edge}
    spec:
      asn: 64512
      routerID: 192.168.70.2
      importPolicy: {allowedPrefixes: [10.244.0.0/16], allowedPrefixLengthMax: 28}
      exportPolicy: {allowedPrefixes: [192.168.70.0/24, 10.96.0.0/12, "198.51.100.0/24 ge 32 le 32"]}
      redistribute:
        connected: {allowedPrefixes: [192.168.70.0/24]}
        static: {allowedPrefixes: [10.96.0.0/12]}
      gracefulRestart: {enabled: true}
      communities: {set: {in: ["64512:10"], out: ["64512:20"]}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: nodes}
    spec: {routerRef: BGPRouter/edge, peerASN: 64513, peers: [192.168.70.21, 192.168.70.22], bfd: BFD/nodes, passwordFrom: {env: ROUTERD_TEST_BGP_KEY_B64, base64: true}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPDynamicPeer
    metadata: {name: more-nodes}
    spec: {routerRef: BGPRouter/edge, peerASN: 64513, listen: {sourcePrefixes: [192.168.70.0/24]}, timers: {profile: fast}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: BFD, metadata: {name: nodes}, spec: {peer: BGPPeer/nodes, profile: fast}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPAnnouncement
    metadata: {name: lb}
    spec: {routerRef: BGPRouter/edge, prefixes: [198.51.100.10/32], owner: VirtualAddress/gw, standby: {action: prepend, prepend: 2}}
"#;

    #[test]
    fn a_router_renders_its_sessions_policies_and_originations() {
        // SAFETY: nextest runs each test in its own process, and no other
        // thread of this one reads the environment.
        unsafe { std::env::set_var("ROUTERD_TEST_BGP_KEY_B64", "czNjcmV0") };
        let config = load(EDGE);
        let statuses = Statuses::default();
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let out = render(&config, &statuses, "edge", router, Fencing::Grants);
        assert!(out.refusals.is_empty(), "{:?}", out.refusals);
        let c = &out.config;
        assert_eq!(c["asn"], 64512);
        assert_eq!(c["holdTime"], 90);
        assert_eq!(c["gracefulRestart"]["restartTimeSecs"], 120);
        assert_eq!(c["peers"].as_array().map(Vec::len), Some(2));
        let p = &c["peers"][0];
        assert_eq!(p["name"], "BGPPeer/nodes#192.168.70.21");
        assert_eq!(p["md5Key"], "s3cret", "base64 from the environment");
        assert_eq!(
            p["import"]["allowed"],
            json!(["10.244.0.0/16 ge 16 le 32"]),
            "a plain entry covers longer prefixes"
        );
        assert_eq!(p["import"]["lengthMax"], 28);
        assert_eq!(p["import"]["addCommunities"], json!(["64512:10"]));
        assert_eq!(p["export"]["addCommunities"], json!(["64512:20"]));
        assert_eq!(
            p["bfd"],
            json!({"resource": "BFD/nodes", "minTxMs": 50, "minRxMs": 50, "multiplier": 3})
        );
        let d = &c["dynamicPeers"][0];
        assert_eq!(d["prefixes"], json!(["192.168.70.0/24"]));
        assert_eq!(d["holdTime"], 9, "the fast profile");
        let announce = c["announce"].as_array().expect("announce");
        let prefixes: Vec<&str> = announce
            .iter()
            .filter_map(|a| a["prefix"].as_str())
            .collect();
        assert_eq!(
            prefixes,
            ["10.96.0.0/12", "192.168.70.0/24", "198.51.100.10/32"],
            "static, connected and the announcement"
        );
        let lb = &announce[2];
        assert_eq!(lb["group"], "lan/ipv4/70");
        assert_eq!(lb["standby"], json!({"prepend": 2}));
        assert_eq!(
            out.sub_resources,
            [
                "BGPPeer/nodes",
                "BFD/nodes",
                "BGPDynamicPeer/more-nodes",
                "BGPAnnouncement/lb"
            ]
        );
        assert_eq!(grant_followers(&config, "lan/ipv4/70"), ["bgp-edge"]);
        assert!(grant_followers(&config, "lan/ipv4/71").is_empty());
    }

    #[test]
    fn without_a_cluster_an_owned_announcement_follows_local_vrrp() {
        // SAFETY: as above.
        unsafe { std::env::set_var("ROUTERD_TEST_BGP_KEY_B64", "czNjcmV0") };
        let config = load(EDGE);
        let statuses = Statuses::default();
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let backup = render(&config, &statuses, "edge", router, Fencing::LocalVrrp);
        let lb = backup.config["announce"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|x| x["prefix"] == "198.51.100.10/32")
                    .cloned()
            })
            .expect("prepended on a backup");
        assert_eq!(
            lb["group"], "local:VirtualAddress/gw",
            "never granted: standby"
        );
        assert_eq!(lb["standby"], json!({"prepend": 2}));
        statuses.set_phase("VirtualAddress/gw", "Master", "Test", None);
        let master = render(&config, &statuses, "edge", router, Fencing::LocalVrrp);
        let lb = master.config["announce"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|x| x["prefix"] == "198.51.100.10/32")
                    .cloned()
            })
            .expect("announced by the master");
        assert_eq!(lb["group"], Value::Null);
    }

    #[test]
    fn an_unreadable_secret_refuses_that_peer_only() {
        let config = load(&EDGE.replace("ROUTERD_TEST_BGP_KEY_B64", "ROUTERD_TEST_NO_SUCH_VAR"));
        let statuses = Statuses::default();
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let out = render(&config, &statuses, "edge", router, Fencing::Grants);
        assert_eq!(out.refusals.len(), 1);
        assert_eq!(out.refusals[0].resource, "BGPPeer/nodes");
        assert!(out.refusals[0].reason.contains("ROUTERD_TEST_NO_SUCH_VAR"));
        assert_eq!(out.config["peers"].as_array().map(Vec::len), Some(0));
        assert_eq!(out.config["dynamicPeers"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn sessions_the_daemon_would_refuse_fail_alone() {
        // SAFETY: as above.
        unsafe { std::env::set_var("ROUTERD_TEST_BGP_KEY_B64", "czNjcmV0") };
        let text = EDGE.replace(
            "bfd: BFD/nodes,",
            "bfd: BFD/nodes, localAddress: 192.168.70.2, peers: [192.168.70.21, 'fd00:70::21'],",
        );
        let text = text.replace("peers: [192.168.70.21, 192.168.70.22], ", "");
        let config = load(&text);
        let statuses = Statuses::default();
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let out = render(&config, &statuses, "edge", router, Fencing::Grants);
        assert!(out.refusals.is_empty(), "{:?}", out.refusals);
        let peers = out.config["peers"].as_array().expect("peers");
        assert_eq!(peers[0]["localAddress"], "192.168.70.2");
        assert_eq!(
            peers[1]["localAddress"],
            Value::Null,
            "an IPv4 source is not used towards an IPv6 neighbour"
        );

        let rr = EDGE.replace(
            "bfd: BFD/nodes,",
            "bfd: BFD/nodes, routeReflectorClient: true,",
        );
        let config = load(&rr);
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let out = render(&config, &statuses, "edge", router, Fencing::Grants);
        assert_eq!(out.refusals.len(), 1);
        assert!(
            out.refusals[0].reason.contains("iBGP"),
            "{:?}",
            out.refusals
        );
        assert_eq!(out.config["peers"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn an_import_policy_without_prefixes_allows_any() {
        let config = load(&EDGE.replace(
            "importPolicy: {allowedPrefixes: [10.244.0.0/16], allowedPrefixLengthMax: 28}",
            "importPolicy: {allowedPrefixLengthMax: 28}",
        ));
        let (_, router) = config.of_kind::<BGPRouter>().next().expect("router");
        let out = render(
            &config,
            &Statuses::default(),
            "edge",
            router,
            Fencing::Grants,
        );
        // `null` is not a list to routerd-bgp: it refused the whole config.
        assert_eq!(
            out.config["dynamicPeers"][0]["import"]["allowed"],
            json!([])
        );
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("czNjcmV0").as_deref(), Some(&b"s3cret"[..]));
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("Y!=="), None);
    }
}
