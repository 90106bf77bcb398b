//! The controllers, one per kind family.

pub mod daemons;
pub mod dhcp;
pub mod healthcheck;
pub mod kernel;
pub mod vrrp;

pub use dhcp::DhcpController;
pub use healthcheck::HealthCheckController;
pub use kernel::KernelController;
pub use vrrp::VrrpController;
