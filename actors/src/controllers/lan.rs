//! The LAN controller: routerd's own router advertisements and stateless
//! DHCPv6 server (`routerd-lan`), one loop each per LAN interface.
//!
//! Honest advertisement lives here: prefixes come from the delegated
//! addresses as derived from their delegation's status at that moment
//! (`crate::derived`, the same rule the kernel controller installs them
//! by), so they vanish the moment the delegation stops being usable. A
//! prefix that disappears is handed to the
//! advertiser, which announces it deprecated (lifetimes 0) in its next
//! advertisements and then drops it; an RA whose prefixes all come from
//! delegations and has none left says router lifetime 0 ("no default
//! router here"); DNS servers inside such a prefix are not handed out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use ipnet::Ipv6Net;
use routerd_config::kinds::dhcp::DnsSource;
use routerd_config::kinds::ipv6_lan::RouterPreference;
use routerd_config::kinds::{
    DHCPv6Server, DHCPv6ServerSpec, IPv6DelegatedAddress, IPv6RouterAdvertisement,
    IPv6RouterAdvertisementSpec, IPv6StaticAddress,
};
use routerd_config::types::ResourceRef;
use routerd_config::{Config, ValueFrom};
use routerd_contract::{Event, NewEvent};
use routerd_lan::StopMode;
use routerd_lan::dhcpv6_server::{ServerStats, StatelessConfig, run_dhcpv6_server};
use routerd_lan::ra::packet::Preference;
use routerd_lan::ra::{AdvertisedPrefix, RaConfig, RaStats, run_ra};
use serde_json::{Map, Value, json};
use tokio::sync::{oneshot, watch};

use crate::controller::{Cause, Controller};
use crate::gate::{ConfigLookup, Lookup, any_mentions, depends_blocks, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};
use crate::task::Task;

/// How often the loops' counters are copied into status.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// Manages the LAN loops.
pub struct LanController;

/// The loops of one LAN interface.
#[derive(Default)]
pub struct LanLink {
    ra: Option<Loop<RaConfig, RaStats, StopMode>>,
    dhcp: Option<Loop<StatelessConfig, ServerStats, ()>>,
    /// Loops told to stop, kept until they have said their last word (the
    /// final RA) so that dropping them does not cut it off.
    retiring: Vec<Task>,
    /// Prefixes the RA announced last.
    advertised: BTreeSet<Ipv6Net>,
    /// Prefixes it stopped announcing, until hosts may have dropped them
    /// (they keep a deprecated address up to two hours, RFC 4862
    /// §5.5.3(e)): nothing inside them is handed out as a resolver.
    stale: BTreeMap<Ipv6Net, Instant>,
}

/// How long a withdrawn prefix counts as stale.
const STALE_FOR: Duration = Duration::from_secs(2 * 3600);

impl LanLink {
    /// Records what the RA now announces; returns the stale prefixes.
    fn announce(&mut self, now: Instant, prefixes: &[AdvertisedPrefix]) -> Vec<Ipv6Net> {
        let current: BTreeSet<Ipv6Net> = prefixes.iter().map(|p| p.prefix).collect();
        for gone in self.advertised.difference(&current) {
            self.stale.insert(*gone, now + STALE_FOR);
        }
        self.stale
            .retain(|p, until| !current.contains(p) && *until > now);
        self.advertised = current;
        self.stale.keys().copied().collect()
    }
}

struct Loop<C, S, M> {
    owner: String,
    config: watch::Sender<C>,
    stop: Option<oneshot::Sender<M>>,
    stats: Arc<S>,
    task: Task,
}

impl<C, S, M> Loop<C, S, M> {
    fn retire(mut self, mode: M, into: &mut Vec<Task>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(mode);
        }
        into.push(self.task);
    }
}

