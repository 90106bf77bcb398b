//! Counters of one advertising interface, shared between the advertiser,
//! its socket loop and whoever reports status.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters (atomics, so the status reader never blocks the sender).
#[derive(Debug, Default)]
pub struct RaStats {
    pub(crate) unsolicited_sent: AtomicU64,
    pub(crate) solicited_sent: AtomicU64,
    pub(crate) final_sent: AtomicU64,
    pub(crate) solicitations_received: AtomicU64,
    pub(crate) solicitations_malformed: AtomicU64,
    pub(crate) solicitations_bad_hop_limit: AtomicU64,
    pub(crate) deprecations_sent: AtomicU64,
    pub(crate) rdnss_dropped: AtomicU64,
    pub(crate) foreign_adverts: AtomicU64,
    pub(crate) inconsistent_adverts: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) socket_restarts: AtomicU64,
    pub(crate) configs_rejected: AtomicU64,
}

/// A point-in-time copy of [`RaStats`] for status reports (JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RaStatsSnapshot {
    /// Scheduled multicast RAs handed to the socket (periodic, initial and
    /// after changes); any that failed are also in `send_errors`.
    pub unsolicited_sent: u64,
    /// RAs handed to the socket to answer Router Solicitations (sent
    /// multicast, RFC 4861 §6.2.6).
    pub solicited_sent: u64,
    /// Final RAs with router lifetime 0 put on the wire (§6.2.5).
    pub final_sent: u64,
    /// Valid Router Solicitations.
    pub solicitations_received: u64,
    /// Router Solicitations that failed RFC 4861 §6.1.1 checks (the hop
    /// limit ones included).
    pub solicitations_malformed: u64,
    /// Of those, the ones whose hop limit was not 255.
    pub solicitations_bad_hop_limit: u64,
    /// Prefix Information options sent with lifetimes 0 for a prefix that
    /// left the configuration (one per prefix per RA).
    pub deprecations_sent: u64,
    /// RDNSS addresses left out because they lie in a prefix being
    /// deprecated (one per address per RA).
    pub rdnss_dropped: u64,
    /// RAs from other routers seen on the link.
    pub foreign_adverts: u64,
    /// Of those, ones that contradict ours (RFC 4861 §6.2.7).
    pub inconsistent_adverts: u64,
    /// Sends that failed (the RA was built but did not leave).
    pub send_errors: u64,
    /// Times the socket was opened again after the interface went away.
    pub socket_restarts: u64,
    /// Configuration updates refused (the previous one stays in force).
    pub configs_rejected: u64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl RaStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> RaStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RaStatsSnapshot {
            unsolicited_sent: r(&self.unsolicited_sent),
            solicited_sent: r(&self.solicited_sent),
            final_sent: r(&self.final_sent),
            solicitations_received: r(&self.solicitations_received),
            solicitations_malformed: r(&self.solicitations_malformed),
            solicitations_bad_hop_limit: r(&self.solicitations_bad_hop_limit),
            deprecations_sent: r(&self.deprecations_sent),
            rdnss_dropped: r(&self.rdnss_dropped),
            foreign_adverts: r(&self.foreign_adverts),
            inconsistent_adverts: r(&self.inconsistent_adverts),
            send_errors: r(&self.send_errors),
            socket_restarts: r(&self.socket_restarts),
            configs_rejected: r(&self.configs_rejected),
        }
    }
}
