//! What routerd wants nftables to do, in the domain's terms: services on a
//! virtual address with the backends that may take new connections now.
//!
//! The ingress controller builds these from IngressService resources, their
//! backends' health and the operator's drains; [`crate::render`] turns them
//! into the table.

use std::net::IpAddr;

use serde::Serialize;

/// Layer-4 protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl L4 {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
        }
    }

    /// The name nft uses.
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
}

/// How a new connection picks its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Selection {
    /// The first eligible backend in configured order takes everything.
    #[default]
    Failover,
    /// A Jenkins hash of the client's address picks the backend, so a client
    /// stays on one backend while the eligible set is unchanged (and, the
    /// seed being derived from the service name, on every cluster node).
    SourceHash,
    /// A random number picks the backend, per connection.
    Random,
}

/// What happens to a new connection when no backend is eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoBackend {
    /// Refuse it: a TCP reset, or ICMP port unreachable for UDP. Clients
    /// fail fast instead of waiting for a timeout.
    #[default]
    Reject,
    /// Drop it silently.
    Drop,
}

/// One backend that may take new connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// Its name in the IngressService.
    pub name: String,
    /// Its address (same family as the service's).
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// Relative share of new connections for `sourceHash` and `random`
    /// (1..=100); ignored by `failover`.
    pub weight: u32,
}

/// Source NAT for clients that reach the service over the interface its
/// backends are on (hairpin): without it the backend answers the client
/// directly, from an address the client never talked to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Hairpin {
    /// Masquerade only connections leaving through these kernel interfaces;
    /// empty: every connection to the service.
    pub interfaces: Vec<String>,
}

/// One IngressService as the data plane serves it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// The IngressService's name (names the map and the rule comments).
    pub name: String,
    /// The virtual address clients connect to.
    pub address: IpAddr,
    /// TCP or UDP.
    pub protocol: L4,
    /// The listen port.
    pub port: u16,
    /// How a backend is picked.
    pub selection: Selection,
    /// Backends that may take new connections, in configured order: healthy
    /// and not drained. Empty: `no_backend` applies.
    pub backends: Vec<Backend>,
    /// What to do when `backends` is empty.
    pub no_backend: NoBackend,
    /// Masquerade for hairpin traffic, when enabled.
    pub hairpin: Option<Hairpin>,
}

impl Service {
    /// The jhash seed: derived from the name (FNV-1a), so every node of a
    /// cluster and every re-render hashes a client to the same slot. The
    /// kernel would pick a random seed per rule otherwise, and each table
    /// replacement would move clients between backends.
    pub fn seed(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in self.name.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The map's slots: each eligible backend repeated by its weight, in
    /// configured order (weight 0 never gets a slot).
    pub fn slots(&self) -> Vec<(IpAddr, u16)> {
        self.backends
            .iter()
            .flat_map(|b| {
                std::iter::repeat_n((b.address, b.port), usize::try_from(b.weight).unwrap_or(0))
            })
            .collect()
    }
}
