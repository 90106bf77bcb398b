//! Prefixes we originate, and the fence on grouped ones: a grouped
//! announcement is made only while the newest grant for its group says
//! owner and its deadline lies ahead. The deadline is enforced by the
//! speaker's own timer, so an isolated node stops announcing on time even
//! when routerd cannot reach it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipnet::IpNet;
use routerd_bgp_core::policy::Community;
use routerd_bgp_core::rib::Path;
use routerd_bgp_core::wire::{AsPath, NextHop, Origin, PathAttributes};
use routerd_contract::event::NewEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::import::local_rank;
use super::{LOCAL, Learned, Speaker};
use crate::clock::{instant_from_mono_ns, mono_now_ns};
use crate::spec::{AnnounceSpec, Standby};

/// A grant's role, as routerd sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Announce.
    Owner,
    /// Do not (or announce prepended).
    Standby,
    /// routerd lost quorum and lets VRRP decide; for BGP, like standby.
    Vrrp,
}

/// One grant as routerd sends it to `/v1/grants` (the body routerd-vrrp
/// takes, so routerd sends both daemons the same thing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantRequest {
    /// Ownership group.
    pub group: String,
    /// Ownership epoch.
    pub epoch: u64,
    /// owner, standby or vrrp.
    pub role: Role,
    /// CLOCK_MONOTONIC deadline in ns; `null`: no expiry.
    #[serde(default)]
    pub deadline_mono_ns: Option<u64>,
    /// When routerd decided it (CLOCK_MONOTONIC ns): an older grant than
    /// the newest applied for the group is ignored.
    #[serde(default)]
    pub issued_mono_ns: Option<u64>,
}

/// The grant in force for a group.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub epoch: u64,
    pub role: Role,
    pub deadline: Option<Instant>,
    pub deadline_mono_ns: Option<u64>,
    pub issued: Option<u64>,
}

impl Grant {
    fn owns(&self, now: Instant) -> bool {
        self.role == Role::Owner && self.deadline.is_none_or(|d| d > now)
    }
}

impl Speaker {
    /// Applies grants and answers per group.
    pub(super) fn apply_grants(&mut self, grants: Vec<GrantRequest>) -> serde_json::Value {
        let mut results = Vec::new();
        for g in grants {
            let known = self
                .spec
                .announce
                .iter()
                .any(|a| a.group.as_deref() == Some(g.group.as_str()));
            let current = self.grants.get(&g.group);
            // Grants travel on separate connections and may overtake each
            // other: an older decision must not undo a newer one.
            if let (Some(issued), Some(last)) = (g.issued_mono_ns, current.and_then(|c| c.issued))
                && issued < last
            {
                results.push(json!({"group": g.group, "result": "ignoredStale"}));
                continue;
            }
            if current.is_some_and(|c| g.epoch < c.epoch) {
                results.push(json!({"group": g.group, "result": "ignoredOlderEpoch"}));
                continue;
            }
            let changed = current.is_none_or(|c| c.epoch != g.epoch || c.role != g.role);
            let grant = Grant {
                epoch: g.epoch,
                role: g.role,
                deadline: g.deadline_mono_ns.map(instant_from_mono_ns),
                deadline_mono_ns: g.deadline_mono_ns,
                issued: g.issued_mono_ns.or(current.and_then(|c| c.issued)),
            };
            if changed {
                self.event(
                    NewEvent::new("bgp.grant", "Applied")
                        .resource(format!("group/{}", g.group))
                        .message(format!(
                            "{:?} grant for {} epoch {}",
                            g.role, g.group, g.epoch
                        ))
                        .attr("group", g.group.clone())
                        .attr("role", json!(g.role))
                        .attr("epoch", g.epoch)
                        .attr("deadlineMonoNs", json!(g.deadline_mono_ns)),
                );
            }
            self.grants.insert(g.group.clone(), grant);
            results.push(json!({
                "group": g.group,
                "result": if known { "accepted" } else { "unknownGroup" },
            }));
        }
        self.evaluate_announcements("grant");
        let announced: Vec<String> = {
            let mut v: Vec<String> = self.announced.keys().map(ToString::to_string).collect();
            v.sort();
            v
        };
        json!({"results": results, "announced": announced, "monoNowNs": mono_now_ns()})
    }

