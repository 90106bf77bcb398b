//! `RouterdCluster`: the routerd nodes that replicate config and ownership
//! through Raft.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::common::When;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::GoDuration;

/// The `RouterdCluster` kind.
pub struct RouterdCluster;

/// The port peers listen on when a peer is given by name only.
pub const DEFAULT_PORT: u16 = 7946;
/// Default ownership lease.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(200);
/// Default Raft heartbeat.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(50);
/// Default lower bound of the Raft election timeout (the upper is twice it).
pub const DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_millis(150);

/// A cluster member: a name (the published schema's form, a host name that
/// resolves to the node) or the full form with id, address and role.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ClusterPeer {
    /// A host name; id by position, port 7946.
    Name(String),
    /// The full form.
    Member(ClusterMember),
}

/// A member in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterMember {
    /// The node's name (what `routerd serve --node` and `metadata.nodes` use).
    pub name: String,
    /// The Raft node id (default: position in the list, from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `host:port` where the node listens for cluster RPCs.
    pub address: String,
    /// A voter with no data plane (`routerd serve --witness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<bool>,
}

impl<'de> Deserialize<'de> for ClusterPeer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PeerVisitor;
        impl<'de> Visitor<'de> for PeerVisitor {
            type Value = ClusterPeer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a node name, or a map with name, address, and optionally id and witness",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClusterPeer, E> {
                Ok(ClusterPeer::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClusterPeer, A::Error> {
                ClusterMember::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ClusterPeer::Member)
            }
        }
        d.deserialize_any(PeerVisitor)
    }
}

/// What a node does when it cannot reach a majority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuorumLossPolicy {
    /// Once its lease has ended, plain RFC VRRP decides (never preempting).
    #[default]
    Vrrp,
    /// Keep the roles held when quorum was lost; never promote.
    Hold,
}

/// Files of the cluster's mutual TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterTls {
    /// Directory written by `routerctl cluster init` (`ca.pem`, `NODE.pem`, `NODE.key`).
    pub dir: String,
}

/// Spec of a `RouterdCluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterdClusterSpec {
    /// The members, witness included.
    pub peers: Vec<ClusterPeer>,
    /// This node's name, when the file is for one node only (a shared file
    /// leaves it out and each node is started with `--node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The ownership lease (default 200ms).
    #[serde(default, rename = "leaseTTL", skip_serializing_if = "Option::is_none")]
    pub lease_ttl: Option<GoDuration>,
    /// Accepted from the published schema; leases live in Raft, not in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_path: Option<String>,
    /// Raft heartbeat interval (default 50ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<GoDuration>,
    /// Lower bound of the Raft election timeout (default 150ms; the upper
    /// bound is twice it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_timeout: Option<GoDuration>,
    /// `vrrp` (default) or `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_loss_policy: Option<QuorumLossPolicy>,
    /// Mutual TLS files (default: `<state-dir>/cluster/tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClusterTls>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// A member with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMember {
    pub name: String,
    pub id: u64,
    pub address: String,
    pub witness: bool,
}

impl RouterdClusterSpec {
    /// The members with ids and addresses filled in.
    pub fn members(&self) -> Vec<ResolvedMember> {
        self.peers
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                ClusterPeer::Name(name) => ResolvedMember {
                    name: name.clone(),
                    id: i as u64 + 1,
                    address: format!("{name}:{DEFAULT_PORT}"),
                    witness: false,
                },
                ClusterPeer::Member(m) => ResolvedMember {
                    name: m.name.clone(),
                    id: m.id.unwrap_or(i as u64 + 1),
                    address: m.address.clone(),
                    witness: m.witness.unwrap_or(false),
                },
            })
            .collect()
    }

    /// The ownership lease.
    pub fn lease(&self) -> Duration {
        self.lease_ttl.map_or(DEFAULT_LEASE, |d| d.0)
    }

    /// The Raft heartbeat.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat.map_or(DEFAULT_HEARTBEAT, |d| d.0)
    }

    /// The lower bound of the election timeout.
    pub fn election_timeout(&self) -> Duration {
        self.election_timeout
            .map_or(DEFAULT_ELECTION_TIMEOUT, |d| d.0)
    }
}

impl Kind for RouterdCluster {
    const KIND: &'static str = "RouterdCluster";
    const API_VERSION: &'static str = "system.routerd.net/v1alpha1";
    type Spec = RouterdClusterSpec;

    fn check(spec: &RouterdClusterSpec, c: &mut Checker<'_>) {
        if spec.peers.is_empty() {
            c.error("spec.peers", "a cluster needs at least one peer");
        }
        let members = spec.members();
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (i, m) in members.iter().enumerate() {
            let path = format!("spec.peers[{i}]");
            if let Err(e) = check_node_name(&m.name) {
                c.error(&path, e);
            }
            if !names.insert(m.name.as_str()) {
                c.error(&path, format!("node `{}` is listed twice", m.name));
            }
            if m.id == 0 {
                c.error(&format!("{path}.id"), "node ids start at 1");
            } else if !ids.insert(m.id) {
                c.error(
                    &format!("{path}.id"),
                    format!("node id {} is used twice", m.id),
                );
            }
            if !valid_address(&m.address) {
                c.error(
                    &format!("{path}.address"),
                    format!("`{}` is not host:port", m.address),
                );
            }
        }
        if let Some(identity) = &spec.identity
            && !members.iter().any(|m| &m.name == identity)
        {
            c.error(
                "spec.identity",
                format!("`{identity}` is not one of the peers"),
            );
        }
        let voters = members.len();
        let routers = members.iter().filter(|m| !m.witness).count();
        if voters == 2 {
            c.warn(
                "spec.peers",
                "two voters lose quorum when either is down; add a witness (routerd serve --witness)",
            );
        }
        if routers == 0 && voters > 0 {
            c.error("spec.peers", "every peer is a witness: nothing would serve");
        }
        if spec.lease_path.is_some() {
            c.warn(
                "spec.leasePath",
                "has no effect: ownership leases live in the Raft log",
            );
        }
        let lease = spec.lease();
        let heartbeat = spec.heartbeat();
        let election = spec.election_timeout();
        if lease < Duration::from_millis(50) {
            c.error(
                "spec.leaseTTL",
                "a lease under 50ms cannot be renewed reliably",
            );
        }
        if heartbeat.is_zero() || heartbeat * 2 > election {
            c.error(
                "spec.heartbeat",
                format!(
                    "the heartbeat ({heartbeat:?}) must be at most half the election timeout ({election:?})"
                ),
            );
        }
        if lease / 3 < heartbeat {
            c.warn(
                "spec.leaseTTL",
                "renewals every third of the lease come faster than heartbeats; consider a longer lease",
            );
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &RouterdClusterSpec)], c: &mut SetChecker<'_>) {
        for (r, _) in items.iter().skip(1) {
            c.error(
                r,
                "metadata.name",
                format!(
                    "{} is already the cluster; a node belongs to one",
                    items[0].0.id()
                ),
            );
        }
    }
}

/// A node name: a host name or a short name (letters, digits, `-`, `_`, `.`).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 253 || !ok_chars || !ends_ok {
        return Err(format!(
            "`{name}` is not a node name: use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn valid_address(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
}
