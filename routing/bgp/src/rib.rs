//! The Loc-RIB: every path each peer gave for each prefix, the best one by
//! RFC 4271 §9.1.2.2, and the multipath (ECMP) set the FIB gets.
//!
//! Generic over the path attributes `A` (the codec's interned attribute
//! set, shared by the thousands of prefixes of one UPDATE): selection looks
//! only at the [`Rank`] the caller derived from them, so the rules are
//! tested here without a wire format.
//!
//! Selection is the RFC's elimination, in order: highest degree of
//! preference (LOCAL_PREF), shortest AS_PATH, lowest ORIGIN, lowest MED
//! among paths from the same neighbouring AS, eBGP over iBGP, lowest IGP
//! cost to the next hop, then the tie-breakers (lowest BGP Identifier or
//! ORIGINATOR_ID, shortest CLUSTER_LIST, lowest peer address). The paths
//! still in the running before the tie-breakers, from the best path's
//! neighbouring AS, are the multipath set (up to the configured width).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// A peer, as the caller numbers them.
pub type PeerId = u32;

/// ORIGIN (RFC 4271 §5.1.1), lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Origin {
    /// Learned from an IGP.
    #[default]
    Igp,
    /// Learned from EGP.
    Egp,
    /// Learned some other way.
    Incomplete,
}

/// What selection compares, derived by the caller from a path's attributes
/// and its session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rank {
    /// Degree of preference: LOCAL_PREF (iBGP) or the local policy's value.
    pub local_pref: u32,
    /// AS_PATH length, an AS_SET counting as one (§9.1.2.2 a).
    pub as_path_len: u32,
    /// ORIGIN.
    pub origin: Origin,
    /// MULTI_EXIT_DISC, 0 when absent (§9.1.2.2 c).
    pub med: u32,
    /// The neighbouring AS: the first AS of the AS_PATH, or the local AS
    /// for a path with an empty one.
    pub neighbor_as: u32,
    /// Learned over eBGP.
    pub ebgp: bool,
    /// Interior cost to the next hop (0 for a directly connected one).
    pub igp_cost: u32,
    /// The peer's BGP Identifier, or the ORIGINATOR_ID when present.
    pub router_id: u32,
    /// CLUSTER_LIST length (RFC 4456 §9).
    pub cluster_len: u32,
    /// The peer's address.
    pub peer_addr: IpAddr,
}

/// One path for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<A> {
    /// Who gave it.
    pub peer: PeerId,
    /// Where packets go.
    pub nexthop: IpAddr,
    /// Its attributes.
    pub attrs: A,
    /// What selection compares, shared: every prefix of one UPDATE has
    /// the same one, and 48 bytes copied into each path were half of the
    /// Loc-RIB's size.
    pub rank: Arc<Rank>,
    /// Kept across a graceful restart of its peer (RFC 4724 §4.2), to be
    /// swept unless the peer sends it again.
    pub stale: bool,
}

/// What changed for the FIB and for export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<A> {
    /// The prefix has a (new) best path, or its multipath set changed.
    Best {
        /// The prefix.
        prefix: IpNet,
        /// The best path's attributes (for export).
        attrs: A,
        /// Its peer.
        peer: PeerId,
        /// The next hops to install: the multipath set, best first.
        nexthops: Vec<IpAddr>,
    },
    /// The prefix has no path any more.
    Gone {
        /// The prefix.
        prefix: IpNet,
    },
}

/// A prefix's paths. What was last reported for it is not stored: it is
/// always what selection gives for the paths as they are (every change of
/// the paths re-runs selection, and the stale mark does not take part in
/// it), so a change compares the selection before and after. Storing it
/// cost 32 bytes a prefix in the table (4 MB at 100k prefixes).
#[derive(Debug, Clone)]
struct Entry<A> {
    paths: Paths<A>,
}

/// A prefix's paths, a lone one (nearly every prefix with one peer) kept
/// in the table itself instead of in a heap block of its own.
#[derive(Debug, Clone)]
enum Paths<A> {
    One(Path<A>),
    /// None (only while the entry is made or emptied) or more than one.
    Many(Vec<Path<A>>),
}

