//! From a received UPDATE to Loc-RIB paths: RFC 7606 outcomes counted,
//! loops and bad next hops refused, import policy applied per prefix, and
//! one interned attribute set shared by all the prefixes of an UPDATE.
//!
//! Nothing here allocates per prefix except the Loc-RIB's own entry: the
//! attribute set, its rank and the policy's additions are worked out once
//! per UPDATE (per next hop group).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;
use routerd_bgp_core::policy::{self, Policy, RouteFacts, Verdict};
use routerd_bgp_core::rib::{self, Change, Path, Rank};
use routerd_bgp_core::wire::{AfiSafi, ErrorAction, NextHop, Origin, PathAttributes, Update};

use super::conn::PeerId;
use super::kernel::Want;
use super::peer::is_link_local;
use super::{LOCAL, Learned, Speaker};

/// What a path needs from its session, copied out once per UPDATE.
struct Source {
    ebgp: bool,
    peer_asn: u32,
    peer_id: Ipv4Addr,
    address: IpAddr,
    ifindex: Option<u32>,
}

impl Speaker {
    /// Applies one UPDATE from an Established peer.
    pub(super) fn update(&mut self, id: PeerId, u: Update<'_>) {
        let local_asn = self.spec.asn;
        let router_id = self.spec.router_id;
        let since = self.age();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(up) = peer.up.as_mut() else {
            return;
        };
        peer.counters.updates_received += 1;
        match u.action() {
            None => {}
            Some(ErrorAction::AttributeDiscard) => peer.counters.malformed.attribute_discard += 1,
            Some(ErrorAction::TreatAsWithdraw) => peer.counters.malformed.treat_as_withdraw += 1,
            Some(ErrorAction::AfiSafiDisable) => peer.counters.malformed.afi_safi_disable += 1,
            Some(ErrorAction::SessionReset) => peer.counters.malformed.session_reset += 1,
        }
        for p in &u.problems {
            tracing::debug!(peer = %peer.spec.name, problem = %p, "malformed UPDATE");
        }
        let mut newly_disabled = Vec::new();
        for f in u.disabled_families() {
            if !up.disabled.contains(&f) {
                tracing::warn!(peer = %peer.spec.name, family = %f, "malformed MP attribute: family disabled for this session (RFC 7606)");
                up.disabled.push(f);
                newly_disabled.push(f);
            }
        }
        let src = Source {
            ebgp: up.ebgp,
            peer_asn: peer.spec.peer_asn,
            peer_id: up.peer_id,
            address: peer.spec.address,
            ifindex: up.ifindex,
        };
        let disabled = up.disabled.clone();
        let import = peer.import.clone();
        let mut accepted = peer.accepted;
        let mut refused = std::mem::take(&mut peer.rejected);
        let mut rejected = 0u64;
        let mut withdrawn = 0u64;

        for f in newly_disabled {
            let gone: Vec<IpNet> = self
                .rib
                .peer_paths(id)
                .map(|(p, _)| *p)
                .filter(|p| family(p) == f)
                .collect();
            for p in gone {
                if self.withdraw_path(p, id) {
                    accepted -= 1;
                }
            }
        }
        for n in u.unreachable() {
            for p in n.iter() {
                withdrawn += 1;
                refused.remove(&p);
                if self.withdraw_path(p, id) {
                    accepted -= 1;
                }
            }
        }
        for reach in u.reachable() {
            if disabled.contains(&reach.nlri.afi_safi()) {
                continue;
            }
            let attrs = u.attrs_for(&reach);
            let usable = self.sane(&src, &attrs, local_asn, router_id);
            let hop = next_hop(reach.next_hop, &src);
            let (Some(()), Some((nexthop, ll_link))) = (usable, hop) else {
                // Unusable: the prefixes are withdrawn, as RFC 7606
                // treat-as-withdraw would have it.
                for p in reach.nlri.iter() {
                    rejected += 1;
                    refused.insert(p);
                    if self.withdraw_path(p, id) {
                        accepted -= 1;
                    }
                }
                continue;
            };
            if let Some(ifindex) = ll_link {
                self.gw_ifindex.insert(nexthop, ifindex);
            }
            // One rank shared by every prefix of the UPDATE.
            let rank = Arc::new(rank(&src, &attrs, local_asn, import.as_ref()));
            let mut shared: Option<Arc<PathAttributes>> = None;
            for p in reach.nlri.iter() {
                let facts = RouteFacts {
                    prefix: &p,
                    communities: &attrs.communities,
                };
                match policy::decide(import.as_ref(), src.ebgp, facts) {
                    Verdict::Accept { .. } => {
                        let attrs = shared
                            .get_or_insert_with(|| {
                                self.interner
                                    .intern(imported(&attrs, src.ebgp, import.as_ref()))
                            })
                            .clone();
                        let path = Path {
                            peer: id,
                            nexthop,
                            attrs: Learned { attrs, since },
                            rank: Arc::clone(&rank),
                            stale: false,
                        };
                        let new = !self.rib.has_path(&p, id);
                        if let Some(c) = self.rib.update(p, path) {
                            self.apply_change(c);
                        }
                        if new {
                            accepted += 1;
                        }
                        refused.remove(&p);
                    }
                    Verdict::Reject(_) => {
                        rejected += 1;
                        refused.insert(p);
                        if self.withdraw_path(p, id) {
                            accepted -= 1;
                        }
                    }
                }
            }
        }
        let eor = u.end_of_rib();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.accepted = accepted;
        peer.rejected = refused;
        peer.counters.prefixes_rejected += rejected;
        peer.counters.withdrawals_received += withdrawn;
        if let (Some(f), Some(up)) = (eor, peer.up.as_mut()) {
            if !up.end_of_rib.contains(&f) {
                up.end_of_rib.push(f);
            }
            let all = super::peer::FAMILIES
                .iter()
                .filter(|f| up.carries(**f))
                .all(|f| up.end_of_rib.contains(f));
            tracing::debug!(peer = %peer.spec.name, family = %f, "End-of-RIB received");
            if peer.restart.stale_until.is_some() {
                // Each family's stale routes go at its own End-of-RIB.
                self.sweep_stale_family(id, f, "End-of-RIB");
                if all {
                    self.sweep_stale(id, "End-of-RIB");
                }
            }
            self.fib.end_of_rib_seen(id);
            if all && !self.fib.config().install {
                // The table is loaded; with a FIB, its writer trims once the
                // load is written instead (a trim here would come before
                // that and rate-limit the writer's).
                super::kernel::trim_heap();
            }
        }
    }