/// What one interface's RA says, and for whom.
struct WantedRa {
    owner: String,
    config: RaConfig,
    /// Prefixes, for status.
    summary: Value,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A Unix-ms deadline as an `Instant` (`None`: infinite), through one
/// wall-clock reading fixed at start-up: the same deadline always maps to
/// the same `Instant`, so an unchanged lease is an unchanged RA config (a
/// new one would make the advertiser send at once, every pass).
fn instant_at(unix_ms: Option<u64>) -> Option<Instant> {
    static ANCHOR: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    let (base, base_ms) = *ANCHOR.get_or_init(|| (Instant::now(), now_unix_ms()));
    unix_ms.map(|at| {
        if at >= base_ms {
            base + Duration::from_millis(at - base_ms)
        } else {
            base.checked_sub(Duration::from_millis(base_ms - at))
                .unwrap_or(base)
        }
    })
}

/// Text values of a `*From` (a list field gives each item); missing ones
/// are left out: an RA or a DHCPv6 reply goes on without them.
fn texts_from(from: &[ValueFrom], lookup: &dyn Lookup) -> Vec<String> {
    let mut out = Vec::new();
    for f in from {
        let field = f.field.as_deref().unwrap_or("address");
        match lookup.field(&f.resource, field) {
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)))
            }
            Some(Value::String(s)) if !s.is_empty() => out.push(s),
            _ => {}
        }
    }
    out
}

fn addrs(texts: &[String]) -> Vec<Ipv6Addr> {
    texts
        .iter()
        .filter_map(|t| t.split('/').next()?.parse().ok())
        .collect()
}

/// A delegated address's /64 as its status shows it, capped by its lease.
fn delegated_prefix(lookup: &dyn Lookup, name: &str) -> Option<AdvertisedPrefix> {
    let r = ResourceRef {
        kind: "IPv6DelegatedAddress".into(),
        name: name.to_string(),
    };
    let prefix: Ipv6Net = lookup.field(&r, "prefix")?.as_str()?.parse().ok()?;
    let until = |field: &str| lookup.field(&r, field).and_then(|v| v.as_u64());
    let mut p = AdvertisedPrefix::new(prefix);
    p.lease_preferred_until = instant_at(until("preferredUntilUnixMs"));
    p.lease_valid_until = instant_at(until("validUntilUnixMs"));
    Some(p)
}

fn preference(p: Option<RouterPreference>) -> Preference {
    match p.unwrap_or_default() {
        RouterPreference::Low => Preference::Low,
        RouterPreference::Medium => Preference::Medium,
        RouterPreference::High => Preference::High,
    }
}

/// Reads delegated addresses as derived from their delegation's status
/// right now, rather than from their own status: that is written by the
/// kernel controller a moment later, and an RA sent in between would
/// announce no prefix and no default router.
struct Derived<'a> {
    inner: &'a dyn Lookup,
    config: &'a Config,
}

impl Lookup for Derived<'_> {
    fn field(&self, target: &ResourceRef, field: &str) -> Option<Value> {
        if target.kind == "IPv6DelegatedAddress"
            && let Some(spec) = self.config.spec_of::<IPv6DelegatedAddress>(&target.name)
        {
            let blocked = when_blocks(spec.when.as_ref(), self.inner)
                .or_else(|| depends_blocks(&spec.depends_on, self.inner))
                .is_some();
            if field != "phase" {
                return crate::derived::delegated_address(spec, self.inner)
                    .ok()
                    .filter(|_| !blocked)
                    .and_then(|d| d.fields().get(field).cloned());
            }
        }
        self.inner.field(target, field)
    }

    fn has_status(&self, target: &ResourceRef) -> bool {
        self.inner.has_status(target)
    }
}

/// Why a link's RA and DHCPv6 answers cannot be decided yet: right after
/// routerd starts, a delegation feeding the link has not reported its
/// lease. Until it does, whatever the loops say stays as it is — a first
/// RA saying "no prefix, no default router" would cut the hosts off for
/// nothing.
fn undecided(config: &Config, lookup: &dyn Lookup, ifname: &str) -> Option<String> {
    config
        .of_kind::<IPv6DelegatedAddress>()
        .filter(|(_, s)| ifname_of(config, &s.interface).as_deref() == Some(ifname))
        .map(|(_, s)| ResourceRef {
            kind: "DHCPv6PrefixDelegation".into(),
            name: s.prefix_delegation.clone(),
        })
        .find(|pd| !lookup.has_status(pd))
        .map(|pd| format!("waiting for {pd} to report its lease"))
}