impl<A> Paths<A> {
    fn as_slice(&self) -> &[Path<A>] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Path<A>] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    fn push(&mut self, path: Path<A>) {
        match self {
            Paths::Many(v) if v.is_empty() => *self = Paths::One(path),
            Paths::Many(v) => v.push(path),
            Paths::One(_) => {
                if let Paths::One(first) = std::mem::replace(self, Paths::Many(Vec::new())) {
                    *self = Paths::Many(vec![first, path]);
                }
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&Path<A>) -> bool) {
        match self {
            Paths::One(p) => {
                if !keep(p) {
                    *self = Paths::Many(Vec::new());
                }
            }
            Paths::Many(v) => {
                v.retain(keep);
                if v.len() == 1
                    && let Some(last) = v.pop()
                {
                    *self = Paths::One(last);
                }
            }
        }
    }
}

impl<A> std::ops::Deref for Paths<A> {
    type Target = [Path<A>];

    fn deref(&self) -> &[Path<A>] {
        self.as_slice()
    }
}

impl<A> std::ops::DerefMut for Paths<A> {
    fn deref_mut(&mut self) -> &mut [Path<A>] {
        self.as_mut_slice()
    }
}

/// The next hops a selection reported, one of them (nearly every prefix)
/// without a heap block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hops {
    One(IpAddr),
    Many(Box<[IpAddr]>),
}

impl Hops {
    #[cfg(test)]
    fn of(hops: &[IpAddr]) -> Hops {
        match hops {
            [one] => Hops::One(*one),
            many => Hops::Many(many.into()),
        }
    }

    fn is(&self, hops: &[IpAddr]) -> bool {
        match self {
            Hops::One(one) => hops == [*one],
            Hops::Many(many) => **many == *hops,
        }
    }
}

/// The Loc-RIB.
#[derive(Debug, Clone)]
pub struct Rib<A> {
    entries: HashMap<IpNet, Entry<A>>,
    multipath: usize,
}

impl<A: Clone> Rib<A> {
    /// An empty RIB installing up to `multipath` equal paths per prefix
    /// (1: no ECMP).
    pub fn new(multipath: usize) -> Rib<A> {
        Rib {
            entries: HashMap::new(),
            multipath: multipath.max(1),
        }
    }

    /// Prefixes with at least one path.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the RIB is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The paths of `prefix`, best first.
    pub fn paths(&self, prefix: &IpNet) -> Vec<&Path<A>> {
        let Some(entry) = self.entries.get(prefix) else {
            return Vec::new();
        };
        let order = ranked(&entry.paths);
        order.iter().map(|&i| &entry.paths[i]).collect()
    }

    /// Every prefix with its best path and multipath next hops.
    pub fn best_paths(&self) -> impl Iterator<Item = (&IpNet, &Path<A>, Vec<IpAddr>)> {
        self.entries.iter().filter_map(|(prefix, e)| {
            let (best, hops) = select(&e.paths, self.multipath)?;
            Some((prefix, &e.paths[best], hops))
        })
    }

    /// The best path of `prefix` and its multipath next hops.
    pub fn best(&self, prefix: &IpNet) -> Option<(&Path<A>, Vec<IpAddr>)> {
        let e = self.entries.get(prefix)?;
        let (best, hops) = select(&e.paths, self.multipath)?;
        Some((&e.paths[best], hops))
    }

    /// Whether `peer` has a path for `prefix` (a daemon counting each
    /// peer's accepted prefixes, for max-prefix, needs to know whether an
    /// update adds one).
    pub fn has_path(&self, prefix: &IpNet, peer: PeerId) -> bool {
        self.entries
            .get(prefix)
            .is_some_and(|e| e.paths.iter().any(|p| p.peer == peer))
    }

    /// Every path `peer` gave, with its prefix: its Adj-RIB-In after import
    /// policy, for re-judging it when the policy changes.
    pub fn peer_paths(&self, peer: PeerId) -> impl Iterator<Item = (&IpNet, &Path<A>)> {
        self.entries
            .iter()
            .filter_map(move |(prefix, e)| Some((prefix, e.paths.iter().find(|p| p.peer == peer)?)))
    }

