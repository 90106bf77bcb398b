//! What the contract and `/v1/bgp/*` show: the daemon's phase and
//! counters, a summary line per peer, neighbour detail, and routes with
//! their attributes.

use std::sync::atomic::Ordering;
use std::time::Instant;

use routerd_bgp_core::fsm::State;
use routerd_bgp_core::rib::Path;
use routerd_bgp_core::wire::{NextHop, Origin, PathAttributes};
use routerd_contract::server::DaemonStatus;
use serde_json::{Value, json};

use super::peer::{Malformed, Peer};
use super::{LOCAL, Learned, RouteQuery, Speaker};

fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

fn secs(since: Instant) -> u64 {
    since.elapsed().as_secs()
}

impl Speaker {
    fn phase(&self) -> &'static str {
        let total = self.peers.len();
        let up = self
            .peers
            .values()
            .filter(|p| p.fsm.state() == State::Established)
            .count();
        match (total, up) {
            (0, _) => "Idle",
            (t, u) if t == u => "Established",
            (_, 0) => "Connecting",
            _ => "Degraded",
        }
    }

    fn malformed(&self) -> Malformed {
        let mut m = self.totals.malformed;
        for p in self.peers.values() {
            m.add(&p.counters.malformed);
        }
        m
    }

    pub(super) fn status(&self) -> DaemonStatus {
        let stats = &self.fib.stats;
        let updates_in: u64 = self
            .peers
            .values()
            .map(|p| p.counters.updates_received)
            .sum();
        let updates_out: u64 = self.peers.values().map(|p| p.counters.updates_sent).sum();
        let mut groups: Vec<Value> = self
            .grants
            .iter()
            .map(|(g, grant)| {
                json!({
                    "group": g,
                    "role": grant.role,
                    "epoch": grant.epoch,
                    "deadlineMonoNs": grant.deadline_mono_ns,
                    "remainingMs": grant.deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
                })
            })
            .collect();
        groups.sort_by(|a, b| a["group"].as_str().cmp(&b["group"].as_str()));
        let mut announced: Vec<Value> = self
            .announced
            .iter()
            .map(|(p, n)| json!({"prefix": p.to_string(), "prepend": n}))
            .collect();
        announced.sort_by(|a, b| a["prefix"].as_str().cmp(&b["prefix"].as_str()));
        let mut detail = json!({
                "name": self.spec.name,
                "asn": self.spec.asn,
                "routerId": self.spec.router_id.to_string(),
                "listen": self.spec.listen.as_ref().map(|l| l.socket_addr().to_string()),
                "counters": {
                    "peers": self.peers.len(),
                    "established": self.peers.values().filter(|p| p.fsm.state() == State::Established).count(),
                    "prefixes": self.rib.len(),
                    "attributeSets": self.interner.len(),
                    "updatesReceived": updates_in,
                    "updatesSent": updates_out,
                    "malformed": self.malformed(),
                    "sessionsRefused": self.totals.sessions_refused,
                    "fib": {
                        "install": self.fib.config().install,
                        "table": self.fib.config().table,
                        "batches": stats.batches.load(Ordering::Relaxed),
                        "written": stats.written.load(Ordering::Relaxed),
                        "failed": stats.failed.load(Ordering::Relaxed),
                        "lastBatchMs": stats.last_batch_ms.load(Ordering::Relaxed),
                        "pending": self.fib.pending(),
                        "previousRunKept": self.fib.leftovers(),
                        "lastError": stats.last_error.lock().ok().and_then(|e| e.clone()),
                    },
                },
                "grants": groups,
                "announced": announced,
                "peers": self.peers.values().map(summary_line).collect::<Vec<_>>(),
        });
        if let Some(o) = detail.as_object_mut() {
            o.extend(self.resources());
        }
        DaemonStatus {
            phase: self.phase().into(),
            detail,
        }
    }

    /// Best routes per family, and how many of them are learned (and so
    /// written to the kernel when the FIB is installed; our own are not).
    fn route_counts(&self) -> (usize, usize, usize) {
        let (mut v4, mut v6, mut learned) = (0, 0, 0);
        for (prefix, p, _) in self.rib.best_paths() {
            match prefix {
                ipnet::IpNet::V4(_) => v4 += 1,
                ipnet::IpNet::V6(_) => v6 += 1,
            }
            if p.peer != LOCAL {
                learned += 1;
            }
        }
        (v4, v6, learned)
    }

    /// `/v1/bgp/summary`, the shape `routerctl bgp summary` prints.
    pub(super) fn summary(&self) -> Value {
        let (v4, v6, learned) = self.route_counts();
        let fib = if self.fib.config().install {
            learned
        } else {
            0
        };
        json!({
            "routerId": self.spec.router_id.to_string(),
            "asn": self.spec.asn,
            "prefixes": self.rib.len(),
            "routes": {"ipv4": v4, "ipv6": v6},
            "fibRoutes": fib,
            "peers": self.peers.values().map(summary_line).collect::<Vec<_>>(),
        })
    }

    /// Status objects for the resources routerd reads as sub-resources of
    /// this daemon, keyed by resource id (`BGPPeer/x`, `BGPDynamicPeer/x`,
    /// `BFD/x`, `BGPAnnouncement/x`), each with its `phase`.
    fn resources(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        // A resource may stand for several sessions (one per address, or a
        // range's accepted peers): Established when all are, Degraded when
        // some are, else the least advanced state.
        let mut by_resource: std::collections::BTreeMap<String, Vec<&Peer>> = Default::default();
        for p in self.peers.values() {
            by_resource
                .entry(p.spec.resource.clone())
                .or_default()
                .push(p);
        }
        for (resource, peers) in &by_resource {
            let up = peers
                .iter()
                .filter(|p| p.fsm.state() == State::Established)
                .count();
            let phase = if up == peers.len() {
                "Established"
            } else if up > 0 {
                "Degraded"
            } else if peers.iter().any(|p| p.halted.is_some()) {
                "Halted"
            } else {
                "Connecting"
            };
            out.insert(
                resource.clone(),
                json!({
                    "phase": phase,
                    "sessions": peers.len(),
                    "established": up,
                    "prefixesAccepted": peers.iter().map(|p| p.accepted).sum::<usize>(),
                    "peers": peers.iter().map(|p| json!({
                        "address": p.spec.address.to_string(),
                        "state": state_name(p.fsm.state()),
                        "lastError": p.last_error,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        for d in &self.spec.dynamic_peers {
            if out.contains_key(&d.resource) {
                continue;
            }
            out.insert(
                d.resource.clone(),
                json!({"phase": "Listening", "sessions": 0, "established": 0,
                       "prefixes": d.prefixes.iter().map(ToString::to_string).collect::<Vec<_>>()}),
            );
        }
        // BFD resources: Up when every session they cover is.
        let mut bfd: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for p in self.peers.values() {
            if let Some(r) = p.spec.bfd.as_ref().and_then(|b| b.resource.clone()) {
                bfd.entry(r)
                    .or_default()
                    .push(p.bfd.as_ref().map_or("Down", |h| h.view().state.as_str()));
            }
        }
        for d in &self.spec.dynamic_peers {
            if let Some(r) = d.bfd.as_ref().and_then(|b| b.resource.clone()) {
                bfd.entry(r).or_default();
            }
        }
        for (resource, states) in bfd {
            let up = states.iter().filter(|s| **s == "Up").count();
            let phase = if !states.is_empty() && up == states.len() {
                "Up"
            } else if up > 0 {
                "Degraded"
            } else {
                "Down"
            };
            out.insert(
                resource,
                json!({"phase": phase, "sessions": states.len(), "up": up}),
            );
        }
        // A BGPAnnouncement may hold several prefixes: Announced when all
        // go out plainly, Withdrawn when none goes out, else what is mixed.
        // (Redistributed routes name their own resources, which routerd
        // does not read from here.)
        let mut ann: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
        for a in &self.spec.announce {
            if !a.resource.starts_with("BGPAnnouncement/") {
                continue;
            }
            let state = match self.announced.get(&a.prefix) {
                Some(0) => "Announced",
                Some(_) => "Prepended",
                None => "Withdrawn",
            };
            ann.entry(&a.resource).or_default().push(json!({
                "prefix": a.prefix.to_string(), "state": state, "group": a.group,
            }));
        }
        for (resource, prefixes) in ann {
            let all = |s: &str| prefixes.iter().all(|p| p["state"] == s);
            let phase = if all("Announced") {
                "Announced"
            } else if all("Withdrawn") {
                "Withdrawn"
            } else if all("Prepended") {
                "Prepended"
            } else {
                "Partial"
            };
            out.insert(
                resource.to_string(),
                json!({"phase": phase, "prefixes": prefixes}),
            );
        }
        out
    }

    pub(super) fn neighbors(&self) -> Value {
        let list: Vec<Value> = self.peers.values().map(neighbor).collect();
        json!({"neighbors": list})
    }

    /// `/v1/bgp/routes`: per prefix, every path (best first), the shape
    /// `routerctl bgp routes` prints.
    pub(super) fn routes(&self, q: &RouteQuery) -> Value {
        let limit = if q.limit == 0 { 1000 } else { q.limit };
        let prefixes: Vec<ipnet::IpNet> = match q.prefix {
            Some(prefix) if !self.rib.paths(&prefix).is_empty() => vec![prefix],
            // No such prefix (or an address): the longest one covering it,
            // as the kernel would forward.
            Some(prefix) => self
                .rib
                .best_paths()
                .map(|(p, _, _)| *p)
                .filter(|p| p.contains(&prefix))
                .max_by_key(ipnet::IpNet::prefix_len)
                .into_iter()
                .collect(),
            None => {
                let mut all: Vec<ipnet::IpNet> = self
                    .rib
                    .best_paths()
                    .take(limit)
                    .map(|(p, _, _)| *p)
                    .collect();
                all.sort();
                all
            }
        };
        let mut routes = Vec::new();
        for prefix in prefixes {
            let hops = self.rib.best(&prefix).map(|(_, h)| h).unwrap_or_default();
            let paths: Vec<Value> = self
                .rib
                .paths(&prefix)
                .into_iter()
                .enumerate()
                .map(|(i, p)| self.route_json(&prefix, p, i == 0, &hops))
                .collect();
            if !paths.is_empty() {
                routes.push(json!({"prefix": prefix.to_string(), "paths": paths}));
            }
        }
        json!({"count": routes.len(), "total": self.rib.len(), "routes": routes})
    }

    /// One path; `hops` are the prefix's installed (multipath) next hops.
    fn route_json(
        &self,
        prefix: &ipnet::IpNet,
        p: &Path<Learned>,
        best: bool,
        hops: &[std::net::IpAddr],
    ) -> Value {
        let peer = if p.peer == LOCAL {
            "local".to_string()
        } else {
            self.peers
                .get(&p.peer)
                .map_or_else(|| format!("#{}", p.peer), |x| x.spec.name.clone())
        };
        let age = self.age().saturating_sub(p.attrs.since);
        let mut v = attrs_json(&p.attrs.attrs);
        if let Some(o) = v.as_object_mut() {
            o.insert("prefix".into(), json!(prefix.to_string()));
            o.insert("best".into(), json!(best));
            o.insert("peer".into(), json!(peer));
            o.insert("nextHop".into(), json!(p.nexthop.to_string()));
            // One of several equal paths the kernel route spreads over.
            o.insert(
                "multipath".into(),
                json!(hops.len() > 1 && hops.contains(&p.nexthop)),
            );
            o.insert("stale".into(), json!(p.stale));
            o.insert("ageSecs".into(), json!(age));
        }
        v
    }
}

fn attrs_json(a: &PathAttributes) -> Value {
    // AS numbers in order; an AS_SET is one "{a,b}" element.
    let mut as_path: Vec<Value> = Vec::new();
    for s in &a.as_path.segments {
        match s.kind {
            routerd_bgp_core::wire::SegmentType::Sequence => {
                as_path.extend(s.asns.iter().map(|n| json!(n)));
            }
            _ => {
                let asns: Vec<String> = s.asns.iter().map(ToString::to_string).collect();
                as_path.push(json!(format!("{{{}}}", asns.join(","))));
            }
        }
    }
    json!({
        "asPath": as_path,
        "origin": match a.origin {
            Some(Origin::Igp) => "igp",
            Some(Origin::Egp) => "egp",
            Some(Origin::Incomplete) | None => "incomplete",
        },
        "nextHopAttribute": a.next_hop.map(|n| match n {
            NextHop::V4(v4) => v4.to_string(),
            NextHop::V6 { global, link_local: Some(ll) } => format!("{global} {ll}"),
            NextHop::V6 { global, link_local: None } => global.to_string(),
        }),
        "localPref": a.local_pref,
        "med": a.med,
        "communities": a.communities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "largeCommunities": a.large_communities.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn summary_line(p: &Peer) -> Value {
    json!({
        "name": p.spec.name,
        "resource": p.spec.resource,
        "address": p.spec.address.to_string(),
        "peerAsn": p.spec.peer_asn,
        "state": state_name(p.fsm.state()),
        "stateSecs": secs(p.state_since),
        "uptimeSecs": p.up.as_ref().map(|u| secs(u.since)),
        "prefixesReceived": p.accepted + p.rejected.len(),
        "prefixesAccepted": p.accepted,
        "prefixesSent": p.adj_out.len(),
        "dynamic": p.dynamic,
        "halted": p.halted,
        "bfd": p.bfd.as_ref().map(|h| h.view().state.as_str()),
    })
}

fn neighbor(p: &Peer) -> Value {
    let mut v = summary_line(p);
    let up = p.up.as_ref().map(|u| {
        json!({
            "peerId": u.peer_id.to_string(),
            "ebgp": u.ebgp,
            "families": u.negotiated.families.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "holdTime": u.negotiated.hold_time,
            "fourOctetAs": u.negotiated.four_octet_as,
            "routeRefresh": u.negotiated.route_refresh,
            "extendedNextHop": u.negotiated.ipv4_extended_next_hop,
            "gracefulRestart": u.negotiated.peer_graceful_restart.as_ref().map(|g| g.restart_time),
            "endOfRib": u.end_of_rib.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "disabledFamilies": u.disabled.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "interface": u.ifname,
            "uptimeSecs": secs(u.since),
        })
    });
    if let Some(o) = v.as_object_mut() {
        o.insert("session".into(), up.unwrap_or(Value::Null));
        o.insert("counters".into(), json!(p.counters));
        o.insert(
            "connection".into(),
            json!(p.conn.as_ref().map(|c| json!({
                "local": c.local.to_string(),
                "remote": c.remote.to_string(),
                "inbound": c.inbound,
            }))),
        );
        o.insert("lastDown".into(), json!(p.last_down));
        o.insert("lastError".into(), json!(p.last_error));
        o.insert(
            "gracefulRestart".into(),
            json!({
                "restarting": p.restart.restart_until.is_some(),
                "staleUntilSecs": p.restart.stale_until.map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
            }),
        );
        o.insert("passive".into(), json!(p.spec.passive));
        o.insert("maxPrefixes".into(), json!(p.spec.max_prefixes));
        o.insert(
            "routeReflectorClient".into(),
            json!(p.spec.route_reflector_client),
        );
    }
    v
}
