//! Kernel intents that come from what a DHCP client learned rather than
//! from the config alone: the LAN address derived from a delegated prefix
//! (`IPv6DelegatedAddress`) and a `DHCPv4Client`'s address and routes.
//!
//! Pure: the lease is read through a [`Lookup`] of the client's status, so
//! the same rules are unit-tested with fake statuses and run for real.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use routerd_config::kinds::{DHCPv4ClientSpec, IPv6DelegatedAddressSpec};
use routerd_config::types::ResourceRef;
use routerd_kernel::{AddressIntent, RouteIntent};
use serde_json::{Map, Value};

use crate::gate::{Closed, Lookup};

/// Phases in which a DHCP lease may be used: it is held, or being renewed
/// or rebound while still valid, or (DHCPv4 INIT-REBOOT after a restart)
/// being confirmed while still valid. Anything else (Soliciting, Expired,
/// Init...) means the address must go: honest LAN advertisement starts here.
pub const LEASE_USABLE: &[&str] = &["Bound", "Renewing", "Rebinding", "Rebooting"];

fn definite(reason: String) -> Closed {
    Closed {
        reason,
        unknown: false,
    }
}

/// Why a DHCP client's lease cannot be used now, or `None` when it can.
pub fn lease_blocks(client: &ResourceRef, lookup: &dyn Lookup) -> Option<Closed> {
    let phase = lookup
        .field(client, "phase")
        .and_then(|p| p.as_str().map(str::to_string));
    match phase {
        Some(p) if LEASE_USABLE.contains(&p.as_str()) => None,
        Some(p) => Some(definite(format!(
            "waiting for {client} to be Bound (it is {p})"
        ))),
        None => Some(Closed {
            reason: format!("waiting for {client} to report its lease"),
            unknown: !lookup.has_status(client),
        }),
    }
}

/// An address derived from a delegated prefix, with what its status shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Delegated {
    /// The address with the installed prefix length.
    pub address: Ipv6Net,
    /// The /64 it numbers (what router advertisements announce).
    pub subnet: Ipv6Net,
    /// The delegated prefix it came from.
    pub delegated: Ipv6Net,
    /// The delegation's preferred and valid deadlines (Unix ms; `None`:
    /// infinite), which cap what RAs may advertise (RFC 9096).
    pub preferred_until_ms: Option<u64>,
    /// See `preferred_until_ms`.
    pub valid_until_ms: Option<u64>,
}

impl Delegated {
    /// The status fields of the `IPv6DelegatedAddress`.
    pub fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        // Like the static address kinds: `address` alone (what an RDNSS or
        // a DS-Lite source reads), `cidr` with the installed length.
        m.insert("address".into(), self.address.addr().to_string().into());
        m.insert("cidr".into(), self.address.to_string().into());
        m.insert("prefix".into(), self.subnet.to_string().into());
        m.insert("delegatedPrefix".into(), self.delegated.to_string().into());
        m.insert(
            "preferredUntilUnixMs".into(),
            self.preferred_until_ms.map_or(Value::Null, Value::from),
        );
        m.insert(
            "validUntilUnixMs".into(),
            self.valid_until_ms.map_or(Value::Null, Value::from),
        );
        m
    }
}

/// The `subnet`-th /64 of `prefix` with interface identifier `suffix`.
pub fn derive_address(
    prefix: Ipv6Net,
    subnet: u64,
    suffix: Ipv6Addr,
    prefix_len: u8,
) -> Result<(Ipv6Net, Ipv6Net), String> {
    let len = prefix.prefix_len();
    if len > 64 {
        return Err(format!(
            "the delegated prefix {prefix} is longer than /64: no /64 subnet fits in it"
        ));
    }
    let bits = 64 - u32::from(len);
    if bits < 64 && subnet >> bits != 0 {
        return Err(format!(
            "subnet {subnet:x} does not fit in {prefix}: it has {} /64 subnets (0-{:x})",
            1u128 << bits,
            (1u128 << bits) - 1
        ));
    }
    let network = u128::from(prefix.network()) | (u128::from(subnet) << 64);
    let subnet_net = Ipv6Net::new(Ipv6Addr::from(network), 64)
        .map_err(|e| format!("cannot form the /64: {e}"))?;
    let address = Ipv6Addr::from(network | u128::from(suffix));
    let net =
        Ipv6Net::new(address, prefix_len).map_err(|e| format!("cannot form the address: {e}"))?;
    Ok((net, subnet_net))
}

