//! Chaos tooling for the HA lab: a fixed-cadence prober (`rdprobe`), a sampler
//! of who holds each VIP and the invariant checker that judges a chaos run
//! (`rdcheck`). The computations are pure modules with unit tests (`outage`,
//! `icmp`, `netlink` parsing, `owners`, `ticks`, `faults`, `verdict`); sockets,
//! namespaces and threads stay in `prober`, `sampler`, `netlink::AddrDumper`
//! and `sys`.

pub mod faults;
pub mod icmp;
pub mod netlink;
pub mod outage;
pub mod owners;
pub mod prober;
pub mod sampler;
pub mod sys;
pub mod ticks;
pub mod verdict;