    /// A path from `path.peer` for `prefix`, replacing the peer's previous one.
    pub fn update(&mut self, prefix: IpNet, path: Path<A>) -> Option<Change<A>> {
        let peer = path.peer;
        let entry = self.entries.entry(prefix).or_insert_with(|| Entry {
            paths: Paths::Many(Vec::new()),
        });
        let before = reported(&entry.paths, self.multipath);
        match entry.paths.iter_mut().find(|p| p.peer == path.peer) {
            Some(old) => *old = path,
            None => entry.paths.push(path),
        }
        reselect(prefix, entry, self.multipath, Some(peer), before)
    }

    /// `peer` no longer has a path for `prefix`.
    pub fn withdraw(&mut self, prefix: IpNet, peer: PeerId) -> Option<Change<A>> {
        let entry = self.entries.get_mut(&prefix)?;
        if !entry.paths.iter().any(|p| p.peer == peer) {
            return None;
        }
        let before = reported(&entry.paths, self.multipath);
        entry.paths.retain(|p| p.peer != peer);
        let change = reselect(prefix, entry, self.multipath, None, before);
        if entry.paths.is_empty() {
            self.entries.remove(&prefix);
        }
        change
    }

    /// Every path of `peer` is gone (its session went down).
    pub fn drop_peer(&mut self, peer: PeerId) -> Vec<Change<A>> {
        self.remove_where(|p| p.peer == peer)
    }

    /// Marks `peer`'s paths stale (it restarts gracefully): they stay in use
    /// until [`Rib::sweep_stale`] or until the peer sends them again.
    pub fn mark_stale(&mut self, peer: PeerId) -> usize {
        let mut n = 0;
        for e in self.entries.values_mut() {
            for p in e.paths.iter_mut().filter(|p| p.peer == peer) {
                p.stale = true;
                n += 1;
            }
        }
        n
    }

    /// Removes `peer`'s paths that are still stale (its End-of-RIB came, or
    /// the stale-path time ran out).
    pub fn sweep_stale(&mut self, peer: PeerId) -> Vec<Change<A>> {
        self.remove_where(|p| p.peer == peer && p.stale)
    }

    fn remove_where(&mut self, gone: impl Fn(&Path<A>) -> bool) -> Vec<Change<A>> {
        let mut changes = Vec::new();
        let multipath = self.multipath;
        self.entries.retain(|prefix, entry| {
            if !entry.paths.iter().any(&gone) {
                return true;
            }
            let before = reported(&entry.paths, multipath);
            entry.paths.retain(|p| !gone(p));
            if let Some(c) = reselect(*prefix, entry, multipath, None, before) {
                changes.push(c);
            }
            !entry.paths.is_empty()
        });
        changes
    }
}

/// Re-runs selection for one prefix after `touched` changed its path.
/// Reports a change when the best path's peer or the installed next hops
/// moved, or when the best path itself was replaced (its attributes may be
/// new, which export needs); a change to a losing path is silent.
/// `before` is what selection gave before the change.
fn reselect<A: Clone>(
    prefix: IpNet,
    entry: &Entry<A>,
    multipath: usize,
    touched: Option<PeerId>,
    before: Option<(PeerId, Hops)>,
) -> Option<Change<A>> {
    match select(&entry.paths, multipath) {
        None => before.map(|_| Change::Gone { prefix }),
        Some((best, nexthops)) => {
            let path = &entry.paths[best];
            let same = before
                .as_ref()
                .is_some_and(|(peer, hops)| *peer == path.peer && hops.is(&nexthops));
            if same && touched != Some(path.peer) {
                return None;
            }
            Some(Change::Best {
                prefix,
                attrs: path.attrs.clone(),
                peer: path.peer,
                nexthops,
            })
        }
    }
}

/// What selection reports for `paths`: the best path's peer and the
/// next hops. A lone path (nearly every prefix) needs no allocation.
fn reported<A>(paths: &[Path<A>], multipath: usize) -> Option<(PeerId, Hops)> {
    if let [one] = paths {
        return Some((one.peer, Hops::One(one.nexthop)));
    }
    let (best, nexthops) = select(paths, multipath)?;
    let hops = match nexthops.as_slice() {
        [one] => Hops::One(*one),
        _ => Hops::Many(nexthops.into_boxed_slice()),
    };
    Some((paths[best].peer, hops))
}