    /// Loop and sanity checks on a received path (RFC 4271 §9.1.2,
    /// RFC 4456 §8).
    fn sane(
        &self,
        src: &Source,
        attrs: &PathAttributes,
        local_asn: u32,
        router_id: Ipv4Addr,
    ) -> Option<()> {
        if src.ebgp {
            if attrs.as_path.contains(local_asn) {
                return None;
            }
            // RFC 4271 §6.3 / RFC 7606 §7.2: an external peer's path starts
            // with its own AS.
            if attrs.as_path.first_asn() != Some(src.peer_asn) {
                return None;
            }
        } else {
            if attrs.originator_id == Some(router_id) {
                return None;
            }
            if attrs.cluster_list.contains(&router_id) {
                return None;
            }
        }
        Some(())
    }

    /// Removes `id`'s path for `prefix`; true if it had one.
    pub(super) fn withdraw_path(&mut self, prefix: IpNet, id: PeerId) -> bool {
        if !self.rib.has_path(&prefix, id) {
            return false;
        }
        if let Some(c) = self.rib.withdraw(prefix, id) {
            self.apply_change(c);
        }
        true
    }

    pub(super) fn apply_changes(&mut self, changes: Vec<Change<Learned>>) {
        for c in changes {
            self.apply_change(c);
        }
    }

