//! The plan's vocabulary: changes, pending intents, and how they read to a human.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ROUTERD_PROTO;
use crate::types::{MAIN_TABLE, Route, RouteKind, table_name};

/// A value before and after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition<T> {
    /// What the kernel holds now.
    pub from: T,
    /// What the change sets.
    pub to: T,
}

/// Why routerd removes an address or route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovalReason {
    /// routerd added it and no intent wants it any more (its resource was deleted).
    Orphaned,
    /// An exclusive address intent on the same link and family (the change's owner).
    Exclusive,
    /// The same address with another prefix length; the kernel (IPv6) keeps only one.
    PrefixConflict,
}

/// A route as routerd installs it: an intent with the kernel's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// Routing table id.
    pub table: u32,
    /// Destination prefix, host bits cleared.
    pub destination: IpNet,
    /// Next-hop gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub ifname: Option<String>,
    /// Metric, defaulted as the kernel would (IPv4 0, IPv6 1024).
    pub metric: u32,
    /// Route type.
    pub kind: RouteKind,
    /// Preferred source address.
    pub pref_src: Option<IpAddr>,
}

/// One write to the kernel, with the resource it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Change {
    /// Set a link's administrative state and/or MTU.
    SetLink {
        /// Resource(s) that want it.
        owner: String,
        /// Interface name.
        ifname: String,
        /// Administrative state change, if any.
        admin_up: Option<Transition<bool>>,
        /// MTU change, if any.
        mtu: Option<Transition<u32>>,
    },
    /// Add an address (tagged with routerd's IFA_PROTO).
    AddAddress {
        /// Resource that wants it.
        owner: String,
        /// Interface name.
        ifname: String,
        /// The address.
        address: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Remove an address.
    RemoveAddress {
        /// The intent that requires the removal; `None` for orphans.
        owner: Option<String>,
        /// Why.
        reason: RemovalReason,
        /// Interface name.
        ifname: String,
        /// The address.
        address: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Add a route (tagged with routerd's rtm_protocol).
    AddRoute {
        /// Resource that wants it.
        owner: String,
        /// The route.
        route: RouteSpec,
    },
    /// Replace a route that has the same table, destination and metric.
    ReplaceRoute {
        /// Resource that wants it.
        owner: String,
        /// What the kernel holds now.
        from: Route,
        /// What replaces it.
        to: RouteSpec,
    },
    /// Remove a route.
    RemoveRoute {
        /// The intent that requires the removal; `None` for orphans.
        owner: Option<String>,
        /// Why.
        reason: RemovalReason,
        /// The route as observed.
        route: Route,
    },
    /// Write a sysctl.
    SetSysctl {
        /// Resource that wants it.
        owner: String,
        /// Key as the intent spelled it.
        key: String,
        /// Current value (trimmed).
        from: String,
        /// Value written.
        to: String,
    },
}

/// What kind of edit a change is, for the plan's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Something new appears.
    Add,
    /// Something existing is modified.
    Change,
    /// Something disappears.
    Remove,
}

/// The order in which changes are applied; each phase completes before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Links,
    AddressRemovals,
    AddressAdds,
    RouteRemovals,
    RouteWrites,
    Sysctls,
}

impl Change {
    /// The resource the change is for, if any (orphan removals have none).
    pub fn owner(&self) -> Option<&str> {
        match self {
            Change::SetLink { owner, .. }
            | Change::AddAddress { owner, .. }
            | Change::AddRoute { owner, .. }
            | Change::ReplaceRoute { owner, .. }
            | Change::SetSysctl { owner, .. } => Some(owner),
            Change::RemoveAddress { owner, .. } | Change::RemoveRoute { owner, .. } => {
                owner.as_deref()
            }
        }
    }

    /// Whether the change adds, modifies or removes.
    pub fn action(&self) -> Action {
        match self {
            Change::AddAddress { .. } | Change::AddRoute { .. } => Action::Add,
            Change::SetLink { .. } | Change::ReplaceRoute { .. } | Change::SetSysctl { .. } => {
                Action::Change
            }
            Change::RemoveAddress { .. } | Change::RemoveRoute { .. } => Action::Remove,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self {
            Change::SetLink { .. } => Phase::Links,
            Change::RemoveAddress { .. } => Phase::AddressRemovals,
            Change::AddAddress { .. } => Phase::AddressAdds,
            Change::RemoveRoute { .. } => Phase::RouteRemovals,
            Change::ReplaceRoute { .. } | Change::AddRoute { .. } => Phase::RouteWrites,
            Change::SetSysctl { .. } => Phase::Sysctls,
        }
    }
}

/// An intent that cannot be acted on now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// Resource whose intent waits.
    pub owner: String,
    /// What waits, e.g. `address 192.0.2.1/24 on eth9`.
    pub subject: String,
    /// Why, e.g. `link eth9 does not exist`.
    pub reason: String,
}

/// The difference between what the config wants and what the kernel holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Writes to make, in the order they are applied.
    pub changes: Vec<Change>,
    /// Intents that cannot be acted on now.
    pub pending: Vec<Pending>,
}