/// The §9.1.2.2 elimination up to (not including) the tie-breakers: the
/// indices of the paths still in the running.
fn candidates<A>(paths: &[Path<A>]) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..paths.len()).collect();
    let rank = |i: usize| &paths[i].rank;
    // Highest degree of preference.
    if let Some(best) = keep.iter().map(|&i| rank(i).local_pref).max() {
        keep.retain(|&i| rank(i).local_pref == best);
    }
    // a) shortest AS_PATH.
    if let Some(best) = keep.iter().map(|&i| rank(i).as_path_len).min() {
        keep.retain(|&i| rank(i).as_path_len == best);
    }
    // b) lowest ORIGIN.
    if let Some(best) = keep.iter().map(|&i| rank(i).origin).min() {
        keep.retain(|&i| rank(i).origin == best);
    }
    // c) MED, only between paths from the same neighbouring AS.
    let survivors = keep.clone();
    keep.retain(|&i| {
        !survivors
            .iter()
            .any(|&j| rank(j).neighbor_as == rank(i).neighbor_as && rank(j).med < rank(i).med)
    });
    // d) eBGP over iBGP.
    if keep.iter().any(|&i| rank(i).ebgp) {
        keep.retain(|&i| rank(i).ebgp);
    }
    // e) lowest interior cost to the next hop.
    if let Some(best) = keep.iter().map(|&i| rank(i).igp_cost).min() {
        keep.retain(|&i| rank(i).igp_cost == best);
    }
    keep
}

/// The tie-breakers (f, and RFC 4456 §9's CLUSTER_LIST, g): a total order.
fn tie_break<A>(paths: &[Path<A>], a: usize, b: usize) -> std::cmp::Ordering {
    let (x, y) = (&paths[a].rank, &paths[b].rank);
    x.router_id
        .cmp(&y.router_id)
        .then(x.cluster_len.cmp(&y.cluster_len))
        .then(x.peer_addr.cmp(&y.peer_addr))
}

/// The best path's index and the multipath next hops (best first).
fn select<A>(paths: &[Path<A>], multipath: usize) -> Option<(usize, Vec<IpAddr>)> {
    let mut keep = candidates(paths);
    keep.sort_by(|&a, &b| tie_break(paths, a, b));
    let best = *keep.first()?;
    let neighbor_as = paths[best].rank.neighbor_as;
    let mut nexthops: Vec<IpAddr> = Vec::with_capacity(keep.len().min(multipath));
    for &i in &keep {
        let p = &paths[i];
        if p.rank.neighbor_as == neighbor_as
            && !nexthops.contains(&p.nexthop)
            && nexthops.len() < multipath
        {
            nexthops.push(p.nexthop);
        }
    }
    Some((best, nexthops))
}

