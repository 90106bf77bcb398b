//! The DS-Lite controller: for each `DSLiteTunnel`, find the AFTR (a fixed
//! address, DHCPv6 option 64, or a name resolved through routerd's DNS
//! forwarding or the tunnel's own `aftrDNSServers`), find the B4 address
//! (the upstream interface's, a fixed one, or one in a delegated /64),
//! and keep the ip6tnl link up with them. The IPv4 default route through
//! the tunnel and the B4 address are kernel intents derived from this
//! controller's status (`crate::reconcile`), so drift repair covers them.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use ipnet::Ipv6Net;
use routerd_config::Config;
use routerd_config::kinds::dslite::{AftrSelection, LocalAddressSource};
use routerd_config::kinds::{DSLiteTunnel, DSLiteTunnelSpec, IPv6DelegatedAddressSpec};
use routerd_config::types::ResourceRef;
use routerd_contract::{Event, NewEvent};
use routerd_dns::{ForwarderSpec, Forwarding, Protocol, UpstreamSpec};
use routerd_kernel::{Ip6TnlIntent, Observed, TunnelChange};
use serde_json::{Map, Value, json};

use crate::controller::{Cause, Controller};
use crate::gate::{ConfigLookup, Lookup, any_mentions, depends_blocks, value_from, when_blocks};
use crate::reconcile::{Scope, ifname_of};
use crate::runtime::{Generation, Runtime};
use crate::services::ResolvedAftr;

/// How often tunnels are re-checked (AFTR answers expire, links go away).
const RESYNC: Duration = Duration::from_secs(30);
/// Shortest and longest time an AFTR answer is kept.
const AFTR_TTL_MIN: Duration = Duration::from_secs(30);
const AFTR_TTL_MAX: Duration = Duration::from_secs(3600);

/// Manages the DS-Lite tunnels.
pub struct DsLiteController;

/// Where the AFTR comes from, once `aftrFrom` is read.
#[derive(Debug, Clone, PartialEq)]
pub enum AftrSource {
    /// A fixed address.
    Address(Ipv6Addr),
    /// A name to resolve.
    Name(String),
}

/// The AFTR source of a tunnel, or why it is not known yet.
pub fn aftr_source(spec: &DSLiteTunnelSpec, lookup: &dyn Lookup) -> Result<AftrSource, String> {
    if let Some(a) = spec.static_aftr() {
        return Ok(AftrSource::Address(a));
    }
    if let Some(name) = &spec.aftr_fqdn {
        return Ok(AftrSource::Name(name.trim_end_matches('.').to_string()));
    }
    let Some(from) = &spec.aftr_from else {
        return Err("no AFTR configured".into());
    };
    let text = value_from(from, lookup)
        .map_err(|c| c.reason)?
        .ok_or_else(|| format!("{} has no AFTR yet", from.resource))?;
    Ok(match text.parse::<Ipv6Addr>() {
        Ok(a) => AftrSource::Address(a),
        Err(_) => AftrSource::Name(text.trim_end_matches('.').to_string()),
    })
}

/// Picks the AFTR among a name's answers (sorted, 1-based ordinal).
pub fn select_aftr(spec: &DSLiteTunnelSpec, answers: &[Ipv6Addr]) -> Option<Ipv6Addr> {
    let mut sorted = answers.to_vec();
    sorted.sort();
    sorted.dedup();
    let ordinal = usize::try_from(spec.aftr_address_ordinal.unwrap_or(1).max(1)).ok()?;
    match spec.aftr_address_selection.unwrap_or_default() {
        AftrSelection::Ordinal => sorted.get(ordinal - 1).copied(),
        AftrSelection::OrdinalModulo if sorted.is_empty() => None,
        AftrSelection::OrdinalModulo => sorted.get((ordinal - 1) % sorted.len()).copied(),
    }
}

