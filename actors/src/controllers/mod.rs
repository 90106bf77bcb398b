//! The controllers, one per kind family.

pub mod bgp;
pub mod daemons;
pub mod dhcp;
pub mod dns;
pub mod dslite;
pub mod healthcheck;
pub mod ingress;
pub mod kernel;
pub mod lan;
pub mod vrrp;

pub use bgp::BgpController;
pub use dhcp::DhcpController;
pub use dns::DnsController;
pub use dslite::DsLiteController;
pub use healthcheck::HealthCheckController;
pub use ingress::IngressController;
pub use kernel::KernelController;
pub use lan::LanController;
pub use vrrp::VrrpController;