/// The RA an `IPv6RouterAdvertisement` (or, without one, a delegated
/// address with `sendRA`) asks for on `ifname`.
fn wanted_ra(
    config: &Config,
    lookup: &dyn Lookup,
    ifname: &str,
    ra: Option<(&str, &IPv6RouterAdvertisementSpec)>,
    now: Instant,
) -> WantedRa {
    let mut cfg = RaConfig::default();
    let mut prefixes: Vec<AdvertisedPrefix> = Vec::new();
    let mut from_delegation = false;
    let owner;
    let (valid, preferred) = match ra {
        Some((name, spec)) => {
            owner = format!("IPv6RouterAdvertisement/{name}");
            cfg.managed = spec.m_flag.unwrap_or(false);
            cfg.other = spec.o_flag.unwrap_or(false);
            cfg.preference = preference(spec.prf_preference);
            cfg.router_lifetime = spec.router_lifetime();
            cfg.max_interval = spec.max_interval();
            cfg.min_interval = spec.min_interval();
            cfg.mtu = spec.mtu;
            cfg.rdnss = spec.rdnss.clone();
            cfg.rdnss
                .extend(addrs(&texts_from(&spec.rdnss_from, lookup)));
            cfg.dnssl = spec.dnssl.clone();
            cfg.dnssl.extend(texts_from(&spec.dnssl_from, lookup));
            if let Some(p) = &spec.prefix {
                prefixes.push(AdvertisedPrefix::new(p.0));
            }
            if let Some(from) = &spec.prefix_from {
                from_delegation = true;
                let delegated = (from.resource.kind == "IPv6DelegatedAddress")
                    .then(|| delegated_prefix(lookup, &from.resource.name))
                    .flatten();
                let read = || -> Option<AdvertisedPrefix> {
                    let text = texts_from(std::slice::from_ref(from), lookup)
                        .into_iter()
                        .next()?;
                    // `addr/len` names its prefix; a bare address its /64.
                    let net: Ipv6Net = match text.parse::<Ipv6Net>() {
                        Ok(n) if n.prefix_len() == 128 => Ipv6Net::new(n.addr(), 64).ok()?,
                        Ok(n) => n,
                        Err(_) => Ipv6Net::new(text.parse().ok()?, 64).ok()?,
                    };
                    Some(AdvertisedPrefix::new(net))
                };
                // The delegation's deadlines cap the lifetimes (RFC 9096).
                let p = match (delegated, read()) {
                    (Some(d), Some(mut p)) => {
                        p.lease_preferred_until = d.lease_preferred_until;
                        p.lease_valid_until = d.lease_valid_until;
                        Some(p)
                    }
                    (d, p) => p.or(d),
                };
                prefixes.extend(p);
            }
            (spec.valid_lifetime(), spec.preferred_lifetime())
        }
        None => {
            owner = format!("sendRA/{ifname}");
            (
                routerd_config::kinds::ipv6_lan::ra_defaults::VALID,
                routerd_config::kinds::ipv6_lan::ra_defaults::PREFERRED,
            )
        }
    };
    // Every announced delegated address on this link.
    for (r, spec) in config.of_kind::<IPv6DelegatedAddress>() {
        if !spec.announced() || ifname_of(config, &spec.interface).as_deref() != Some(ifname) {
            continue;
        }
        from_delegation = true;
        if let Some(p) = delegated_prefix(lookup, &r.name)
            && !prefixes.iter().any(|q| q.prefix == p.prefix)
        {
            prefixes.push(p);
        }
    }
    for p in &mut prefixes {
        p.valid = valid;
        p.preferred = preferred.min(valid);
        // SLAAC works on /64s only; anything else is on-link only.
        p.autonomous = p.prefix.prefix_len() == 64;
    }
    // No usable prefix from the delegation this RA depends on: say so
    // rather than offer a default route that reaches nothing.
    if from_delegation && prefixes.is_empty() {
        cfg.router_lifetime = Duration::ZERO;
    }
    let summary = json!(
        prefixes
            .iter()
            .map(|p| {
                let (v, pr) = p.lifetimes_at(now);
                json!({"prefix": p.prefix.to_string(), "validLifetime": v, "preferredLifetime": pr})
            })
            .collect::<Vec<_>>()
    );
    cfg.prefixes = prefixes;
    WantedRa {
        owner,
        config: cfg,
        summary,
    }
}

