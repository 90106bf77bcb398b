//! From Loc-RIB changes to UPDATEs: per Established peer, what it should
//! hear (split horizon, iBGP and route reflection rules, RFC 1997
//! well-known communities, export policy, next hop self and AS_PATH
//! prepending for eBGP), compared with its Adj-RIB-Out, and the
//! differences packed into as few UPDATEs as fit.
//!
//! The transformation of an attribute set depends only on the set, where
//! it came from and the family, so it is worked out once per flush and
//! shared by every prefix that carries it; only the policy's prefix test
//! runs per prefix.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use routerd_bgp_core::policy::{self, Policy, RouteFacts, Verdict};
use routerd_bgp_core::wire::{AfiSafi, AsPath, AttrInterner, NextHop, PathAttributes};

use super::conn::PeerId;
use super::import::family;
use super::peer::{Peer, Up};
use super::{LOCAL, Speaker};

/// What export needs to know about where a route came from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    ebgp: bool,
    rr_client: bool,
    bgp_id: Ipv4Addr,
}

/// The speaker-wide facts export uses.
struct Ctx {
    local_asn: u32,
    router_id: Ipv4Addr,
    origins: HashMap<PeerId, Origin>,
}

/// A prefix's best path for export: its peer and attributes.
type BestRoute = (PeerId, Arc<PathAttributes>);

/// Per peer and flush: transformed attribute sets by (source set, source
/// peer, family).
type Memo = HashMap<(usize, PeerId, bool), Option<Arc<PathAttributes>>>;

