//! `IPv4StaticRoute` and `IPv6StaticRoute`: the older, interface-bound route
//! kinds that published routerd examples still use. They mean the same as
//! an `IPv4Route`/`IPv6Route` with `device` taken from the Interface and
//! `gateway` from `via`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::interface::INTERFACE_KINDS;
use crate::kind::{Checker, Kind};
use crate::types::{Ipv4Prefix, Ipv6Prefix};

/// The `IPv4StaticRoute` kind.
pub struct IPv4StaticRoute;
/// The `IPv6StaticRoute` kind.
pub struct IPv6StaticRoute;

macro_rules! static_route {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $kind_name:literal, $prefix:ty, $addr:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// The `Interface` resource (by name) the route leaves through.
            pub interface: String,
            /// Destination prefix.
            pub destination: $prefix,
            /// Next-hop address (on-link when omitted).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub via: Option<$addr>,
            /// Route metric.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub metric: Option<u32>,
        }

        impl $name {
            /// Destination as a family-neutral prefix.
            pub fn destination(&self) -> IpNet {
                self.destination.net()
            }

            /// The next hop, family-neutral.
            pub fn via(&self) -> Option<IpAddr> {
                self.via.map(IpAddr::from)
            }
        }

        impl Kind for $kind {
            const KIND: &'static str = $kind_name;
            const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
            type Spec = $name;

            fn check(spec: &Self::Spec, c: &mut Checker<'_>) {
                c.reference_one_of("spec.interface", INTERFACE_KINDS, &spec.interface);
                if let Some(via) = spec.via() {
                    if via.is_unspecified() || via.is_multicast() {
                        c.error("spec.via", format!("{via} cannot be a gateway"));
                    }
                }
            }
        }
    };
}

static_route!(
    /// Spec of an `IPv4StaticRoute`.
    IPv4StaticRouteSpec, IPv4StaticRoute, "IPv4StaticRoute", Ipv4Prefix, Ipv4Addr
);
static_route!(
    /// Spec of an `IPv6StaticRoute`.
    IPv6StaticRouteSpec, IPv6StaticRoute, "IPv6StaticRoute", Ipv6Prefix, Ipv6Addr
);
