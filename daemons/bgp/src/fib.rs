//! From RIB changes to kernel writes: the best paths' next hops become
//! routes of protocol `bgp`, written in batches. A burst of changes (a
//! full table arriving, a session going down) is collected and written
//! with one pipelined netlink batch instead of a round trip per prefix;
//! a change that supersedes an unwritten one for the same prefix replaces
//! it, so a flapping prefix costs one write.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use routerd_kernel::{FibOp, FibRoute, NextHop};

/// How the FIB is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibConfig {
    /// Install routes at all (false: RIB only, e.g. a route server).
    pub install: bool,
    /// Routing table id.
    pub table: u32,
    /// Route metric.
    pub metric: u32,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            install: true,
            table: 254,
            metric: 20,
        }
    }
}

/// What the kernel should hold for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// This set of next hops (best first).
    Route(Vec<NextHop>),
    /// Nothing.
    Nothing,
}

/// Changes not yet written, latest per prefix.
#[derive(Debug, Default)]
pub struct Pending {
    wants: HashMap<IpNet, Want>,
}

impl Pending {
    /// Records what `prefix` should now be.
    pub fn set(&mut self, prefix: IpNet, want: Want) {
        self.wants.insert(prefix, want);
    }

    /// Prefixes waiting.
    pub fn len(&self) -> usize {
        self.wants.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.wants.is_empty()
    }

    /// The writes for everything waiting, emptying it.
    pub fn drain(&mut self, cfg: &FibConfig) -> Vec<FibOp> {
        self.wants
            .drain()
            .map(|(destination, want)| match want {
                Want::Route(nexthops) => FibOp::Replace(FibRoute {
                    destination,
                    nexthops,
                    metric: cfg.metric,
                    table: cfg.table,
                }),
                Want::Nothing => FibOp::Delete {
                    destination,
                    metric: cfg.metric,
                    table: cfg.table,
                },
            })
            .collect()
    }
}

/// Next hops as the kernel takes them: an IPv6 link-local gateway needs
/// the link it is on (`ifindex_of` gives the session's).
pub fn nexthops(gateways: &[IpAddr], ifindex: impl Fn(&IpAddr) -> Option<u32>) -> Vec<NextHop> {
    gateways
        .iter()
        .map(|g| {
            let link_local = matches!(g, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            NextHop {
                gateway: *g,
                ifindex: if link_local { ifindex(g) } else { None },
                weight: 1,
                onlink: false,
            }
        })
        .collect()
}

/// Longest a change waits before it is written.
pub const FLUSH_AFTER: Duration = Duration::from_millis(5);
/// A batch this large is written at once.
pub const FLUSH_AT: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_want_per_prefix_wins_and_link_locals_get_their_link() {
        let mut p = Pending::default();
        let net: IpNet = "10.1.0.0/16".parse().expect("net");
        let gw: IpAddr = "192.0.2.1".parse().expect("ip");
        p.set(net, Want::Route(nexthops(&[gw], |_| None)));
        p.set(net, Want::Nothing);
        assert_eq!(p.len(), 1);
        let ops = p.drain(&FibConfig::default());
        assert!(matches!(
            ops.as_slice(),
            [FibOp::Delete {
                metric: 20,
                table: 254,
                ..
            }]
        ));
        assert!(p.is_empty());
        let ll: IpAddr = "fe80::1".parse().expect("ip");
        let hops = nexthops(&[ll, gw], |_| Some(7));
        assert_eq!(
            hops[0].ifindex,
            Some(7),
            "a link-local gateway names its link"
        );
        assert_eq!(hops[1].ifindex, None);
    }
}