/// The B4 address and, when routerd must add it, the link it goes on.
pub fn local_address(
    config: &Config,
    spec: &DSLiteTunnelSpec,
    wan_ifname: &str,
    observed: &Observed,
    lookup: &dyn Lookup,
) -> Result<(Ipv6Addr, Option<String>), String> {
    match spec.local_source() {
        LocalAddressSource::Static => {
            if let Some(a) = spec.local_address {
                return Ok((a, None));
            }
            let from = spec
                .local_address_from
                .as_ref()
                .ok_or("localAddressSource static needs localAddress")?;
            let text = value_from(from, lookup)
                .map_err(|c| c.reason)?
                .ok_or_else(|| format!("{} has no address yet", from.resource))?;
            let a = text
                .split('/')
                .next()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("{} gave `{text}`, not an IPv6 address", from.resource))?;
            Ok((a, None))
        }
        LocalAddressSource::Interface => observed
            .addresses
            .iter()
            .filter(|a| a.ifname == wan_ifname && a.scope == "global")
            .filter(|a| !a.flags.tentative && !a.flags.deprecated && !a.flags.dadfailed)
            .find_map(|a| match a.addr {
                IpAddr::V6(v6) => Some((v6, None)),
                IpAddr::V4(_) => None,
            })
            .ok_or_else(|| format!("{wan_ifname} has no usable global IPv6 address yet")),
        LocalAddressSource::DelegatedAddress => {
            let name = spec
                .local_delegated_address
                .as_deref()
                .ok_or("localAddressSource delegatedAddress needs localDelegatedAddress")?;
            let da = ResourceRef {
                kind: "IPv6DelegatedAddress".into(),
                name: name.to_string(),
            };
            let field = |f: &str| {
                lookup
                    .field(&da, f)
                    .and_then(|v| v.as_str().map(str::to_string))
            };
            let (Some(address), Some(prefix)) = (field("address"), field("prefix")) else {
                return Err(format!("{da} has no address: its delegation is not usable"));
            };
            let lan = config
                .spec_of::<routerd_config::kinds::IPv6DelegatedAddress>(name)
                .and_then(|s: &IPv6DelegatedAddressSpec| ifname_of(config, &s.interface));
            match &spec.local_address_suffix {
                None => address
                    .parse()
                    .map(|a| (a, None))
                    .map_err(|_| format!("{da} reports `{address}`, not an address")),
                Some(suffix) => {
                    let net: Ipv6Net = prefix
                        .parse()
                        .map_err(|_| format!("{da} reports `{prefix}`, not a prefix"))?;
                    let suffix: Ipv6Addr = suffix
                        .parse()
                        .map_err(|_| format!("localAddressSuffix `{suffix}` is not an address"))?;
                    let a = Ipv6Addr::from(u128::from(net.network()) | u128::from(suffix));
                    // The B4 address is one of the LAN /64's: routerd adds it
                    // there, so the kernel accepts the tunnel's packets for it.
                    Ok((a, lan))
                }
            }
        }
    }
}