/// The stateless answers a `DHCPv6Server` gives on its link.
fn wanted_server(
    config: &Config,
    lookup: &dyn Lookup,
    ifname: &str,
    spec: &DHCPv6ServerSpec,
) -> StatelessConfig {
    let dns_servers = match spec.dns_source.unwrap_or_default() {
        DnsSource::None => Vec::new(),
        DnsSource::Static => {
            let mut v = spec.dns_servers.clone();
            v.extend(addrs(&texts_from(&spec.dns_server_from, lookup)));
            v
        }
        DnsSource::SelfAddress => {
            // The router's own address on the link: the named delegated
            // address, else any delegated or static one there. A delegated
            // one is there only while its delegation is usable.
            let delegated = |name: &str| {
                lookup
                    .field(
                        &ResourceRef {
                            kind: "IPv6DelegatedAddress".into(),
                            name: name.to_string(),
                        },
                        "address",
                    )
                    .and_then(|v| v.as_str()?.parse::<Ipv6Addr>().ok())
            };
            let mut v: Vec<Ipv6Addr> = match &spec.delegated_address {
                Some(name) => delegated(name).into_iter().collect(),
                None => config
                    .of_kind::<IPv6DelegatedAddress>()
                    .filter(|(_, s)| ifname_of(config, &s.interface).as_deref() == Some(ifname))
                    .filter_map(|(r, _)| delegated(&r.name))
                    .collect(),
            };
            if v.is_empty() && spec.delegated_address.is_none() {
                v.extend(
                    config
                        .of_kind::<IPv6StaticAddress>()
                        .filter(|(_, s)| ifname_of(config, &s.interface).as_deref() == Some(ifname))
                        .map(|(_, s)| s.address.0.addr())
                        .filter(|a| a.segments()[0] & 0xffc0 != 0xfe80),
                );
            }
            v
        }
    };
    let mut domains = spec.domain_search.clone();
    domains.extend(texts_from(&spec.domain_search_from, lookup));
    let mut sntp = spec.sntp_servers.clone();
    sntp.extend(addrs(&texts_from(&spec.sntp_server_from, lookup)));
    StatelessConfig {
        server_duid: Vec::new(),
        dns_servers,
        domains,
        sntp_servers: sntp,
        info_refresh: None,
    }
}

/// Drops addresses that lie in a prefix being deprecated on the link:
/// a host must not be told to use a resolver that will not be reachable.
fn outside(addresses: &mut Vec<Ipv6Addr>, stale: &[Ipv6Net]) -> usize {
    let before = addresses.len();
    addresses.retain(|a| !stale.iter().any(|p| p.contains(a)));
    before - addresses.len()
}

