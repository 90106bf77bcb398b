//! One neighbour: its config, its session state machine, its connections
//! and what the speaker keeps for it (Adj-RIB-Out, counters, graceful
//! restart timers).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use routerd_bfd_core::SessionHandle;
use routerd_bgp_core::fsm::{self, Family, LocalConfig, OpenInfo, PeerAs, Session};
use routerd_bgp_core::policy::Policy;
use routerd_bgp_core::wire::{
    AfiSafi, Capability, ExtendedNextHop, GracefulRestart, Negotiated, Open, PathAttributes,
    SessionParams, UpdateEncoder,
};
use serde::Serialize;
use tokio::task::JoinHandle;

use super::conn::{Conn, PeerId};
use crate::net::PeerSocket;
use crate::spec::{BgpSpec, PeerSpec};

/// The families routerd speaks.
pub(crate) const FAMILIES: [AfiSafi; 2] = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];

/// Per-peer counters, in status.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerCounters {
    pub updates_received: u64,
    pub updates_sent: u64,
    pub prefixes_rejected: u64,
    pub withdrawals_received: u64,
    pub refreshes_received: u64,
    pub refreshes_sent: u64,
    /// RFC 7606 outcomes of malformed UPDATEs.
    pub malformed: Malformed,
    pub max_prefix_hits: u64,
    pub bfd_downs: u64,
}

/// UPDATEs with problems, by the RFC 7606 action taken.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Malformed {
    pub attribute_discard: u64,
    pub treat_as_withdraw: u64,
    pub afi_safi_disable: u64,
    pub session_reset: u64,
}

impl Malformed {
    pub fn add(&mut self, o: &Malformed) {
        self.attribute_discard += o.attribute_discard;
        self.treat_as_withdraw += o.treat_as_withdraw;
        self.afi_safi_disable += o.afi_safi_disable;
        self.session_reset += o.session_reset;
    }
}

/// What the speaker knows of an Established session.
#[derive(Debug)]
pub(crate) struct Up {
    pub negotiated: Negotiated,
    pub params: SessionParams,
    pub encoder: UpdateEncoder,
    pub ebgp: bool,
    pub peer_id: Ipv4Addr,
    /// Our next hop for IPv4 routes (an IPv6 one with RFC 8950).
    pub next_hop_v4: Option<routerd_bgp_core::wire::NextHop>,
    /// Our next hop for IPv6 routes.
    pub next_hop_v6: Option<routerd_bgp_core::wire::NextHop>,
    /// The link the session runs over, for link-local next hops and BFD.
    pub ifindex: Option<u32>,
    pub ifname: Option<String>,
    /// Families whose End-of-RIB came.
    pub end_of_rib: Vec<AfiSafi>,
    /// Families disabled by RFC 7606 (a malformed MP attribute).
    pub disabled: Vec<AfiSafi>,
    pub since: Instant,
}

impl Up {
    pub fn carries(&self, f: AfiSafi) -> bool {
        self.negotiated.has_family(f) && !self.disabled.contains(&f)
    }
}

/// Graceful restart of the peer, as its helper (RFC 4724 §4.2).
#[derive(Debug, Default)]
pub(crate) struct Restart {
    /// The session went down gracefully; its routes are stale until this
    /// passes, unless it comes back.
    pub restart_until: Option<Instant>,
    /// It came back; stale routes go at End-of-RIB or at this time.
    pub stale_until: Option<Instant>,
}

impl Restart {
    pub fn active(&self) -> bool {
        self.restart_until.is_some() || self.stale_until.is_some()
    }
}

/// One neighbour.
pub(crate) struct Peer {
    pub id: PeerId,
    pub spec: PeerSpec,
    /// Set for a session accepted from a dynamic range (its range's name).
    pub dynamic: Option<String>,
    pub import: Option<Policy>,
    pub export: Option<Policy>,
    pub fsm: Session,
    /// The connection the FSM drives.
    pub conn: Option<Conn>,
    /// A second, incoming connection during OpenSent/OpenConfirm, kept until
    /// its OPEN decides the collision (RFC 4271 §6.8).
    pub rival: Option<Conn>,
    /// The rival connection's OPEN, once it came.
    pub rival_open: Option<Open>,
    pub connecting: Option<(u64, JoinHandle<()>)>,
    /// The peer's OPEN on `conn`.
    pub remote_open: Option<Open>,
    pub up: Option<Up>,
    /// What we sent it, by prefix (its Adj-RIB-Out).
    pub adj_out: HashMap<IpNet, Arc<PathAttributes>>,
    /// Its accepted prefixes (Adj-RIB-In after import policy).
    pub accepted: usize,
    /// Prefixes it sent that import policy (or their next hop) refused and
    /// it has not withdrawn: with `accepted`, what it sent us.
    pub rejected: std::collections::HashSet<IpNet>,
    pub restart: Restart,
    pub bfd: Option<SessionHandle>,
    /// BFD failures already acted on.
    pub bfd_failures_seen: u64,
    /// Stopped by max-prefix: no automatic restart until a renew or reload.
    pub halted: Option<String>,
    /// A NOTIFICATION with data to send when the FSM asks for one with this
    /// code (the FSM speaks codes only).
    pub notification: Option<routerd_bgp_core::wire::Notification>,
    pub counters: PeerCounters,
    pub last_down: Option<String>,
    pub last_error: Option<String>,
    pub state_since: Instant,
}

