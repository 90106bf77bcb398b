//! Services routerd runs in its own process for its controllers: the DNS
//! forwarding its own lookups go through, and the LAN-side loops (router
//! advertisements, the stateless DHCPv6 server).
//!
//! They live in the [`Runtime`](crate::runtime::Runtime), not in a
//! controller's state: a controller that panics and is restarted finds its
//! loops still running, and hosts on the LAN notice nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use routerd_dns::{ForwarderSpec, Forwarding, UpstreamSpec};

use crate::task::Task;

/// What the services hold.
#[derive(Default)]
pub struct Services {
    /// routerd's DNS forwarding, when DNSForwarder resources exist.
    pub dns: Mutex<Option<DnsService>>,
    /// The LAN loops, by kernel interface name.
    pub lan: Mutex<BTreeMap<String, crate::controllers::lan::LanLink>>,
    /// AFTR addresses resolved for DS-Lite tunnels, by resource id.
    pub aftr: Mutex<BTreeMap<String, ResolvedAftr>>,
    /// The ingress controller's memory: the nftables table written, the
    /// backends' last states, host names resolved.
    pub ingress: Mutex<crate::controllers::ingress::IngressMemory>,
}

/// The forwarding built from one set of specs, and its health prober.
pub struct DnsService {
    /// The specs it was built from: rebuilt only when they change, so the
    /// cache and the upstreams' health survive unrelated reconciles.
    pub built_from: (Vec<UpstreamSpec>, Vec<ForwarderSpec>),
    /// The forwarding itself.
    pub forwarding: Arc<Forwarding>,
    /// Runs the forwarders' active health checks.
    pub _health: Option<Task>,
}

impl Services {
    /// The current DNS forwarding, if any.
    pub fn forwarding(&self) -> Option<Arc<Forwarding>> {
        self.dns.lock().ok()?.as_ref().map(|d| d.forwarding.clone())
    }
}

/// An AFTR name resolved to an address, kept for the answer's TTL.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAftr {
    /// The name asked for.
    pub name: String,
    /// The addresses answered, sorted.
    pub addresses: Vec<std::net::Ipv6Addr>,
    /// Who answered (`forwarder/upstream`).
    pub source: String,
    /// When to ask again.
    pub refresh_at: Instant,
}
