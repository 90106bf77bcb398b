//! routerd-healthcheck: ICMP, TCP, HTTP and DNS probes with thresholds, run as
//! a managed daemon that speaks the routerd daemon contract.
//!
//! - [`spec`]: the `HealthCheck` probe definition and its validation.
//! - [`phase`]: the pure Unknown/Healthy/Unhealthy state machine.
//! - [`probe`]: target resolution and one probe per protocol, on real sockets.
//! - [`daemon`]: the probe loop, events, `status.json` and the contract handle.

pub mod daemon;
pub mod phase;
pub mod probe;
pub mod spec;