impl Speaker {
    fn export_ctx(&self) -> Ctx {
        Ctx {
            local_asn: self.spec.asn,
            router_id: self.spec.router_id,
            origins: self
                .peers
                .values()
                .map(|p| {
                    (
                        p.id,
                        Origin {
                            ebgp: p.ebgp(self.spec.asn),
                            rr_client: p.spec.route_reflector_client,
                            bgp_id: p.up.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |u| u.peer_id),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Sends every Loc-RIB change since the last flush to every
    /// Established peer.
    pub(super) fn flush_exports(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let ctx = self.export_ctx();
        for peer in self.peers.values_mut() {
            if peer.up.is_none() || peer.conn.is_none() {
                continue;
            }
            let items = dirty.iter().map(|(p, b)| (*p, b.as_ref()));
            export_to(&ctx, peer, &mut self.interner, items);
        }
    }

    /// Sends a peer whose session just came up (or whose export policy
    /// changed) the whole Loc-RIB as it should see it.
    pub(super) fn advertise_all(&mut self, id: PeerId) {
        let ctx = self.export_ctx();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.up.is_none() {
            return;
        }
        let best: Vec<(IpNet, Option<BestRoute>)> = self
            .rib
            .best_paths()
            .map(|(p, path, _)| (*p, Some((path.peer, Arc::clone(&path.attrs.attrs)))))
            .collect();
        // Prefixes it was sent that have no path any more (an export
        // policy change after a withdrawal raced it) are withdrawn too.
        let mut items: Vec<(IpNet, Option<&BestRoute>)> =
            best.iter().map(|(p, b)| (*p, b.as_ref())).collect();
        let gone: Vec<IpNet> = peer
            .adj_out
            .keys()
            .filter(|p| self.rib.best(p).is_none())
            .copied()
            .collect();
        items.extend(gone.into_iter().map(|p| (p, None)));
        export_to(&ctx, peer, &mut self.interner, items.into_iter());
    }

    /// Resends a family of a peer's Adj-RIB-Out as it is (route refresh).
    pub(super) fn resend_adj_out(&mut self, id: PeerId, f: AfiSafi) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let (Some(up), Some(conn)) = (peer.up.as_mut(), &peer.conn) else {
            return;
        };
        let mut out = Outbox::default();
        for (p, a) in peer.adj_out.iter().filter(|(p, _)| family(p) == f) {
            out.announce(*p, a);
        }
        let mut buf = Vec::new();
        let sent = out.encode(up, &peer.spec.name, &mut buf);
        peer.counters.updates_sent += sent as u64;
        conn.send(buf);
    }
}

/// Exports `items` (prefix, new best) to one peer.
fn export_to<'a>(
    ctx: &Ctx,
    peer: &mut Peer,
    interner: &mut AttrInterner,
    items: impl Iterator<Item = (IpNet, Option<&'a BestRoute>)>,
) {
    let Some(up) = peer.up.as_ref() else {
        return;
    };
    let mut memo: Memo = HashMap::new();
    let mut out = Outbox::default();
    for (prefix, best) in items {
        let f = family(&prefix);
        if !up.carries(f) {
            continue;
        }
        let want = best.and_then(|(from, attrs)| {
            let facts = RouteFacts {
                prefix: &prefix,
                communities: &attrs.communities,
            };
            if *from == peer.id {
                return None;
            }
            match policy::decide(peer.export.as_ref(), up.ebgp, facts) {
                Verdict::Accept { .. } => {}
                Verdict::Reject(_) => return None,
            }
            let key = (
                Arc::as_ptr(attrs) as usize,
                *from,
                f == AfiSafi::IPV6_UNICAST,
            );
            let to = Target {
                up,
                rr_client: peer.spec.route_reflector_client,
                export: peer.export.as_ref(),
            };
            memo.entry(key)
                .or_insert_with(|| transform(ctx, &to, *from, attrs, f).map(|a| interner.intern(a)))
                .clone()
        });
        match (want, peer.adj_out.get(&prefix)) {
            (Some(new), Some(old)) if Arc::ptr_eq(&new, old) || new == *old => {}
            (Some(new), _) => {
                out.announce(prefix, &new);
                peer.adj_out.insert(prefix, new);
            }
            (None, Some(_)) => {
                out.withdraw(prefix);
                peer.adj_out.remove(&prefix);
            }
            (None, None) => {}
        }
    }
    if out.is_empty() {
        return;
    }
    let (Some(up), Some(conn)) = (peer.up.as_mut(), &peer.conn) else {
        return;
    };
    let mut buf = Vec::new();
    let sent = out.encode(up, &peer.spec.name, &mut buf);
    peer.counters.updates_sent += sent as u64;
    conn.send(buf);
}

/// The peer a route is exported to.
struct Target<'a> {
    up: &'a Up,
    rr_client: bool,
    export: Option<&'a Policy>,
}

/// The attribute set `to` should receive for a route from `from`, before
/// the policy's prefix test; `None` when it must not hear it at all.
fn transform(
    ctx: &Ctx,
    to: &Target<'_>,
    from: PeerId,
    attrs: &PathAttributes,
    f: AfiSafi,
) -> Option<PathAttributes> {
    let up = to.up;
    if !policy::may_advertise(&attrs.communities, up.ebgp) {
        return None;
    }
    let source = ctx.origins.get(&from).copied();
    let from_ibgp = from != LOCAL && source.is_some_and(|s| !s.ebgp);
    let reflect = !up.ebgp && from_ibgp;
    if reflect && !(to.rr_client || source.is_some_and(|s| s.rr_client)) {
        // RFC 4271 §9.2: iBGP routes go to no other iBGP peer, unless
        // reflected (RFC 4456 §6).
        return None;
    }
    let self_hop = match f {
        AfiSafi::IPV6_UNICAST => up.next_hop_v6,
        _ => up.next_hop_v4,
    };
    let mut a = attrs.clone();
    if up.ebgp {
        // Standby prepends of our own routes are kept: eBGP is who they
        // are for.
        a.as_path.prepend(ctx.local_asn, 1);
        if from != LOCAL {
            // A MED learned from one neighbouring AS is not passed to
            // another (RFC 4271 §5.1.4).
            a.med = None;
        }
        let fits = matches!(
            (a.next_hop, f),
            (Some(NextHop::V4(_)), AfiSafi::IPV4_UNICAST)
                | (Some(NextHop::V6 { .. }), AfiSafi::IPV6_UNICAST)
        );
        // Next hop self, except a configured next hop of our own route.
        if from != LOCAL || !fits {
            a.next_hop = self_hop;
        }
        a.local_pref = None;
        a.originator_id = None;
        a.cluster_list.clear();
    } else {
        a.local_pref = Some(a.local_pref.unwrap_or(100));
        if from == LOCAL {
            // Our own AS in an iBGP path would read as a loop: the standby
            // prepends are for eBGP only.
            a.as_path = AsPath::new();
            // A configured next hop of the other family is no next hop.
            let fits = matches!(
                (a.next_hop, f),
                (Some(NextHop::V4(_)), AfiSafi::IPV4_UNICAST)
                    | (Some(NextHop::V6 { .. }), AfiSafi::IPV6_UNICAST)
            );
            if !fits {
                a.next_hop = self_hop;
            }
        }
        if reflect {
            if let Some(s) = source {
                a.originator_id.get_or_insert(s.bgp_id);
            }
            a.cluster_list.insert(0, ctx.router_id);
        }
    }
    if from == LOCAL && a.next_hop.is_none() {
        a.next_hop = self_hop;
    }
    a.next_hop?;
    if let Some(p) = to.export {
        if !up.ebgp
            && let Some(lp) = p.local_pref
        {
            a.local_pref = Some(lp);
        }
        for c in &p.add_communities {
            if !a.communities.contains(c) {
                a.communities.push(*c);
            }
        }
    }
    Some(a)
}

/// The prefixes sharing one attribute set.
struct Group {
    attrs: Arc<PathAttributes>,
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

/// Announcements and withdrawals for one peer, grouped for packing.
#[derive(Default)]
struct Outbox {
    /// By attribute set (its address: sets are interned).
    announce: HashMap<usize, Group>,
    withdraw4: Vec<Ipv4Net>,
    withdraw6: Vec<Ipv6Net>,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw4.is_empty() && self.withdraw6.is_empty()
    }

    fn announce(&mut self, p: IpNet, a: &Arc<PathAttributes>) {
        let g = self
            .announce
            .entry(Arc::as_ptr(a) as usize)
            .or_insert_with(|| Group {
                attrs: Arc::clone(a),
                v4: Vec::new(),
                v6: Vec::new(),
            });
        match p {
            IpNet::V4(v4) => g.v4.push(v4),
            IpNet::V6(v6) => g.v6.push(v6),
        }
    }

    fn withdraw(&mut self, p: IpNet) {
        match p {
            IpNet::V4(v4) => self.withdraw4.push(v4),
            IpNet::V6(v6) => self.withdraw6.push(v6),
        }
    }

    /// Withdrawals first, then announcements; returns the UPDATEs written.
    fn encode(self, up: &mut Up, name: &str, buf: &mut Vec<u8>) -> usize {
        let mut n = up.encoder.withdraw(self.withdraw4, buf);
        n += up.encoder.withdraw(self.withdraw6, buf);
        for Group { attrs, v4, v6 } in self.announce.into_values() {
            let r4 = (!v4.is_empty()).then(|| up.encoder.announce(&attrs, v4, buf));
            let r6 = (!v6.is_empty()).then(|| up.encoder.announce(&attrs, v6, buf));
            for r in [r4, r6].into_iter().flatten() {
                match r {
                    Ok(k) => n += k,
                    Err(e) => tracing::warn!(peer = %name, error = %e, "cannot announce"),
                }
            }
        }
        n
    }
}