/// The address an `IPv6DelegatedAddress` wants now, from its delegation's status.
pub fn delegated_address(
    spec: &IPv6DelegatedAddressSpec,
    lookup: &dyn Lookup,
) -> Result<Delegated, Closed> {
    let pd = ResourceRef {
        kind: "DHCPv6PrefixDelegation".into(),
        name: spec.prefix_delegation.clone(),
    };
    if let Some(gate) = lease_blocks(&pd, lookup) {
        return Err(gate);
    }
    let prefixes = lookup.field(&pd, "prefixes");
    let first = prefixes
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or_else(|| definite(format!("{pd} is bound but reports no prefix")))?;
    let delegated: Ipv6Net = first
        .get("prefix")
        .and_then(Value::as_str)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| definite(format!("{pd} reports a prefix that is not one: {first}")))?;
    let subnet = spec
        .subnet()
        .ok_or_else(|| definite("subnetID is not a subnet number".into()))?;
    let suffix = spec
        .suffix()
        .ok_or_else(|| definite("addressSuffix is not an interface identifier".into()))?;
    let (address, subnet_net) = derive_address(delegated, subnet, suffix, spec.prefix_len())
        .map_err(|e| definite(format!("{pd}: {e}")))?;
    Ok(Delegated {
        address,
        subnet: subnet_net,
        delegated,
        preferred_until_ms: first.get("preferredUntilUnixMs").and_then(Value::as_u64),
        valid_until_ms: first.get("validUntilUnixMs").and_then(Value::as_u64),
    })
}

/// A DHCPv4 lease as the client daemon reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct V4Lease {
    /// The address with the subnet's prefix length.
    pub address: Ipv4Net,
    /// The default gateway (option 3).
    pub gateway: Option<Ipv4Addr>,
    /// Classless static routes (option 121): destination and gateway
    /// (`0.0.0.0`: on-link).
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// Interface MTU (option 26).
    pub mtu: Option<u32>,
}

/// The smallest DHCP-given MTU applied: below 1280 the kernel would
/// disable IPv6 on the link, which a WAN carrying a delegation cannot lose.
pub const V4_MTU_MIN: u32 = 1280;

/// The lease a `DHCPv4Client` holds now.
pub fn v4_lease(client: &ResourceRef, lookup: &dyn Lookup) -> Result<V4Lease, Closed> {
    if let Some(gate) = lease_blocks(client, lookup) {
        return Err(gate);
    }
    let text = |field: &str| {
        lookup
            .field(client, field)
            .and_then(|v| v.as_str().map(str::to_string))
    };
    let address: Ipv4Net = text("address")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| definite(format!("{client} is bound but reports no address")))?;
    let gateway = text("gateway").and_then(|g| g.parse().ok());
    let routes = lookup
        .field(client, "routes")
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            let d: Ipv4Net = r.get("destination")?.as_str()?.parse().ok()?;
            let g: Ipv4Addr = r.get("gateway")?.as_str()?.parse().ok()?;
            Some((d, g))
        })
        .collect();
    let mtu = lookup
        .field(client, "mtu")
        .and_then(|m| m.as_u64())
        .and_then(|m| u32::try_from(m).ok());
    Ok(V4Lease {
        address,
        gateway,
        routes,
        mtu,
    })
}

