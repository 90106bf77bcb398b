//! `IPv4Route` and `IPv6Route`: static routes in the main table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DependsOn, ValueFrom, When, check_ifname};
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::{Ipv4Prefix, Ipv6Prefix};

/// The `IPv4Route` kind.
pub struct IPv4Route;
/// The `IPv6Route` kind: the IPv6 twin of `IPv4Route`.
pub struct IPv6Route;

/// What a route does with matching packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    /// Forward via a gateway or out of a device.
    #[default]
    Unicast,
    /// Silently drop.
    Blackhole,
}

macro_rules! route_spec {
    ($(#[$doc:meta])* $name:ident, $prefix:ty, $addr:ty, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            #[doc = concat!("Destination prefix, e.g. `", $example, "`.")]
            pub destination: $prefix,
            /// Next-hop address.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub gateway: Option<$addr>,
            /// Output device (kernel interface name).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub device: Option<String>,
            /// Route metric (priority); lower wins.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub metric: Option<u32>,
            /// `unicast` (default) or `blackhole`.
            #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
            pub route_type: Option<RouteType>,
            /// Preferred source address for host-originated traffic (RTA_PREFSRC).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub preferred_source: Option<$addr>,
            /// Read the device from another resource.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub device_from: Option<ValueFrom>,
            /// Read the gateway from another resource.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub gateway_from: Option<ValueFrom>,
            /// Install only while these resources are in the given state.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub depends_on: Vec<DependsOn>,
            /// Apply only while these conditions hold.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub when: Option<When>,
        }

        impl RouteSpec for $name {
            fn destination(&self) -> IpNet {
                self.destination.net()
            }
            fn gateway(&self) -> Option<IpAddr> {
                self.gateway.map(IpAddr::from)
            }
            fn device(&self) -> Option<&str> {
                self.device.as_deref()
            }
            fn metric(&self) -> Option<u32> {
                self.metric
            }
            fn route_type(&self) -> RouteType {
                self.route_type.unwrap_or_default()
            }
            fn preferred_source(&self) -> Option<IpAddr> {
                self.preferred_source.map(IpAddr::from)
            }
            fn device_from(&self) -> Option<&ValueFrom> {
                self.device_from.as_ref()
            }
            fn gateway_from(&self) -> Option<&ValueFrom> {
                self.gateway_from.as_ref()
            }
            fn depends_on(&self) -> &[DependsOn] {
                &self.depends_on
            }
            fn when(&self) -> Option<&When> {
                self.when.as_ref()
            }
        }
    };
}

route_spec!(
    /// Spec of an `IPv4Route`.
    IPv4RouteSpec, Ipv4Prefix, Ipv4Addr, "10.0.0.0/8"
);
route_spec!(
    /// Spec of an `IPv6Route`.
    IPv6RouteSpec, Ipv6Prefix, Ipv6Addr, "2001:db8::/32"
);

/// What the two route kinds have in common.
pub trait RouteSpec {
    /// Destination prefix.
    fn destination(&self) -> IpNet;
    /// Static gateway.
    fn gateway(&self) -> Option<IpAddr>;
    /// Static device.
    fn device(&self) -> Option<&str>;
    /// Metric.
    fn metric(&self) -> Option<u32>;
    /// Unicast or blackhole.
    fn route_type(&self) -> RouteType;
    /// Preferred source.
    fn preferred_source(&self) -> Option<IpAddr>;
    /// Device read from another resource.
    fn device_from(&self) -> Option<&ValueFrom>;
    /// Gateway read from another resource.
    fn gateway_from(&self) -> Option<&ValueFrom>;
    /// Status dependencies.
    fn depends_on(&self) -> &[DependsOn];
    /// The `when` gate.
    fn when(&self) -> Option<&When>;
}

fn check_route(spec: &dyn RouteSpec, c: &mut Checker<'_>) {
    let has_gateway = spec.gateway().is_some() || spec.gateway_from().is_some();
    let has_device = spec.device().is_some() || spec.device_from().is_some();
    match spec.route_type() {
        RouteType::Unicast if !has_gateway && !has_device => c.error(
            "spec",
            "a unicast route needs a gateway, a device, or both (or type: blackhole)",
        ),
        RouteType::Blackhole if has_gateway || has_device => {
            c.error("spec.type", "a blackhole route takes no gateway or device")
        }
        _ => {}
    }
    if spec.gateway().is_some() && spec.gateway_from().is_some() {
        c.error(
            "spec.gatewayFrom",
            "give either gateway or gatewayFrom, not both",
        );
    }
    if spec.device().is_some() && spec.device_from().is_some() {
        c.error(
            "spec.deviceFrom",
            "give either device or deviceFrom, not both",
        );
    }
    if let Some(device) = spec.device()
        && let Err(e) = check_ifname(device)
    {
        c.error("spec.device", e);
    }
    if let Some(gw) = spec.gateway() {
        if gw.is_unspecified() || gw.is_multicast() {
            c.error("spec.gateway", format!("{gw} cannot be a gateway"));
        }
        if let IpAddr::V6(v6) = gw
            && v6.segments()[0] & 0xffc0 == 0xfe80
            && !has_device
        {
            c.error(
                "spec.gateway",
                format!("link-local gateway {gw} needs a device to say which link"),
            );
        }
    }
    for (path, from) in [
        ("spec.deviceFrom", spec.device_from()),
        ("spec.gatewayFrom", spec.gateway_from()),
    ] {
        if let Some(from) = from {
            c.reference_to(&format!("{path}.resource"), &from.resource);
        }
    }
    for (i, dep) in spec.depends_on().iter().enumerate() {
        c.reference_to(&format!("spec.dependsOn[{i}].resource"), &dep.resource);
    }
    if let Some(when) = spec.when() {
        when.check("spec.when", c);
    }
}

fn check_route_set(items: &[(&Resource, &dyn RouteSpec)], c: &mut SetChecker<'_>) {
    // Keyed by (destination, metric): a large static table stays linear.
    let mut first: std::collections::HashMap<(IpNet, u32), &Resource> =
        std::collections::HashMap::new();
    for (r, spec) in items {
        // Gated routes may share a key: only one of them is meant to be up.
        if spec.when().is_some() || !spec.depends_on().is_empty() {
            continue;
        }
        let key = (spec.destination(), spec.metric().unwrap_or(0));
        let clash = first.get(&key).copied();
        if clash.is_none() {
            first.insert(key, r);
        }
        if let Some(other) = clash {
            c.error(
                r,
                "spec.destination",
                format!(
                    "{} with the same metric is already routed by {}; give one a different metric (or a when/dependsOn gate)",
                    spec.destination(),
                    other.id()
                ),
            );
        }
    }
}

/// The Kind impl of a twin: the checks are the shared ones above.
macro_rules! twin_kind {
    ($kind:ident, $spec:ty) => {
        impl Kind for $kind {
            const KIND: &'static str = stringify!($kind);
            const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
            type Spec = $spec;

            fn check(spec: &Self::Spec, c: &mut Checker<'_>) {
                check_route(spec, c);
            }

            fn check_all(items: &[(&Resource, &Self::Spec)], c: &mut SetChecker<'_>) {
                let items: Vec<(&Resource, &dyn RouteSpec)> = items
                    .iter()
                    .map(|(r, s)| (*r, *s as &dyn RouteSpec))
                    .collect();
                check_route_set(&items, c);
            }
        }
    };
}

twin_kind!(IPv4Route, IPv4RouteSpec);
twin_kind!(IPv6Route, IPv6RouteSpec);
