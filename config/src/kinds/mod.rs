//! The resource kinds routerd implements, one module each.

pub mod address;
pub mod bgp;
pub mod cluster;
pub mod common;
pub mod dhcp;
pub mod dns;
pub mod dslite;
pub mod healthcheck;
pub mod ingress;
pub mod interface;
pub mod ipv6_lan;
pub mod route;
pub mod static_route;
pub mod sysctl;
pub mod virtual_address;

pub use address::{
    IPv4StaticAddress, IPv4StaticAddressSpec, IPv6StaticAddress, IPv6StaticAddressSpec,
    StaticAddress,
};
pub use bgp::{
    BFD, BFDSpec, BGPAnnouncement, BGPAnnouncementSpec, BGPDynamicPeer, BGPDynamicPeerSpec,
    BGPPeer, BGPPeerSpec, BGPRouter, BGPRouterSpec,
};
pub use cluster::{RouterdCluster, RouterdClusterSpec};
pub use dhcp::{
    DHCPv4Client, DHCPv4ClientSpec, DHCPv6Information, DHCPv6InformationSpec,
    DHCPv6PrefixDelegation, DHCPv6PrefixDelegationSpec, DHCPv6Server, DHCPv6ServerSpec,
};
pub use dns::{DNSForwarder, DNSForwarderSpec, DNSUpstream, DNSUpstreamSpec};
pub use dslite::{DSLiteTunnel, DSLiteTunnelSpec};
pub use healthcheck::{HealthCheck, HealthCheckSpec};
pub use ingress::{IngressService, IngressServiceSpec};
pub use interface::{Interface, InterfaceSpec};
pub use ipv6_lan::{
    IPv6DelegatedAddress, IPv6DelegatedAddressSpec, IPv6RouterAdvertisement,
    IPv6RouterAdvertisementSpec,
};
pub use route::{IPv4Route, IPv4RouteSpec, IPv6Route, IPv6RouteSpec, RouteSpec, RouteType};
pub use static_route::{
    IPv4StaticRoute, IPv4StaticRouteSpec, IPv6StaticRoute, IPv6StaticRouteSpec,
};
pub use sysctl::{Sysctl, SysctlCompare, SysctlSpec};
pub use virtual_address::{VirtualAddress, VirtualAddressSpec};