    /// One Loc-RIB change: to the kernel batch and to the export set.
    pub(super) fn apply_change(&mut self, c: Change<Learned>) {
        match c {
            Change::Best {
                prefix,
                attrs,
                peer,
                nexthops,
            } => {
                let want = if peer == LOCAL {
                    Want::Nothing
                } else {
                    Want::Route(crate::fib::nexthops(&nexthops, |g| {
                        self.gw_ifindex.get(g).copied()
                    }))
                };
                self.fib.set(prefix, want);
                self.dirty.insert(prefix, Some((peer, attrs.attrs)));
            }
            Change::Gone { prefix } => {
                self.fib.set(prefix, Want::Nothing);
                self.dirty.insert(prefix, None);
            }
        }
    }
}

pub(super) fn family(p: &IpNet) -> AfiSafi {
    match p {
        IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

/// The gateway to install, and the link for a link-local one. A usable
/// global IPv6 next hop is preferred; a link-local one needs the session's
/// link.
fn next_hop(nh: NextHop, src: &Source) -> Option<(IpAddr, Option<u32>)> {
    match nh {
        NextHop::V4(a) if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => None,
        NextHop::V4(a) => Some((IpAddr::V4(a), None)),
        NextHop::V6 { global, link_local } => {
            if !global.is_unspecified() && !is_link_local(&global) && !global.is_multicast() {
                Some((IpAddr::V6(global), None))
            } else {
                let ll = link_local
                    .filter(is_link_local)
                    .or(Some(global).filter(is_link_local))?;
                // A link-local next hop from a multihop session is useless.
                let ifindex = src.ifindex?;
                let _ = src.address;
                Some((IpAddr::V6(ll), Some(ifindex)))
            }
        }
    }
}

/// The attribute set stored for an accepted route: import policy's
/// LOCAL_PREF and communities applied, LOCAL_PREF defaulted for eBGP.
fn imported(attrs: &PathAttributes, ebgp: bool, import: Option<&Policy>) -> PathAttributes {
    let mut a = attrs.clone();
    let lp = import.and_then(|p| p.local_pref);
    a.local_pref = match (lp, ebgp) {
        (Some(lp), _) => Some(lp),
        (None, true) => Some(100),
        (None, false) => attrs.local_pref,
    };
    if let Some(p) = import {
        for c in &p.add_communities {
            if !a.communities.contains(c) {
                a.communities.push(*c);
            }
        }
    }
    a
}

/// What best-path selection compares (RFC 4271 §9.1.2.2).
fn rank(src: &Source, attrs: &PathAttributes, local_asn: u32, import: Option<&Policy>) -> Rank {
    let local_pref = import
        .and_then(|p| p.local_pref)
        .or(if src.ebgp { None } else { attrs.local_pref })
        .unwrap_or(100);
    Rank {
        local_pref,
        as_path_len: u32::try_from(attrs.as_path.route_len()).unwrap_or(u32::MAX),
        origin: match attrs.origin {
            Some(Origin::Igp) | None => rib::Origin::Igp,
            Some(Origin::Egp) => rib::Origin::Egp,
            Some(Origin::Incomplete) => rib::Origin::Incomplete,
        },
        med: attrs.med.unwrap_or(0),
        neighbor_as: attrs.as_path.first_asn().unwrap_or(local_asn),
        ebgp: src.ebgp,
        igp_cost: 0,
        router_id: u32::from(attrs.originator_id.unwrap_or(src.peer_id)),
        cluster_len: u32::try_from(attrs.cluster_list.len()).unwrap_or(u32::MAX),
        peer_addr: src.address,
    }
}

/// The rank of a route we originate: above anything learned.
pub(super) fn local_rank(local_asn: u32, router_id: Ipv4Addr) -> Rank {
    Rank {
        local_pref: u32::MAX,
        as_path_len: 0,
        origin: rib::Origin::Igp,
        med: 0,
        neighbor_as: local_asn,
        ebgp: false,
        igp_cost: 0,
        router_id: u32::from(router_id),
        cluster_len: 0,
        peer_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}