/// The address and routes a DHCPv4 lease puts into the kernel.
pub fn v4_intents(
    owner: &str,
    ifname: &str,
    spec: &DHCPv4ClientSpec,
    lease: &V4Lease,
) -> (AddressIntent, Vec<RouteIntent>) {
    let address = AddressIntent::new(owner, ifname, IpNet::V4(lease.address), false);
    let mut routes = Vec::new();
    if spec.use_routes == Some(false) {
        return (address, routes);
    }
    let route = |destination: Ipv4Net, gateway: Option<Ipv4Addr>| {
        let mut r = RouteIntent::unicast(
            owner,
            IpNet::V4(destination.trunc()),
            gateway.map(IpAddr::V4),
            Some(ifname),
        );
        r.metric = spec.route_metric;
        r
    };
    let mut gateways = Vec::new();
    if lease.routes.is_empty() {
        // RFC 3442: with classless static routes, the Router option is
        // ignored; without them, the Router option is the default route.
        if let Some(gw) = lease.gateway {
            routes.push(route(Ipv4Net::default(), Some(gw)));
            gateways.push(gw);
        }
    } else {
        for (destination, gw) in &lease.routes {
            if gw.is_unspecified() {
                routes.push(route(*destination, None));
            } else {
                routes.push(route(*destination, Some(*gw)));
                gateways.push(*gw);
            }
        }
    }
    // A gateway outside the leased subnet (a /32 lease, say) is reached
    // on-link: the kernel refuses a route via it without this host route.
    for gw in gateways {
        let host = Ipv4Net::from(gw);
        if !lease.address.contains(&gw) && !routes.iter().any(|r| r.destination == IpNet::V4(host))
        {
            routes.insert(0, route(host, None));
        }
    }
    (address, routes)
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

    fn pd(phase: &str, prefix: &str) -> Fake {
        let mut m = BTreeMap::new();
        m.insert("DHCPv6PrefixDelegation/wan-pd.phase".into(), phase.into());
        m.insert(
            "DHCPv6PrefixDelegation/wan-pd.prefixes".into(),
            serde_json::json!([{"prefix": prefix, "preferredUntilUnixMs": 1000, "validUntilUnixMs": null}]),
        );
        Fake(m)
    }

    fn spec(subnet: &str, suffix: &str) -> IPv6DelegatedAddressSpec {
        IPv6DelegatedAddressSpec {
            prefix_delegation: "wan-pd".into(),
            interface: "lan".into(),
            address_suffix: suffix.into(),
            subnet_id: Some(subnet.into()),
            prefix_length: None,
            announce: Some(true),
            send_ra: None,
            depends_on: Vec::new(),
            when: None,
        }
    }

    #[test]
    fn the_lan_address_is_the_subnet_of_the_delegation_with_the_suffix() {
        let d = delegated_address(&spec("a", "::1"), &pd("Bound", "2001:db8:1200::/56"))
            .expect("derived");
        assert_eq!(d.address.to_string(), "2001:db8:1200:a::1/64");
        assert_eq!(d.subnet.to_string(), "2001:db8:1200:a::/64");
        assert_eq!((d.preferred_until_ms, d.valid_until_ms), (Some(1000), None));
        assert_eq!(d.fields()["prefix"], "2001:db8:1200:a::/64");
        assert_eq!(d.fields()["address"], "2001:db8:1200:a::1");
        assert_eq!(d.fields()["cidr"], "2001:db8:1200:a::1/64");
        // Still valid while renewing or rebinding.
        assert!(
            delegated_address(&spec("0", "::1"), &pd("Rebinding", "2001:db8:1200::/56")).is_ok()
        );
    }

    #[test]
    fn no_address_while_the_delegation_is_not_bound() {
        for phase in ["Soliciting", "Expired", "Requesting", "Stopped"] {
            let e = delegated_address(&spec("0", "::1"), &pd(phase, "2001:db8:1200::/56"))
                .expect_err("no lease, no address");
            assert!(!e.unknown && e.reason.contains(phase), "{e:?}");
        }
        let e = delegated_address(&spec("0", "::1"), &Fake(BTreeMap::new())).expect_err("unknown");
        assert!(
            e.unknown,
            "right after a restart the verdict is unknown: {e:?}"
        );
    }

    #[test]
    fn a_subnet_that_does_not_fit_is_refused_with_the_range() {
        let e = delegated_address(&spec("100", "::1"), &pd("Bound", "2001:db8:1200::/56"))
            .expect_err("a /56 has 256 subnets");
        assert!(e.reason.contains("0-ff"), "{e:?}");
        let e = derive_address("2001:db8::/80".parse().unwrap(), 0, Ipv6Addr::LOCALHOST, 64)
            .expect_err("longer than /64");
        assert!(e.contains("longer than /64"), "{e}");
        let (a, _) = derive_address(
            "2001:db8::/64".parse().unwrap(),
            0,
            Ipv6Addr::LOCALHOST,
            128,
        )
        .expect("a /64 has subnet 0");
        assert_eq!(a.to_string(), "2001:db8::1/128");
    }

    fn client_spec() -> DHCPv4ClientSpec {
        DHCPv4ClientSpec {
            interface: "wan".into(),
            class_id: None,
            client_id: None,
            hostname: None,
            requested_address: None,
            route_metric: Some(100),
            use_dns: None,
            use_routes: None,
            release_on_removal: None,
            when: None,
        }
    }

    #[test]
    fn dhcpv4_routes_follow_rfc_3442() {
        let lease = V4Lease {
            address: "192.0.2.10/24".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            routes: Vec::new(),
            mtu: None,
        };
        let (a, r) = v4_intents("DHCPv4Client/wan", "wan0", &client_spec(), &lease);
        assert_eq!(
            (a.address.to_string(), a.prefix_len),
            ("192.0.2.10".into(), 24)
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].destination.to_string(), "0.0.0.0/0");
        assert_eq!(r[0].metric, Some(100));
        // Classless routes replace the router option; 0.0.0.0 is on-link.
        let classless = V4Lease {
            routes: vec![
                (
                    "10.0.0.0/8".parse().unwrap(),
                    "192.0.2.254".parse().unwrap(),
                ),
                ("198.51.100.0/24".parse().unwrap(), Ipv4Addr::UNSPECIFIED),
            ],
            ..lease.clone()
        };
        let (_, r) = v4_intents("DHCPv4Client/wan", "wan0", &client_spec(), &classless);
        let text: Vec<String> = r
            .iter()
            .map(|r| format!("{} {:?}", r.destination, r.gateway))
            .collect();
        assert_eq!(
            text,
            ["10.0.0.0/8 Some(192.0.2.254)", "198.51.100.0/24 None"]
        );
        // A gateway outside a /32 lease gets an on-link host route first.
        let slash32 = V4Lease {
            address: "203.0.113.7/32".parse().unwrap(),
            gateway: Some("203.0.113.1".parse().unwrap()),
            routes: Vec::new(),
            mtu: None,
        };
        let (_, r) = v4_intents("DHCPv4Client/wan", "wan0", &client_spec(), &slash32);
        assert_eq!(r[0].destination.to_string(), "203.0.113.1/32");
        assert_eq!(r[0].gateway, None);
        assert_eq!(r[1].destination.to_string(), "0.0.0.0/0");
        let no_routes = DHCPv4ClientSpec {
            use_routes: Some(false),
            ..client_spec()
        };
        assert!(v4_intents("o", "wan0", &no_routes, &lease).1.is_empty());
    }
}