impl Peer {
    pub fn new(id: PeerId, spec: PeerSpec, dynamic: Option<String>, global: &BgpSpec) -> Peer {
        let fsm = Session::new(local_config(&spec, global));
        let import = spec.import.as_ref().and_then(|p| p.policy().ok());
        let export = spec.export.as_ref().and_then(|p| p.policy().ok());
        Peer {
            id,
            spec,
            dynamic,
            import,
            export,
            fsm,
            conn: None,
            rival: None,
            rival_open: None,
            connecting: None,
            remote_open: None,
            up: None,
            adj_out: HashMap::new(),
            accepted: 0,
            rejected: std::collections::HashSet::new(),
            restart: Restart::default(),
            bfd: None,
            bfd_failures_seen: 0,
            halted: None,
            notification: None,
            counters: PeerCounters::default(),
            last_down: None,
            last_error: None,
            state_since: Instant::now(),
        }
    }

    pub fn ebgp(&self, local_asn: u32) -> bool {
        self.spec.peer_asn != local_asn
    }

    /// How to reach or accept it.
    pub fn socket(&self, local_asn: u32) -> PeerSocket {
        let ttl = match (self.spec.ebgp_multihop, self.ebgp(local_asn)) {
            (Some(hops), _) => hops,
            (None, true) => 1,
            (None, false) => 64,
        };
        PeerSocket {
            peer: self.spec.address,
            local: self.spec.local_address,
            md5: self.spec.md5_key.as_ref().map(|k| k.as_bytes().to_vec()),
            ttl_security: self.spec.ttl_security_hops,
            ttl,
        }
    }

    /// Our OPEN to it.
    pub fn open(&self, global: &BgpSpec) -> Open {
        let mut caps = vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]),
        ];
        if let Some(gr) = &global.graceful_restart {
            // Helper only: no families, so the peer knows we keep its routes
            // through its restart but preserve no forwarding state of our
            // own (RFC 4724 §3).
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: gr.restart_time_secs,
                families: Vec::new(),
            }));
        }
        Open::new(global.asn, self.hold_time(global), global.router_id, caps)
    }

    pub fn hold_time(&self, global: &BgpSpec) -> u16 {
        self.spec.hold_time.unwrap_or(global.hold_time)
    }

    /// Clears what belonged to the session that ended.
    pub fn session_ended(&mut self) {
        self.up = None;
        self.adj_out = HashMap::new();
        self.remote_open = None;
    }
}

/// The FSM's view of our side of a peer's session.
pub(crate) fn local_config(spec: &PeerSpec, global: &BgpSpec) -> LocalConfig {
    LocalConfig {
        asn: global.asn,
        router_id: global.router_id,
        peer_as: PeerAs::Exact(spec.peer_asn),
        hold_time: spec.hold_time.unwrap_or(global.hold_time),
        connect_retry: Duration::from_millis(
            spec.connect_retry_ms.unwrap_or(global.connect_retry_ms),
        ),
        passive: spec.passive,
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
        graceful_restart: global
            .graceful_restart
            .as_ref()
            .map(|gr| fsm::GracefulRestart {
                restart_time: gr.restart_time_secs,
                restarting: false,
                families: Vec::new(),
                preserved: Vec::new(),
            }),
        extended_nexthop: true,
    }
}

/// The FSM's view of a received OPEN.
pub(crate) fn open_info(o: &Open) -> OpenInfo {
    let families = o
        .multiprotocol()
        .filter_map(|f| match f {
            AfiSafi::IPV4_UNICAST => Some(Family::Ipv4Unicast),
            AfiSafi::IPV6_UNICAST => Some(Family::Ipv6Unicast),
            _ => None,
        })
        .collect::<Vec<_>>();
    // A peer that lists only families we do not speak still gets IPv4
    // unicast from the FSM's "no Multiprotocol" rule otherwise; keep the
    // list as sent when it names anything.
    let mut info = OpenInfo {
        version: o.version,
        asn: o.asn(),
        my_as_field: o.my_as,
        hold_time: o.hold_time,
        router_id: o.bgp_id,
        families,
        four_octet: o.four_octet_as().is_some(),
        route_refresh: false,
        graceful_restart: None,
        extended_nexthop: false,
    };
    for c in &o.capabilities {
        match c {
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => {
                info.route_refresh = true
            }
            Capability::GracefulRestart(g) => {
                info.graceful_restart = Some(fsm::GracefulRestart {
                    restart_time: g.restart_time,
                    restarting: g.restart_state,
                    families: g
                        .families
                        .iter()
                        .filter_map(|f| fsm_family(f.afi_safi))
                        .collect(),
                    preserved: g
                        .families
                        .iter()
                        .filter(|f| f.forwarding_preserved)
                        .filter_map(|f| fsm_family(f.afi_safi))
                        .collect(),
                })
            }
            Capability::ExtendedNextHop(list) => {
                info.extended_nexthop |= list.contains(&ExtendedNextHop::IPV4_UNICAST_OVER_IPV6)
            }
            _ => {}
        }
    }
    info
}

/// Whether `a` is an IPv6 link-local address.
pub(crate) fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn fsm_family(f: AfiSafi) -> Option<Family> {
    match f {
        AfiSafi::IPV4_UNICAST => Some(Family::Ipv4Unicast),
        AfiSafi::IPV6_UNICAST => Some(Family::Ipv6Unicast),
        _ => None,
    }
}
