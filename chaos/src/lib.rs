//! Chaos tooling for the lab: a fixed-cadence prober, a VIP-owner sampler and the invariant checker