/// Every path in selection order (for display): the candidates by the
/// tie-breakers, then the rest.
fn ranked<A>(paths: &[Path<A>]) -> Vec<usize> {
    let mut keep = candidates(paths);
    keep.sort_by(|&a, &b| tie_break(paths, a, b));
    let mut rest: Vec<usize> = (0..paths.len()).filter(|i| !keep.contains(i)).collect();
    rest.sort_by(|&a, &b| tie_break(paths, a, b));
    keep.extend(rest);
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(peer: u8) -> Rank {
        Rank {
            local_pref: 100,
            as_path_len: 2,
            origin: Origin::Igp,
            med: 0,
            neighbor_as: 65001,
            ebgp: true,
            igp_cost: 0,
            router_id: u32::from(peer),
            cluster_len: 0,
            peer_addr: IpAddr::from([192, 0, 2, peer]),
        }
    }

    fn path(peer: u8, tweak: impl FnOnce(&mut Rank)) -> Path<&'static str> {
        let mut r = rank(peer);
        tweak(&mut r);
        Path {
            peer: u32::from(peer),
            nexthop: IpAddr::from([192, 0, 2, peer]),
            attrs: "attrs",
            rank: Arc::new(r),
            stale: false,
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn best_peer(rib: &Rib<&'static str>, p: &str) -> Option<PeerId> {
        rib.paths(&net(p)).first().map(|p| p.peer)
    }

    #[test]
    fn a_lone_path_lives_in_the_table_and_paths_stay_small() {
        // The Loc-RIB's size per prefix: what the table holds inline.
        assert!(std::mem::size_of::<Path<(std::sync::Arc<()>, u32)>>() <= 48);
        assert!(
            std::mem::size_of::<Entry<(std::sync::Arc<()>, u32)>>()
                <= std::mem::size_of::<Path<(std::sync::Arc<()>, u32)>>()
        );
        let mut rib = Rib::new(1);
        rib.update(net("10.0.0.0/24"), path(1, |_| {}));
        rib.update(net("10.0.0.0/24"), path(2, |_| {}));
        rib.withdraw(net("10.0.0.0/24"), 1);
        assert!(matches!(
            rib.entries.get(&net("10.0.0.0/24")).map(|e| &e.paths),
            Some(Paths::One(p)) if p.peer == 2
        ));
        assert_eq!(best_peer(&rib, "10.0.0.0/24"), Some(2));
    }

    #[test]
    fn each_rule_of_rfc_4271_decides_in_its_turn() {
        let p = "10.0.0.0/8";
        let cases: Vec<(&str, Path<&str>, Path<&str>)> = vec![
            (
                "local pref",
                path(1, |r| r.local_pref = 200),
                path(2, |_| {}),
            ),
            ("as path", path(2, |r| r.as_path_len = 3), path(1, |_| {})),
            (
                "origin",
                path(2, |r| r.origin = Origin::Incomplete),
                path(1, |_| {}),
            ),
            (
                "med, same AS",
                path(2, |r| r.med = 10),
                path(1, |r| r.med = 5),
            ),
            (
                "ebgp over ibgp",
                path(1, |_| {}),
                path(2, |r| r.ebgp = false),
            ),
            ("igp cost", path(2, |r| r.igp_cost = 5), path(1, |_| {})),
            ("router id", path(1, |_| {}), path(2, |_| {})),
        ];
        for (rule, a, b) in cases {
            let mut rib = Rib::new(1);
            let want = if rule == "local pref" || rule == "ebgp over ibgp" || rule == "router id" {
                a.peer
            } else {
                b.peer
            };
            rib.update(net(p), a);
            rib.update(net(p), b);
            assert_eq!(best_peer(&rib, p), Some(want), "{rule}");
        }
    }

    #[test]
    fn med_is_compared_only_within_one_neighbouring_as() {
        let mut rib = Rib::new(1);
        let p = net("10.0.0.0/8");
        // Peer 2's MED is higher, but it comes from another AS: the
        // router id decides (peer 1 lower), not the MED.
        rib.update(
            p,
            path(2, |r| {
                r.med = 50;
                r.neighbor_as = 65002;
            }),
        );
        rib.update(p, path(1, |r| r.med = 100));
        assert_eq!(best_peer(&rib, "10.0.0.0/8"), Some(1));
    }

    #[test]
    fn equal_paths_from_one_as_make_a_multipath_set_and_a_withdrawal_shrinks_it() {
        let mut rib = Rib::new(4);
        let p = net("10.1.0.0/16");
        rib.update(p, path(1, |_| {}));
        let c = rib.update(p, path(2, |_| {}));
        let Some(Change::Best { nexthops, peer, .. }) = c else {
            panic!("a change: {c:?}");
        };
        assert_eq!(peer, 1);
        assert_eq!(nexthops.len(), 2, "both peers' next hops");
        // A third from another AS is not mixed in.
        rib.update(p, path(3, |r| r.neighbor_as = 65003));
        assert_eq!(rib.best_paths().next().map(|(_, _, h)| h.len()), Some(2));
        let c = rib.withdraw(p, 1);
        let Some(Change::Best { peer, nexthops, .. }) = c else {
            panic!("{c:?}");
        };
        assert_eq!((peer, nexthops.len()), (2, 1));
        assert_eq!(
            rib.withdraw(p, 9),
            None,
            "a peer without a path changes nothing"
        );
        rib.withdraw(p, 2);
        assert_eq!(rib.withdraw(p, 3), Some(Change::Gone { prefix: p }));
        assert!(rib.is_empty());
    }

    #[test]
    fn only_changes_that_matter_are_reported() {
        let mut rib = Rib::new(1);
        let p = net("10.3.0.0/16");
        assert!(rib.update(p, path(1, |_| {})).is_some(), "first path");
        // A worse path from another peer: nothing to install or export.
        assert_eq!(rib.update(p, path(2, |r| r.as_path_len = 5)), None);
        // The best path again (new attributes, maybe): reported.
        assert!(rib.update(p, path(1, |r| r.med = 7)).is_some());
        // The losing path goes: silent.
        assert_eq!(rib.withdraw(p, 2), None);
    }

    #[test]
    fn a_dropped_peer_takes_all_its_paths_and_others_take_over() {
        let mut rib = Rib::new(1);
        for i in 0..100u32 {
            let p = IpNet::new(IpAddr::from([10, 0, (i & 0xff) as u8, 0]), 24).expect("net");
            rib.update(p, path(1, |_| {}));
            if i % 2 == 0 {
                rib.update(p, path(2, |_| {}));
            }
        }
        let changes = rib.drop_peer(1);
        let gone = changes
            .iter()
            .filter(|c| matches!(c, Change::Gone { .. }))
            .count();
        let moved = changes
            .iter()
            .filter(|c| matches!(c, Change::Best { peer: 2, .. }))
            .count();
        assert_eq!((gone, moved), (50, 50));
        assert_eq!(rib.len(), 50);
    }

    #[test]
    fn stale_paths_stay_until_swept_unless_refreshed() {
        let mut rib = Rib::new(1);
        let (a, b) = (net("10.1.0.0/16"), net("10.2.0.0/16"));
        rib.update(a, path(1, |_| {}));
        rib.update(b, path(1, |_| {}));
        assert_eq!(rib.mark_stale(1), 2);
        // The restarted peer sends `a` again: fresh; `b` never comes back.
        rib.update(a, path(1, |_| {}));
        let swept = rib.sweep_stale(1);
        assert_eq!(swept, vec![Change::Gone { prefix: b }]);
        assert_eq!(rib.len(), 1);
    }

    #[test]
    fn the_reported_next_hops_compare_by_value_one_or_many() {
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        assert_eq!(Hops::of(&[a]), Hops::One(a));
        assert!(Hops::of(&[a]).is(&[a]));
        assert!(!Hops::of(&[a]).is(&[b]));
        assert!(!Hops::of(&[a]).is(&[a, b]));
        assert!(Hops::of(&[a, b]).is(&[a, b]));
        assert!(!Hops::of(&[a, b]).is(&[b, a]), "best first: order counts");
        assert!(!Hops::of(&[a, b]).is(&[a]));
    }

    #[test]
    fn changes_are_judged_against_the_selection_before_them() {
        let mut rib = Rib::new(2);
        let p = net("10.4.0.0/16");
        assert!(rib.update(p, path(1, |_| {})).is_some());
        // An equal path from the same AS joins the multipath set: reported
        // with both next hops, though the best path's peer did not change.
        match rib.update(p, path(2, |_| {})) {
            Some(Change::Best { peer, nexthops, .. }) => {
                assert_eq!(peer, 1);
                assert_eq!(nexthops.len(), 2, "{nexthops:?}");
            }
            other => panic!("expected the set of two: {other:?}"),
        }
        // A third, worse path: the set stays, silent.
        assert_eq!(rib.update(p, path(3, |r| r.as_path_len = 9)), None);
        // Stale marks take no part in selection: sweeping peer 2's stale
        // path shrinks the set, and that is reported.
        assert_eq!(rib.mark_stale(2), 1);
        let swept = rib.sweep_stale(2);
        assert!(
            matches!(swept.as_slice(), [Change::Best { nexthops, .. }] if nexthops.len() == 1),
            "{swept:?}"
        );
        // Dropping the best path's peer hands over to the worse one.
        let dropped = rib.drop_peer(1);
        assert!(
            matches!(dropped.as_slice(), [Change::Best { peer: 3, .. }]),
            "{dropped:?}"
        );
        // And the last path's withdrawal empties the prefix.
        assert_eq!(rib.withdraw(p, 3), Some(Change::Gone { prefix: p }));
        assert!(rib.is_empty());
        assert_eq!(rib.withdraw(p, 3), None, "nothing left to withdraw");
    }
}