impl Controller for DsLiteController {
    fn name(&self) -> &'static str {
        "dslite"
    }

    fn topics(&self) -> Vec<&'static str> {
        vec![
            "routerd.config.applied",
            "routerd.status.changed",
            "routerd.dns.forwarding.changed",
        ]
    }

    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause) {
        let config = &generation.config;
        if config.of_kind::<DSLiteTunnel>().next().is_none() {
            // Only a new config can leave a tunnel of the old one to remove.
            return if event.topic == "routerd.config.applied" {
                (Scope::All, Cause::default())
            } else {
                (Scope::none(), Cause::default())
            };
        }
        // What a tunnel reads: its spec's references (aftrFrom, the
        // delegated address, gates), and the DNS it resolves through.
        let relevant = event.topic != "routerd.status.changed"
            || event.resource.as_deref().is_some_and(|r| {
                r.starts_with("DNSUpstream/")
                    || r.starts_with("DNSForwarder/")
                    || r.starts_with("Interface/")
                    || any_mentions(config, &["DSLiteTunnel"], r)
                    || r.strip_prefix("IPv6DelegatedAddress/").is_some_and(|name| {
                        config
                            .of_kind::<DSLiteTunnel>()
                            .any(|(_, s)| s.local_delegated_address.as_deref() == Some(name))
                    })
            });
        if relevant {
            (Scope::All, Cause::default())
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

/// The AFTR's address: fixed, or resolved (and cached for the answer's TTL).
async fn resolve_aftr(
    runtime: &Runtime,
    id: &str,
    spec: &DSLiteTunnelSpec,
    name: &str,
) -> Result<ResolvedAftr, String> {
    if let Some(cached) = runtime
        .services
        .aftr
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned())
        .filter(|c| c.name == name && c.refresh_at > Instant::now())
    {
        return Ok(cached);
    }
    // The tunnel's own servers, or the forwarder that matches the name.
    let forwarding = if spec.aftr_dns_servers.is_empty() {
        runtime.services.forwarding().ok_or_else(|| {
            format!("no DNS forwarding is configured to resolve `{name}` (add a DNSForwarder, or aftrDNSServers)")
        })?
    } else {
        let upstream = UpstreamSpec {
            name: "aftrDNSServers".into(),
            protocol: Protocol::Udp,
            addresses: spec
                .aftr_dns_servers
                .iter()
                .map(|a| IpAddr::V6(*a))
                .collect(),
            ..UpstreamSpec::default()
        };
        let forwarder = ForwarderSpec {
            name: "aftr".into(),
            domains: vec![".".into()],
            upstreams: vec!["aftrDNSServers".into()],
            health: None,
        };
        Arc::new(Forwarding::new(&[upstream], &[forwarder]).map_err(|e| e.to_string())?)
    };
    let answer = forwarding
        .lookup_ipv6(name)
        .await
        .map_err(|e| format!("cannot resolve the AFTR `{name}`: {e}"))?;
    let addresses: Vec<Ipv6Addr> = answer.ipv6().collect();
    if addresses.is_empty() {
        return Err(format!(
            "the AFTR `{name}` has no AAAA record ({} from {})",
            answer.kind, answer.upstream
        ));
    }
    let ttl = Duration::from_secs(u64::from(answer.ttl)).clamp(AFTR_TTL_MIN, AFTR_TTL_MAX);
    let resolved = ResolvedAftr {
        name: name.to_string(),
        addresses,
        source: format!(
            "DNSForwarder/{} via DNSUpstream/{}",
            answer.forwarder, answer.upstream
        ),
        refresh_at: Instant::now() + ttl,
    };
    if let Ok(mut m) = runtime.services.aftr.lock() {
        m.insert(id.to_string(), resolved.clone());
    }
    Ok(resolved)
}

/// Why a tunnel's inputs cannot be judged yet: right after routerd starts,
/// the resources it reads (the information carrying the AFTR name, the
/// delegation behind the B4 address, the resolvers of the DNS upstreams)
/// have not reported. Until they do the link stays as it is: tearing the
/// softwire down for a restart would cut IPv4 for nothing.
fn undecided(config: &Config, spec: &DSLiteTunnelSpec, lookup: &dyn Lookup) -> Option<String> {
    let mut inputs: Vec<ResourceRef> = Vec::new();
    inputs.extend(spec.aftr_from.iter().map(|f| f.resource.clone()));
    inputs.extend(spec.local_address_from.iter().map(|f| f.resource.clone()));
    if let Some(name) = &spec.local_delegated_address
        && let Some(da) = config.spec_of::<routerd_config::kinds::IPv6DelegatedAddress>(name)
    {
        inputs.push(ResourceRef {
            kind: "DHCPv6PrefixDelegation".into(),
            name: da.prefix_delegation.clone(),
        });
    }
    if spec.static_aftr().is_none() && spec.aftr_dns_servers.is_empty() {
        for (_, up) in config.of_kind::<routerd_config::kinds::DNSUpstream>() {
            inputs.extend(up.address_from.iter().map(|f| f.resource.clone()));
        }
    }
    inputs
        .into_iter()
        .find(|r| !lookup.has_status(r))
        .map(|r| format!("waiting for {r} to report"))
}

/// What one tunnel needs, or why it cannot be up.
struct Wanted {
    intent: Ip6TnlIntent,
    fields: Map<String, Value>,
}

async fn wanted(
    runtime: &Runtime,
    config: &Config,
    observed: &Observed,
    lookup: &ConfigLookup<'_>,
    name: &str,
    spec: &DSLiteTunnelSpec,
    fields: &mut Map<String, Value>,
) -> Result<Wanted, String> {
    let id = format!("DSLiteTunnel/{name}");
    let wan = ifname_of(config, &spec.interface).ok_or_else(|| {
        format!(
            "interface `{}` is not an Interface this build manages",
            spec.interface
        )
    })?;
    let (wan_index, wan_mtu) = observed
        .link(&wan)
        .map(|l| (l.index, l.mtu))
        .ok_or_else(|| format!("{wan} does not exist"))?;
    let (local, local_link) = local_address(config, spec, &wan, observed, lookup)?;
    fields.insert("localAddress".into(), local.to_string().into());
    if let Some(link) = &local_link {
        fields.insert("localInterface".into(), link.clone().into());
    }
    let remote = match aftr_source(spec, lookup)? {
        AftrSource::Address(a) => a,
        AftrSource::Name(aftr) => {
            fields.insert("aftrName".into(), aftr.clone().into());
            let resolved = resolve_aftr(runtime, &id, spec, &aftr).await?;
            fields.insert(
                "aftrAddresses".into(),
                json!(
                    resolved
                        .addresses
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            );
            fields.insert("resolvedBy".into(), resolved.source.clone().into());
            select_aftr(spec, &resolved.addresses).ok_or_else(|| {
                format!(
                    "the AFTR `{aftr}` has {} address(es); ordinal {} is beyond them",
                    resolved.addresses.len(),
                    spec.aftr_address_ordinal.unwrap_or(1)
                )
            })?
        }
    };
    fields.insert("aftr".into(), remote.to_string().into());
    let tunnel = spec.ifname(name).to_string();
    if tunnel.len() > 15 {
        return Err(format!(
            "tunnel name `{tunnel}` is longer than Linux's 15-character limit"
        ));
    }
    Ok(Wanted {
        intent: Ip6TnlIntent {
            owner: id,
            name: tunnel,
            local,
            remote,
            link: Some(wan_index),
            encap_limit: spec.encap_limit(),
            mtu: spec.mtu(wan_mtu),
        },
        fields: fields.clone(),
    })
}

async fn reconcile(runtime: &Arc<Runtime>) -> Result<(), String> {
    let generation = runtime.generation();
    let config = &generation.config;
    remove_unwanted(runtime, config).await?;
    if config.of_kind::<DSLiteTunnel>().next().is_none() {
        return Ok(());
    }
    let lookup = ConfigLookup {
        statuses: &runtime.statuses,
        config,
    };
    let observed = runtime
        .kernel
        .observe()
        .await
        .map_err(|e| format!("cannot read the kernel's state: {e}"))?;
    let mut failures = 0;
    for (r, spec) in config.of_kind::<DSLiteTunnel>() {
        let id = r.id();
        let tunnel = spec.ifname(&r.name).to_string();
        let mut fields = Map::new();
        fields.insert("tunnel".into(), tunnel.clone().into());
        if let Some(link) =
            ifname_of(config, &spec.interface).and_then(|w| observed.link(&w).cloned())
        {
            fields.insert("mtu".into(), spec.mtu(link.mtu).into());
        }
        let gate = if spec.enabled == Some(false) {
            Some("enabled: false".to_string())
        } else {
            when_blocks(spec.when.as_ref(), &lookup)
                .or_else(|| depends_blocks(&spec.depends_on, &lookup))
                .map(|g| g.reason)
        };
        if gate.is_none()
            && let Some(why) = undecided(config, spec, &lookup)
        {
            // The kernel intents hold the link's route while undecided.
            runtime
                .statuses
                .set_phase(&id, "Undecided", "Undecided", Some(why));
            continue;
        }
        let outcome = match gate {
            Some(why) => Err(("Pending", why)),
            None => match wanted(
                runtime,
                config,
                &observed,
                &lookup,
                &r.name,
                spec,
                &mut fields,
            )
            .await
            {
                Err(why) => Err(("Pending", why)),
                Ok(w) => {
                    fields = w.fields;
                    match runtime.kernel.ensure_ip6tnl(&w.intent).await {
                        Ok(change) => Ok(change),
                        Err(e) => {
                            let text = e.to_string();
                            let why = if text.contains("Unknown device type") {
                                format!(
                                    "this kernel has no ip6tnl support (CONFIG_IPV6_TUNNEL / module ip6_tunnel): {text}"
                                )
                            } else {
                                text
                            };
                            Err(("Failed", why))
                        }
                    }
                }
            },
        };
        let statuses = &runtime.statuses;
        match outcome {
            Ok(change) => {
                if change != TunnelChange::Unchanged {
                    runtime.bus.publish(
                        NewEvent::new(
                            crate::controllers::kernel::topic_for(
                                &id,
                                &format!("{change:?}").to_lowercase(),
                            ),
                            format!("{change:?}"),
                        )
                        .resource(id.clone())
                        .message(format!(
                            "{tunnel}: {} -> {}",
                            fields
                                .get("localAddress")
                                .and_then(Value::as_str)
                                .unwrap_or("?"),
                            fields.get("aftr").and_then(Value::as_str).unwrap_or("?")
                        )),
                    );
                }
                fields.insert(
                    "defaultRoute".into(),
                    spec.default_route.unwrap_or(true).into(),
                );
                statuses.set_fields_watched(&id, fields, &watched());
                statuses.set_phase(&id, "Up", "TunnelUp", None);
            }
            Err((phase, why)) => {
                if phase == "Failed" {
                    failures += 1;
                } else {
                    // Not wanted now: the link goes, and its route with it.
                    if let Err(e) = runtime.kernel.delete_ip6tnl(&tunnel).await {
                        tracing::warn!("cannot delete {tunnel}: {e}");
                    }
                }
                // A failed tunnel still shows what it was resolving to, so
                // the AFTR lookup is visible where the kernel lacks ip6tnl.
                statuses.set_fields_watched(&id, fields, &watched());
                statuses.set_phase(&id, phase, "Tunnel", Some(why));
            }
        }
    }
    if failures > 0 {
        Err(format!("{failures} tunnel(s) could not be set up"))
    } else {
        Ok(())
    }
}

/// Deletes the ip6tnl links routerd made for tunnels no longer configured
/// (their owner mark names a resource that is gone), also after a restart.
async fn remove_unwanted(runtime: &Runtime, config: &Config) -> Result<(), String> {
    let tunnels = runtime
        .kernel
        .tunnels()
        .await
        .map_err(|e| format!("cannot list links: {e}"))?;
    for t in tunnels {
        let Some(owner) = t.owner.as_deref() else {
            continue;
        };
        let Some(name) = owner.strip_prefix("DSLiteTunnel/") else {
            continue;
        };
        if config.spec_of::<DSLiteTunnel>(name).is_some() {
            continue;
        }
        match runtime.kernel.delete_ip6tnl(&t.name).await {
            Ok(true) => runtime.bus.publish(
                NewEvent::new(
                    crate::controllers::kernel::topic_for(owner, "removed"),
                    "Removed",
                )
                .resource(owner.to_string())
                .message(format!("{}: its resource is gone", t.name)),
            ),
            Ok(false) => {}
            Err(e) => return Err(format!("cannot delete {}: {e}", t.name)),
        }
    }
    Ok(())
}

/// Status fields the kernel intents are derived from.
fn watched() -> Vec<String> {
    ["localAddress", "localInterface", "aftr", "defaultRoute"]
        .iter()
        .map(|s| s.to_string())
        .collect()
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

    fn config() -> Config {
        let text = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: t}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: wan0, managed: false}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: lan0, managed: true}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6PrefixDelegation, metadata: {name: wan-pd}, spec: {interface: wan}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Information, metadata: {name: wan-info}, spec: {interface: wan}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: IPv6DelegatedAddress, metadata: {name: lan-v6}, spec: {prefixDelegation: wan-pd, interface: lan, addressSuffix: "::1"}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DSLiteTunnel
    metadata: {name: ds}
    spec:
      interface: wan
      aftrFrom: {resource: DHCPv6Information/wan-info, field: aftrName}
      localAddressSource: delegatedAddress
      localDelegatedAddress: lan-v6
      localAddressSuffix: "::100"
      aftrAddressOrdinal: 2
      aftrAddressSelection: ordinalModulo
"#;
        routerd_config::load_str("t.yaml", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    #[test]
    fn the_aftr_comes_from_option_64_and_the_b4_from_the_delegated_64() {
        let config = config();
        let spec = config.spec_of::<DSLiteTunnel>("ds").expect("ds");
        let nothing = Fake(BTreeMap::new());
        assert!(
            aftr_source(spec, &nothing).is_err_and(|e| e.contains("DHCPv6Information/wan-info"))
        );
        let learned = Fake(BTreeMap::from([
            (
                "DHCPv6Information/wan-info.aftrName".into(),
                json!("aftr.isp.example."),
            ),
            (
                "IPv6DelegatedAddress/lan-v6.address".into(),
                json!("2001:db8:1200::1"),
            ),
            (
                "IPv6DelegatedAddress/lan-v6.prefix".into(),
                json!("2001:db8:1200::/64"),
            ),
        ]));
        assert_eq!(
            aftr_source(spec, &learned),
            Ok(AftrSource::Name("aftr.isp.example".into()))
        );
        let (b4, link) =
            local_address(&config, spec, "wan0", &Observed::default(), &learned).expect("b4");
        assert_eq!(b4.to_string(), "2001:db8:1200::100");
        assert_eq!(
            link.as_deref(),
            Some("lan0"),
            "the B4 /128 goes on the LAN link"
        );
        let e = local_address(&config, spec, "wan0", &Observed::default(), &nothing)
            .expect_err("no delegation, no B4");
        assert!(e.contains("IPv6DelegatedAddress/lan-v6"), "{e}");
    }

    #[test]
    fn answers_are_chosen_by_ordinal_in_sorted_order() {
        let config = config();
        let spec = config.spec_of::<DSLiteTunnel>("ds").expect("ds");
        let a: Ipv6Addr = "2001:db8::b".parse().expect("ip");
        let b: Ipv6Addr = "2001:db8::a".parse().expect("ip");
        assert_eq!(
            select_aftr(spec, &[a, b]),
            Some(a),
            "second of [a, b] sorted"
        );
        assert_eq!(select_aftr(spec, &[a]), Some(a), "modulo wraps");
        assert_eq!(select_aftr(spec, &[]), None);
        let mut strict = spec.clone();
        strict.aftr_address_selection = None;
        assert_eq!(
            select_aftr(&strict, &[a]),
            None,
            "ordinal beyond the answers"
        );
    }
}