    /// The next moment an owner grant of an announced group runs out.
    pub(super) fn next_grant_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        self.grants
            .values()
            .filter(|g| g.role == Role::Owner)
            .filter_map(|g| g.deadline)
            .filter(|d| *d > now)
            .min()
    }

    /// What each announcement should be now: `None` for not announced,
    /// else the extra prepends.
    fn desired(&self, a: &AnnounceSpec, now: Instant) -> Option<u8> {
        let Some(group) = &a.group else {
            return Some(0);
        };
        let grant = self.grants.get(group);
        if grant.is_some_and(|g| g.owns(now)) {
            return Some(0);
        }
        // An owner grant that ran out without a word from routerd (killed,
        // or cut off from the cluster) is not yet a standby decision: the
        // real standby may still be waiting for its grant with the same
        // prepends, and an upstream with multipath would split traffic
        // between the two equal paths. One more prepend keeps the lapsed
        // node a last resort behind the standby.
        let lapsed = grant.is_some_and(|g| g.role == Role::Owner);
        match a.standby {
            Standby::Withdraw => None,
            Standby::Prepend(n) if lapsed => Some(n.saturating_add(1)),
            Standby::Prepend(n) => Some(n),
        }
    }

    /// Brings the originated routes in line with the config and grants.
    pub(super) fn evaluate_announcements(&mut self, why: &str) {
        let now = Instant::now();
        let wanted: HashMap<IpNet, (AnnounceSpec, Option<u8>)> = self
            .spec
            .announce
            .iter()
            .map(|a| (a.prefix, (a.clone(), self.desired(a, now))))
            .collect();
        let gone: Vec<IpNet> = self
            .announced
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for p in gone {
            self.announced.remove(&p);
            self.withdraw_path(p, LOCAL);
        }
        for (prefix, (spec, want)) in wanted {
            let have = self.announced.get(&prefix).copied();
            let attrs = self.local_attrs(&spec, want.unwrap_or(0));
            let same_attrs = self
                .rib
                .paths(&prefix)
                .iter()
                .find(|p| p.peer == LOCAL)
                .is_some_and(|p| *p.attrs.attrs == attrs);
            if have == want && (want.is_none() || same_attrs) {
                continue;
            }
            match want {
                Some(n) => {
                    self.announced.insert(prefix, n);
                    let path = Path {
                        peer: LOCAL,
                        nexthop: unspecified(&prefix),
                        attrs: Learned {
                            attrs: self.interner.intern(attrs),
                            since: self.age(),
                        },
                        rank: std::sync::Arc::new(local_rank(self.spec.asn, self.spec.router_id)),
                        stale: false,
                    };
                    if let Some(c) = self.rib.update(prefix, path) {
                        self.apply_change(c);
                    }
                }
                None => {
                    self.announced.remove(&prefix);
                    self.withdraw_path(prefix, LOCAL);
                }
            }
            if let Some(group) = &spec.group {
                let (topic, reason) = match want {
                    Some(0) => ("bgp.announce.announced", "Announced"),
                    Some(_) => ("bgp.announce.prepended", "Prepended"),
                    None => ("bgp.announce.withdrawn", "Withdrawn"),
                };
                tracing::info!(%prefix, %group, ?want, %why, "grouped announcement changed");
                let grant = self.grants.get(group);
                self.event(
                    NewEvent::new(topic, reason)
                        .resource(spec.resource.clone())
                        .message(format!("{prefix} ({group}): {reason} on {why}"))
                        .attr("prefix", prefix.to_string())
                        .attr("group", group.clone())
                        .attr("trigger", why)
                        .attr("prepend", json!(want))
                        .attr("epoch", json!(grant.map(|g| g.epoch)))
                        .attr(
                            "deadlineMonoNs",
                            json!(grant.and_then(|g| g.deadline_mono_ns)),
                        ),
                );
            }
        }
    }

    fn local_attrs(&self, a: &AnnounceSpec, prepend: u8) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath::from_sequence(std::iter::repeat_n(
                self.spec.asn,
                usize::from(prepend),
            )),
            next_hop: a.next_hop.map(|h| match h {
                IpAddr::V4(v4) => NextHop::V4(v4),
                IpAddr::V6(v6) => NextHop::V6 {
                    global: v6,
                    link_local: None,
                },
            }),
            communities: a
                .communities
                .iter()
                .filter_map(|c| c.parse::<Community>().ok())
                .collect(),
            ..PathAttributes::default()
        }
    }
}

fn unspecified(p: &IpNet) -> IpAddr {
    match p {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