impl Controller for LanController {
    fn name(&self) -> &'static str {
        "lan"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec!["routerd.config.applied", "routerd.status.changed"]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        // Announced delegated addresses feed every RA on their link; the
        // rest is what the RA and server specs read (`*From`, gates).
        let relevant = event.topic == "routerd.config.applied"
            || event.resource.as_deref().is_some_and(|r| {
                r.starts_with("IPv6DelegatedAddress/")
                    || r.starts_with("DHCPv6PrefixDelegation/")
                    || any_mentions(
                        &generation.config,
                        &["IPv6RouterAdvertisement", "DHCPv6Server"],
                        r,
                    )
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
    let stored = ConfigLookup {
        statuses: &runtime.statuses,
        config,
    };
    let lookup = Derived {
        inner: &stored,
        config,
    };
    let now = Instant::now();
    let statuses = &runtime.statuses;

    // What each link wants.
    let mut ras: BTreeMap<String, WantedRa> = BTreeMap::new();
    // Links whose loops keep running unchanged for now (see `undecided`).
    let mut held: BTreeSet<String> = BTreeSet::new();
    for (r, spec) in config.of_kind::<IPv6RouterAdvertisement>() {
        let id = r.id();
        let gate = when_blocks(spec.when.as_ref(), &lookup)
            .or_else(|| depends_blocks(&spec.depends_on, &lookup));
        if let Some(gate) = gate {
            statuses.set_phase(&id, "Pending", "Gated", Some(gate.reason));
            continue;
        }
        let Some(ifname) = ifname_of(config, &spec.interface) else {
            statuses.set_phase(
                &id,
                "Pending",
                "NoInterface",
                Some(format!(
                    "interface `{}` is not an Interface this build manages",
                    spec.interface
                )),
            );
            continue;
        };
        if let Some(why) = undecided(config, &lookup, &ifname) {
            held.insert(ifname);
            statuses.set_phase(&id, "Pending", "Undecided", Some(why));
            continue;
        }
        let want = wanted_ra(config, &lookup, &ifname, Some((&r.name, spec)), now);
        ras.insert(ifname, want);
    }
    for (_, spec) in config.of_kind::<IPv6DelegatedAddress>() {
        if spec.send_ra == Some(true)
            && let Some(ifname) = ifname_of(config, &spec.interface)
            && !ras.contains_key(&ifname)
        {
            if undecided(config, &lookup, &ifname).is_some() {
                held.insert(ifname);
                continue;
            }
            let want = wanted_ra(config, &lookup, &ifname, None, now);
            ras.insert(ifname, want);
        }
    }
    let mut servers: BTreeMap<String, (String, StatelessConfig)> = BTreeMap::new();
    for (r, spec) in config.of_kind::<DHCPv6Server>() {
        let id = r.id();
        if !spec.serves() {
            statuses.set_phase(
                &id,
                "Disabled",
                "NotServing",
                Some("ra-only, transit or unmanaged".into()),
            );
            continue;
        }
        let gate = when_blocks(spec.when.as_ref(), &lookup)
            .or_else(|| depends_blocks(&spec.depends_on, &lookup));
        if let Some(gate) = gate {
            statuses.set_phase(&id, "Pending", "Gated", Some(gate.reason));
            continue;
        }
        let ifnames: BTreeSet<String> = spec
            .interface
            .iter()
            .chain(spec.listen_interfaces.iter())
            .filter_map(|i| ifname_of(config, i))
            .collect();
        for ifname in ifnames {
            if undecided(config, &lookup, &ifname).is_some() {
                held.insert(ifname);
                continue;
            }
            let answers = wanted_server(config, &lookup, &ifname, spec);
            servers.insert(ifname, (id.clone(), answers));
        }
    }

    let mut links = runtime
        .services
        .lan
        .lock()
        .map_err(|_| "the LAN service lock is poisoned")?;
    for link in links.values_mut() {
        link.retiring.retain(|t| !t.is_finished());
    }
    let mut events = Vec::new();
    // Stop what is no longer wanted.
    for (ifname, link) in links.iter_mut() {
        if held.contains(ifname) {
            continue;
        }
        if !ras.contains_key(ifname)
            && let Some(l) = link.ra.take()
        {
            events.push(
                NewEvent::new("routerd.lan.ra.stopped", "Stopped")
                    .resource(l.owner.clone())
                    .message(format!(
                        "{ifname}: final router advertisement (router lifetime 0)"
                    )),
            );
            l.retire(StopMode::Final, &mut link.retiring);
        }
        if !servers.contains_key(ifname)
            && let Some(l) = link.dhcp.take()
        {
            l.retire((), &mut link.retiring);
        }
    }
    links.retain(|_, l| l.ra.is_some() || l.dhcp.is_some() || !l.retiring.is_empty());

    // Start or update the RAs.
    for (ifname, want) in ras {
        let link = links.entry(ifname.clone()).or_default();
        let stale = link.announce(now, &want.config.prefixes);
        match &mut link.ra {
            Some(l) => {
                l.owner = want.owner.clone();
                l.config.send_if_modified(|c| {
                    let changed = *c != want.config;
                    if changed {
                        *c = want.config.clone();
                    }
                    changed
                });
            }
            None => {
                let (tx, rx) = watch::channel(want.config.clone());
                let (stop_tx, stop_rx) = oneshot::channel::<StopMode>();
                let stats = Arc::new(RaStats::default());
                let task_stats = stats.clone();
                let name = ifname.clone();
                let owner = want.owner.clone();
                let bus = runtime.bus.clone();
                let task = Task::spawn(async move {
                    // A dropped sender (routerd stopping) means: say nothing.
                    let stop = stop_rx.map(|m| m.unwrap_or(StopMode::Silent));
                    if let Err(e) = run_ra(name.clone(), rx, stop, task_stats).await {
                        bus.publish(
                            NewEvent::new("routerd.lan.ra.failed", "Failed")
                                .resource(owner)
                                .message(format!("router advertisements on {name} stopped: {e}")),
                        );
                    }
                });
                events.push(
                    NewEvent::new("routerd.lan.ra.started", "Started")
                        .resource(want.owner.clone())
                        .message(format!("router advertisements on {ifname}")),
                );
                link.ra = Some(Loop {
                    owner: want.owner.clone(),
                    config: tx,
                    stop: Some(stop_tx),
                    stats,
                    task,
                });
            }
        }
        if let Some(l) = &link.ra
            && want.owner.starts_with("IPv6RouterAdvertisement/")
        {
            let mut fields = Map::new();
            fields.insert("ifname".into(), ifname.clone().into());
            fields.insert("prefixes".into(), want.summary.clone());
            fields.insert(
                "routerLifetime".into(),
                want.config.router_lifetime.as_secs().into(),
            );
            fields.insert(
                "rdnss".into(),
                json!(
                    want.config
                        .rdnss
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            );
            fields.insert("dnssl".into(), json!(want.config.dnssl));
            fields.insert(
                "deprecated".into(),
                json!(stale.iter().map(ToString::to_string).collect::<Vec<_>>()),
            );
            fields.insert(
                "counters".into(),
                serde_json::to_value(l.stats.snapshot()).unwrap_or(Value::Null),
            );
            let (phase, why) = if l.task.is_finished() {
                (
                    "Failed",
                    Some("the advertisement loop ended; see the events".to_string()),
                )
            } else if want.config.router_lifetime.is_zero() {
                (
                    "Advertising",
                    Some("no usable prefix: router lifetime 0, no default route offered".into()),
                )
            } else {
                ("Advertising", None)
            };
            // Nothing reads an RA's status: no wake-ups for its countdowns.
            statuses.set_fields(&want.owner, fields);
            statuses.set_phase(&want.owner, phase, "Advertising", why);
        }
    }

    // Start or update the DHCPv6 servers.
    for (ifname, (owner, mut answers)) in servers {
        let link = links.entry(ifname.clone()).or_default();
        // Resolvers inside a prefix the RA withdrew are not handed out.
        let stale: Vec<Ipv6Net> = link.stale.keys().copied().collect();
        let dropped = outside(&mut answers.dns_servers, &stale);
        match &mut link.dhcp {
            Some(l) => {
                l.config.send_if_modified(|c| {
                    let changed = *c != answers;
                    if changed {
                        *c = answers.clone();
                    }
                    changed
                });
            }
            None => {
                let (tx, rx) = watch::channel(answers.clone());
                let (stop_tx, stop_rx) = oneshot::channel::<()>();
                let stats = Arc::new(ServerStats::default());
                let task_stats = stats.clone();
                let name = ifname.clone();
                let bus = runtime.bus.clone();
                let who = owner.clone();
                let task = Task::spawn(async move {
                    if let Err(e) = run_dhcpv6_server(name.clone(), rx, stop_rx, task_stats).await {
                        bus.publish(
                            NewEvent::new("routerd.lan.dhcpv6.failed", "Failed")
                                .resource(who)
                                .message(format!("the DHCPv6 server on {name} stopped: {e}")),
                        );
                    }
                });
                link.dhcp = Some(Loop {
                    owner: owner.clone(),
                    config: tx,
                    stop: Some(stop_tx),
                    stats,
                    task,
                });
            }
        }
        if let Some(l) = &link.dhcp {
            let mut fields = Map::new();
            fields.insert("ifname".into(), ifname.clone().into());
            fields.insert(
                "dnsServers".into(),
                json!(
                    answers
                        .dns_servers
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            );
            fields.insert("domainSearch".into(), json!(answers.domains));
            fields.insert("dnsServersWithheld".into(), dropped.into());
            fields.insert(
                "counters".into(),
                serde_json::to_value(l.stats.snapshot()).unwrap_or(Value::Null),
            );
            statuses.set_fields(&owner, fields);
            if l.task.is_finished() {
                statuses.set_phase(
                    &owner,
                    "Failed",
                    "LoopEnded",
                    Some("the DHCPv6 server loop ended; see the events".into()),
                );
            } else {
                statuses.set_phase(&owner, "Serving", "Serving", None);
            }
        }
    }
    drop(links);
    runtime.bus.publish_all(events);
    Ok(())
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
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: lan0, managed: true}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6PrefixDelegation, metadata: {name: wan-pd}, spec: {interface: wan}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv6DelegatedAddress, metadata: {name: lan-v6}, spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1", announce: true}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv6RouterAdvertisement
    metadata: {name: lan-ra}
    spec:
      interface: lan
      prefixFrom: {resource: IPv6DelegatedAddress/lan-v6, field: address}
      rdnssFrom: [{resource: IPv6DelegatedAddress/lan-v6, field: address}]
"#;

    fn bound() -> Fake {
        Fake(BTreeMap::from([
            ("DHCPv6PrefixDelegation/wan-pd.phase".into(), json!("Bound")),
            (
                "DHCPv6PrefixDelegation/wan-pd.prefixes".into(),
                json!([{"prefix": "2001:db8:1200::/56",
                        "preferredUntilUnixMs": now_unix_ms() + 1_000_000,
                        "validUntilUnixMs": now_unix_ms() + 2_000_000}]),
            ),
        ]))
    }

    #[test]
    fn an_unchanged_lease_gives_the_same_ra_config_on_every_pass() {
        let config = routerd_config::load_str("t.yaml", CONFIG)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let (_, spec) = config
            .of_kind::<IPv6RouterAdvertisement>()
            .next()
            .expect("ra");
        let statuses = bound();
        let lookup = Derived {
            inner: &statuses,
            config: &config,
        };
        let first = wanted_ra(
            &config,
            &lookup,
            "lan0",
            Some(("lan-ra", spec)),
            Instant::now(),
        );
        let second = wanted_ra(
            &config,
            &lookup,
            "lan0",
            Some(("lan-ra", spec)),
            Instant::now() + Duration::from_millis(1500),
        );
        // Equal configs are not sent to the advertiser again; a difference
        // of a millisecond in a lease deadline would make it advertise at
        // once, on every pass.
        assert_eq!(first.config, second.config);
        assert_eq!(first.config.prefixes.len(), 1);
        assert_eq!(
            first.config.prefixes[0].prefix.to_string(),
            "2001:db8:1200:1::/64"
        );
        assert!(first.config.prefixes[0].lease_valid_until.is_some());
        assert_eq!(
            first.config.rdnss,
            ["2001:db8:1200:1::1".parse::<Ipv6Addr>().expect("ip")]
        );
        assert!(!first.config.router_lifetime.is_zero());
    }

    #[test]
    fn without_the_delegation_there_is_no_prefix_and_no_default_router() {
        let config = routerd_config::load_str("t.yaml", CONFIG)
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let (_, spec) = config
            .of_kind::<IPv6RouterAdvertisement>()
            .next()
            .expect("ra");
        let mut statuses = bound();
        statuses.0.insert(
            "DHCPv6PrefixDelegation/wan-pd.phase".into(),
            json!("Expired"),
        );
        let lookup = Derived {
            inner: &statuses,
            config: &config,
        };
        let want = wanted_ra(
            &config,
            &lookup,
            "lan0",
            Some(("lan-ra", spec)),
            Instant::now(),
        );
        assert!(want.config.prefixes.is_empty());
        assert!(want.config.rdnss.is_empty(), "no resolver in a lost prefix");
        assert!(want.config.router_lifetime.is_zero());
        // Right after a restart (no status at all) the link is held instead.
        let empty = Fake(BTreeMap::new());
        assert!(undecided(&config, &empty, "lan0").is_some());
        assert!(undecided(&config, &statuses, "lan0").is_none());
    }

    #[test]
    fn withdrawn_prefixes_stay_stale_for_two_hours_and_resolvers_in_them_are_withheld() {
        let mut link = LanLink::default();
        let t0 = Instant::now();
        let p: Ipv6Net = "2001:db8:1200:1::/64".parse().expect("net");
        link.announce(t0, &[AdvertisedPrefix::new(p)]);
        let stale = link.announce(t0, &[]);
        assert_eq!(stale, [p]);
        let mut dns = vec![
            "2001:db8:1200:1::1".parse().expect("ip"),
            "2001:db8:ff::53".parse().expect("ip"),
        ];
        assert_eq!(outside(&mut dns, &stale), 1);
        assert_eq!(dns, ["2001:db8:ff::53".parse::<Ipv6Addr>().expect("ip")]);
        assert!(
            link.announce(t0 + STALE_FOR + Duration::from_secs(1), &[])
                .is_empty()
        );
        // Announced again: no longer stale.
        link.announce(t0, &[]);
        assert!(link.announce(t0, &[AdvertisedPrefix::new(p)]).is_empty());
    }
}
