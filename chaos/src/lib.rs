//! Chaos tooling for the HA lab: a fixed-cadence prober (`rdprobe`), a sampler
//! of who holds each VIP and the invariant checker that judges a chaos run
//! (`rdcheck`). The computations are pure modules with unit tests; sockets,
//! namespaces and threads stay in `prober`, `sampler` and `sys`.

pub mod icmp;
pub mod outage;
pub mod prober;
pub mod sys;