impl Plan {
    /// True when there is nothing to do and nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.pending.is_empty()
    }

    /// Numbers of changes that add, modify and remove.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |a| self.changes.iter().filter(|c| c.action() == a).count();
        (
            count(Action::Add),
            count(Action::Change),
            count(Action::Remove),
        )
    }

    /// One line: "N to add, M to change, K to remove" (and how many are pending).
    pub fn summary(&self) -> String {
        let (add, change, remove) = self.counts();
        let mut s = format!("{add} to add, {change} to change, {remove} to remove");
        if !self.pending.is_empty() {
            s.push_str(&format!(", {} pending", self.pending.len()));
        }
        s
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for p in &self.pending {
            writeln!(f, "{p}")?;
        }
        write!(f, "Plan: {}.", self.summary())
    }
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "! {}: {}  ({})", self.subject, self.reason, self.owner)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::SetLink {
                owner,
                ifname,
                admin_up,
                mtu,
            } => {
                let mut parts = Vec::new();
                if let Some(t) = admin_up {
                    parts.push(format!("{} → {}", updown(t.from), updown(t.to)));
                }
                if let Some(t) = mtu {
                    parts.push(format!("mtu {} → {}", t.from, t.to));
                }
                write!(f, "~ link {ifname}: {}  ({owner})", parts.join(", "))
            }
            Change::AddAddress {
                owner,
                ifname,
                address,
                prefix_len,
            } => {
                write!(f, "+ address {address}/{prefix_len} on {ifname}  ({owner})")
            }
            Change::RemoveAddress {
                owner,
                reason,
                ifname,
                address,
                prefix_len,
            } => {
                write!(
                    f,
                    "- address {address}/{prefix_len} on {ifname}  ({})",
                    why(*reason, owner.as_deref(), "address")
                )
            }
            Change::AddRoute { owner, route } => write!(f, "+ route {route}  ({owner})"),
            Change::ReplaceRoute { owner, from, to } => {
                write!(f, "~ route {from} → {to}  ({owner})")
            }
            Change::RemoveRoute {
                owner,
                reason,
                route,
            } => {
                write!(
                    f,
                    "- route {route}  ({})",
                    why(*reason, owner.as_deref(), "route")
                )
            }
            Change::SetSysctl {
                owner,
                key,
                from,
                to,
            } => {
                write!(f, "~ sysctl {key}: {from} → {to}  ({owner})")
            }
        }
    }
}

fn updown(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn why(reason: RemovalReason, owner: Option<&str>, what: &str) -> String {
    let owner = owner.unwrap_or("?");
    match reason {
        RemovalReason::Orphaned => format!("orphaned routerd {what}"),
        RemovalReason::Exclusive => format!("exclusive: {owner}"),
        RemovalReason::PrefixConflict => format!("prefix length conflicts with {owner}"),
    }
}

/// A route the way `ip route` shows it, e.g. `blackhole 203.0.113.0/24 metric 0`
/// or `0.0.0.0/0 via 192.0.2.1 dev eth0 metric 0 table 100`.
struct RouteLine<'a> {
    kind: RouteKind,
    destination: &'a IpNet,
    gateway: Option<&'a IpAddr>,
    ifname: Option<&'a str>,
    metric: u32,
    table: u32,
    pref_src: Option<&'a IpAddr>,
}

impl fmt::Display for RouteLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteKind::Unicast {
            write!(f, "{} ", self.kind)?;
        }
        write!(f, "{}", self.destination)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(dev) = self.ifname {
            write!(f, " dev {dev}")?;
        }
        if let Some(src) = self.pref_src {
            write!(f, " src {src}")?;
        }
        write!(f, " metric {}", self.metric)?;
        if self.table != MAIN_TABLE {
            write!(f, " table {}", table_name(self.table))?;
        }
        Ok(())
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RouteLine {
            kind: self.kind,
            destination: &self.destination,
            gateway: self.gateway.as_ref(),
            ifname: self.ifname.as_deref(),
            metric: self.metric,
            table: self.table,
            pref_src: self.pref_src.as_ref(),
        }
        .fmt(f)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RouteLine {
            kind: self.kind,
            destination: &self.destination,
            gateway: self.gateway.as_ref(),
            ifname: self.ifname.as_deref(),
            metric: self.metric,
            table: self.table,
            pref_src: self.pref_src.as_ref(),
        }
        .fmt(f)?;
        write!(f, " proto {}", protocol_name(self.protocol))
    }
}

/// Names from iproute2's rt_protos for the protocols a router meets most.
pub fn protocol_name(proto: u8) -> String {
    match proto {
        ROUTERD_PROTO => "routerd".to_string(),
        0 => "unspec".to_string(),
        1 => "redirect".to_string(),
        2 => "kernel".to_string(),
        3 => "boot".to_string(),
        4 => "static".to_string(),
        9 => "ra".to_string(),
        12 => "bird".to_string(),
        16 => "dhcp".to_string(),
        18 => "keepalived".to_string(),
        186 => "bgp".to_string(),
        188 => "ospf".to_string(),
        196 => "zebra-static".to_string(),
        p => p.to_string(),
    }
}
