//! The controllers, one per kind family.

pub mod healthcheck;
pub mod kernel;

pub use healthcheck::HealthCheckController;
pub use kernel::KernelController;
