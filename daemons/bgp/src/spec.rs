//! The daemon's JSON config. routerd renders it from the BGP resources, so
//! the field names are a contract: camelCase, unknown fields refused with
//! their name, every value checked here before a session starts.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use routerd_bgp_core::policy::{Community, Policy, PrefixRule};
use serde::{Deserialize, Serialize};

pub use routerd_contract::spec::SpecError;
use routerd_contract::spec::SpecFile;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpSpec {
    /// Instance name (status, event source).
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Where to accept sessions; `null`: only connect out.
    #[serde(default)]
    pub listen: Option<ListenSpec>,
    /// How many equal paths from one neighbouring AS one ECMP route takes:
    /// `true` is 16, `false` is 1 (no ECMP); a number is taken as the width.
    #[serde(default = "no_multipath", deserialize_with = "multipath_width")]
    pub multipath: u32,
    /// Hold time we propose, seconds (0, or 3 and more).
    #[serde(default = "default_hold")]
    pub hold_time: u16,
    /// ConnectRetryTimer, ms.
    #[serde(default = "default_connect_retry")]
    pub connect_retry_ms: u64,
    /// Graceful restart (RFC 4724) as a helper; `null`: not advertised.
    #[serde(default)]
    pub graceful_restart: Option<GracefulRestartSpec>,
    /// How learned routes reach the kernel.
    #[serde(default)]
    pub fib: FibSpec,
    /// Configured neighbours.
    #[serde(default)]
    pub peers: Vec<PeerSpec>,
    /// Neighbours accepted from address ranges.
    #[serde(default)]
    pub dynamic_peers: Vec<DynamicPeerSpec>,
    /// Prefixes we originate.
    #[serde(default)]
    pub announce: Vec<AnnounceSpec>,
}

fn no_multipath() -> u32 {
    1
}

/// Width of an ECMP route when `multipath` is just `true`.
pub const MULTIPATH_WIDTH: u32 = 16;

fn multipath_width<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Width {
        Flag(bool),
        Paths(u32),
    }
    Ok(match Width::deserialize(d)? {
        Width::Flag(true) => MULTIPATH_WIDTH,
        Width::Flag(false) => 1,
        Width::Paths(n) => n.max(1),
    })
}

fn default_hold() -> u16 {
    90
}

fn default_connect_retry() -> u64 {
    5000
}

/// The listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenSpec {
    /// Address to bind (`::` takes IPv4 too).
    pub address: IpAddr,
    /// TCP port (179).
    #[serde(default = "default_port")]
    pub port: u16,
}

fn default_port() -> u16 {
    179
}

impl ListenSpec {
    /// The socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// Graceful restart timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GracefulRestartSpec {
    /// Restart Time we advertise (12 bits).
    pub restart_time_secs: u16,
    /// How long a restarted peer's stale routes stay once it is back, at
    /// most, before they are swept without its End-of-RIB.
    pub stale_path_time_secs: u32,
}

/// Kernel installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FibSpec {
    /// Install learned best routes at all.
    pub install: bool,
    /// Routing table id.
    pub table: u32,
    /// Route metric.
    pub metric: u32,
}

impl Default for FibSpec {
    fn default() -> Self {
        FibSpec {
            install: true,
            table: 254,
            metric: 20,
        }
    }
}

/// BFD for a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BfdSpec {
    /// The `BFD/x` resource this session reports to, when routerd names one.
    #[serde(default)]
    pub resource: Option<String>,
    /// Desired Min TX interval, ms.
    pub min_tx_ms: u32,
    /// Required Min RX interval, ms.
    pub min_rx_ms: u32,
    /// Detect multiplier.
    pub multiplier: u8,
}

impl BfdSpec {
    /// The runner's session parameters.
    pub fn params(&self) -> routerd_bfd_core::SessionParams {
        use std::time::Duration;
        routerd_bfd_core::SessionParams {
            desired_min_tx: Duration::from_millis(u64::from(self.min_tx_ms)),
            required_min_rx: Duration::from_millis(u64::from(self.min_rx_ms)),
            detect_mult: self.multiplier,
            auth: None,
        }
    }
}

/// One direction's policy as configured; `null` in the file is RFC 8212's
/// default (eBGP: nothing, iBGP: everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Prefix rules, "PREFIX [ge N] [le N]"; an empty list allows any.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Shortest accepted length.
    #[serde(default)]
    pub length_min: Option<u8>,
    /// Longest accepted length.
    #[serde(default)]
    pub length_max: Option<u8>,
    /// Every one must be present.
    #[serde(default)]
    pub required_communities: Vec<String>,
    /// None may be present.
    #[serde(default)]
    pub forbidden_communities: Vec<String>,
    /// LOCAL_PREF to set.
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// Communities to add.
    #[serde(default)]
    pub add_communities: Vec<String>,
}

impl PolicySpec {
    /// The core's policy; the error names what does not parse.
    pub fn policy(&self) -> Result<Policy, String> {
        let communities = |list: &[String]| -> Result<Vec<Community>, String> {
            list.iter()
                .map(|c| c.parse::<Community>().map_err(|e| e.to_string()))
                .collect()
        };
        let allowed = if self.allowed.is_empty() {
            None
        } else {
            Some(
                self.allowed
                    .iter()
                    .map(|r| r.parse::<PrefixRule>().map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        Ok(Policy {
            allowed,
            length_min: self.length_min,
            length_max: self.length_max,
            required_communities: communities(&self.required_communities)?,
            forbidden_communities: communities(&self.forbidden_communities)?,
            local_pref: self.local_pref,
            add_communities: communities(&self.add_communities)?,
        })
    }
}

/// A configured neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerSpec {
    /// Session name, "BGPPeer/RESOURCE#ADDRESS".
    pub name: String,
    /// The resource events name.
    pub resource: String,
    /// The neighbour's address.
    pub address: IpAddr,
    /// Its AS.
    pub peer_asn: u32,
    /// Only accept its connections.
    #[serde(default)]
    pub passive: bool,
    /// Our address for the session.
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    /// TCP MD5 key (RFC 2385).
    #[serde(default)]
    pub md5_key: Option<String>,
    /// GTSM (RFC 5082): the peer is at most this many hops away.
    #[serde(default)]
    pub ttl_security_hops: Option<u8>,
    /// eBGP multihop: the TTL to send with.
    #[serde(default)]
    pub ebgp_multihop: Option<u8>,
    /// Hold time for this peer, seconds.
    #[serde(default)]
    pub hold_time: Option<u16>,
    /// ConnectRetryTimer for this peer, ms.
    #[serde(default)]
    pub connect_retry_ms: Option<u64>,
    /// Import policy.
    #[serde(default)]
    pub import: Option<PolicySpec>,
    /// Export policy.
    #[serde(default)]
    pub export: Option<PolicySpec>,
    /// Accepted prefixes beyond which the session is closed (Cease/1).
    #[serde(default)]
    pub max_prefixes: Option<u32>,
    /// Reflect iBGP routes to and from this iBGP peer (RFC 4456).
    #[serde(default)]
    pub route_reflector_client: bool,
    /// BFD for this peer.
    #[serde(default)]
    pub bfd: Option<BfdSpec>,
    /// The neighbour's TCP port we connect to (default 179); its own
    /// connections come to our listener whatever this says.
    #[serde(default)]
    pub port: Option<u16>,
}

/// Neighbours accepted from address ranges: each source address gets its
/// own passive session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DynamicPeerSpec {
    /// Name; a session is "NAME#ADDRESS".
    pub name: String,
    /// The resource events name.
    pub resource: String,
    /// Accepted source ranges.
    pub prefixes: Vec<IpNet>,
    /// Their AS.
    pub peer_asn: u32,
    /// TCP MD5 key for the ranges.
    #[serde(default)]
    pub md5_key: Option<String>,
    /// GTSM hops.
    #[serde(default)]
    pub ttl_security_hops: Option<u8>,
    /// Hold time, seconds.
    #[serde(default)]
    pub hold_time: Option<u16>,
    /// Import policy.
    #[serde(default)]
    pub import: Option<PolicySpec>,
    /// Export policy.
    #[serde(default)]
    pub export: Option<PolicySpec>,
    /// Max prefixes per session.
    #[serde(default)]
    pub max_prefixes: Option<u32>,
    /// BFD per session.
    #[serde(default)]
    pub bfd: Option<BfdSpec>,
}

impl DynamicPeerSpec {
    /// The peer spec of the session for `address`.
    pub fn session(&self, address: IpAddr) -> PeerSpec {
        PeerSpec {
            name: format!("{}#{address}", self.name),
            resource: self.resource.clone(),
            address,
            peer_asn: self.peer_asn,
            passive: true,
            local_address: None,
            md5_key: self.md5_key.clone(),
            ttl_security_hops: self.ttl_security_hops,
            ebgp_multihop: None,
            hold_time: self.hold_time,
            connect_retry_ms: None,
            import: self.import.clone(),
            export: self.export.clone(),
            max_prefixes: self.max_prefixes,
            route_reflector_client: false,
            bfd: self.bfd.clone(),
            port: None,
        }
    }

    /// Whether `address` falls in one of the ranges.
    pub fn covers(&self, address: IpAddr) -> bool {
        self.prefixes.iter().any(|p| p.contains(&address))
    }
}

/// What a grouped announcement does while its group is not owned here:
/// `"withdraw"`, or `{"prepend": N}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Standby {
    /// Not announced.
    #[default]
    Withdraw,
    /// Announced with our AS prepended this many extra times.
    Prepend(u8),
}

/// A prefix we originate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnnounceSpec {
    /// The prefix.
    pub prefix: IpNet,
    /// Next hop to announce; `null`: ourselves.
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    /// Communities to attach.
    #[serde(default)]
    pub communities: Vec<String>,
    /// The resource events name.
    pub resource: String,
    /// Ownership group: announced only under an owner grant.
    #[serde(default)]
    pub group: Option<String>,
    /// Behaviour without an owner grant.
    #[serde(default)]
    pub standby: Standby,
}

/// A refused value: the field and what is wrong.
pub type Refusal = (&'static str, String);

impl BgpSpec {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<BgpSpec, SpecError> {
        let file = SpecFile::<BgpSpec>::read(path)?;
        file.spec
            .check()
            .map_err(|(field, message)| file.field(field, &message))?;
        Ok(file.spec)
    }

    /// Checks values serde cannot.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.asn == 0 {
            return Err(("asn", "AS 0 is reserved (RFC 7607)".into()));
        }
        if self.router_id.is_unspecified() {
            return Err(("routerId", "must not be 0.0.0.0".into()));
        }
        check_hold("holdTime", self.hold_time)?;
        if self.connect_retry_ms == 0 {
            return Err(("connectRetryMs", "must be positive".into()));
        }
        if let Some(gr) = &self.graceful_restart
            && gr.restart_time_secs > 4095
        {
            return Err((
                "gracefulRestart.restartTimeSecs",
                "at most 4095 (12 bits)".into(),
            ));
        }
        if self.fib.table == 0 || self.fib.table > 255 {
            return Err(("fib.table", "a table id from 1 to 255".into()));
        }
        let mut names = HashSet::new();
        let mut addresses = HashSet::new();
        for p in &self.peers {
            self.check_peer(p, &mut names, &mut addresses)?;
        }
        for d in &self.dynamic_peers {
            if !names.insert(d.name.as_str()) {
                return Err(("dynamicPeers.name", format!("{} is listed twice", d.name)));
            }
            if d.prefixes.is_empty() {
                return Err(("dynamicPeers.prefixes", format!("{}: empty", d.name)));
            }
            if d.peer_asn == 0 {
                return Err((
                    "dynamicPeers.peerAsn",
                    format!("{}: AS 0 is reserved", d.name),
                ));
            }
            if let Some(h) = d.hold_time {
                check_hold("dynamicPeers.holdTime", h)?;
            }
            check_common(
                &d.name,
                d.md5_key.as_deref(),
                d.ttl_security_hops,
                d.bfd.clone(),
                [&d.import, &d.export],
            )?;
        }
        if !self.dynamic_peers.is_empty() && self.listen.is_none() {
            return Err(("dynamicPeers", "dynamic peers need a listen address".into()));
        }
        let mut prefixes = HashSet::new();
        for a in &self.announce {
            if a.prefix.trunc() != a.prefix {
                return Err(("announce.prefix", format!("{} has host bits set", a.prefix)));
            }
            if !prefixes.insert(a.prefix) {
                return Err(("announce.prefix", format!("{} is listed twice", a.prefix)));
            }
            for c in &a.communities {
                c.parse::<Community>()
                    .map_err(|e| ("announce.communities", e.to_string()))?;
            }
            if a.group.as_deref().is_some_and(str::is_empty) {
                return Err(("announce.group", format!("{}: empty group name", a.prefix)));
            }
        }
        Ok(())
    }

    fn check_peer<'a>(
        &self,
        p: &'a PeerSpec,
        names: &mut HashSet<&'a str>,
        addresses: &mut HashSet<IpAddr>,
    ) -> Result<(), Refusal> {
        if !names.insert(p.name.as_str()) {
            return Err(("peers.name", format!("{} is listed twice", p.name)));
        }
        if !addresses.insert(p.address) {
            return Err(("peers.address", format!("{} is listed twice", p.address)));
        }
        if p.peer_asn == 0 {
            return Err(("peers.peerAsn", format!("{}: AS 0 is reserved", p.name)));
        }
        if let Some(h) = p.hold_time {
            check_hold("peers.holdTime", h)?;
        }
        if p.connect_retry_ms == Some(0) {
            return Err((
                "peers.connectRetryMs",
                format!("{}: must be positive", p.name),
            ));
        }
        if p.port == Some(0) {
            return Err((
                "peers.port",
                format!("{}: port 0 is not a destination", p.name),
            ));
        }
        if p.local_address
            .is_some_and(|l| l.is_ipv4() != p.address.is_ipv4())
        {
            return Err((
                "peers.localAddress",
                format!("{}: not of the peer address's family", p.name),
            ));
        }
        check_common(
            &p.name,
            p.md5_key.as_deref(),
            p.ttl_security_hops,
            p.bfd.clone(),
            [&p.import, &p.export],
        )?;
        if p.ttl_security_hops.is_some() && p.ebgp_multihop.is_some() {
            return Err((
                "peers.ebgpMultihop",
                format!("{}: GTSM and eBGP multihop exclude each other", p.name),
            ));
        }
        if p.route_reflector_client && p.peer_asn != self.asn {
            return Err((
                "peers.routeReflectorClient",
                format!("{}: only an iBGP peer can be a client", p.name),
            ));
        }
        Ok(())
    }
}

fn check_hold(field: &'static str, h: u16) -> Result<(), Refusal> {
    if h == 1 || h == 2 {
        return Err((field, "0, or 3 seconds and more (RFC 4271 §4.2)".into()));
    }
    Ok(())
}

fn check_common(
    name: &str,
    md5: Option<&str>,
    ttl_security: Option<u8>,
    bfd: Option<BfdSpec>,
    policies: [&Option<PolicySpec>; 2],
) -> Result<(), Refusal> {
    if md5.is_some_and(|k| k.is_empty() || k.len() > 80) {
        return Err(("md5Key", format!("{name}: 1 to 80 bytes")));
    }
    if ttl_security == Some(0) {
        return Err(("ttlSecurityHops", format!("{name}: at least 1")));
    }
    if let Some(b) = bfd {
        b.params()
            .validate()
            .map_err(|e| ("bfd", format!("{name}: {e}")))?;
    }
    for (field, p) in ["import", "export"].into_iter().zip(policies) {
        if let Some(p) = p {
            p.policy().map_err(|e| (field, format!("{name}: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BgpSpec, String> {
        let spec: BgpSpec = serde_json::from_str(text).map_err(|e| e.to_string())?;
        spec.check().map_err(|(f, m)| format!("{f}: {m}"))?;
        Ok(spec)
    }

    const FULL: &str = r#"{
      "name": "edge", "asn": 65000, "routerId": "10.0.0.1",
      "listen": {"address": "::", "port": 179}, "multipath": true,
      "holdTime": 9, "connectRetryMs": 1000,
      "gracefulRestart": {"restartTimeSecs": 120, "stalePathTimeSecs": 360},
      "fib": {"install": true, "table": 254, "metric": 20},
      "peers": [{"name": "BGPPeer/isp#192.0.2.1", "resource": "BGPPeer/isp",
                 "address": "192.0.2.1", "peerAsn": 65001, "passive": false,
                 "localAddress": null, "md5Key": null, "ttlSecurityHops": 1,
                 "ebgpMultihop": null, "holdTime": null, "connectRetryMs": null,
                 "import": {"allowed": ["10.0.0.0/8 le 24"], "lengthMin": null,
                            "lengthMax": null, "requiredCommunities": [],
                            "forbiddenCommunities": ["65001:666"], "localPref": 200,
                            "addCommunities": []},
                 "export": null, "maxPrefixes": 1000, "routeReflectorClient": false,
                 "bfd": {"minTxMs": 50, "minRxMs": 50, "multiplier": 3}}],
      "dynamicPeers": [{"name": "k8s", "resource": "BGPPeer/k8s",
                        "prefixes": ["10.244.0.0/16"], "peerAsn": 65100,
                        "md5Key": null, "ttlSecurityHops": null, "holdTime": null,
                        "import": null, "export": null, "maxPrefixes": null, "bfd": null}],
      "announce": [{"prefix": "203.0.113.0/24", "nextHop": null, "communities": ["65000:1"],
                    "resource": "BGPAnnouncement/web", "group": "web", "standby": {"prepend": 3}},
                   {"prefix": "2001:db8::/48", "nextHop": null, "communities": [],
                    "resource": "BGPAnnouncement/v6", "group": null, "standby": "withdraw"}]
    }"#;

    #[test]
    fn the_full_shape_parses() {
        let s = parse(FULL).expect("valid");
        assert_eq!(s.announce[0].standby, Standby::Prepend(3));
        assert_eq!(s.announce[1].standby, Standby::Withdraw);
        assert_eq!(s.multipath, MULTIPATH_WIDTH);
        let n = parse(&FULL.replace("\"multipath\": true", "\"multipath\": 4")).expect("width");
        assert_eq!(n.multipath, 4);
        let p = s.peers[0]
            .import
            .as_ref()
            .expect("import")
            .policy()
            .expect("policy");
        assert_eq!(p.local_pref, Some(200));
        let session = s.dynamic_peers[0].session("10.244.1.7".parse().expect("ip"));
        assert_eq!(session.name, "k8s#10.244.1.7");
        assert!(session.passive);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let e = parse(&FULL.replace("\"multipath\"", "\"multiPath\"")).expect_err("unknown");
        assert!(e.contains("multiPath"), "{e}");
        let e = parse(&FULL.replace("\"lengthMin\"", "\"lenMin\"")).expect_err("unknown");
        assert!(e.contains("lenMin"), "{e}");
        let e = parse(&FULL.replace("10.0.0.0/8 le 24", "10.0.0.0/8 le 4")).expect_err("rule");
        assert!(e.starts_with("import:"), "{e}");
        let e = parse(&FULL.replace("65001:666", "65001:x")).expect_err("community");
        assert!(e.contains("65001:x"), "{e}");
        let e = parse(&FULL.replace("\"holdTime\": 9", "\"holdTime\": 2")).expect_err("hold");
        assert!(e.starts_with("holdTime"), "{e}");
    }

    #[test]
    fn a_minimal_config_takes_defaults() {
        let s = parse(r#"{"name": "r", "asn": 65000, "routerId": "10.0.0.1"}"#).expect("valid");
        assert_eq!((s.hold_time, s.fib.table, s.fib.metric), (90, 254, 20));
        assert!(s.peers.is_empty() && s.listen.is_none());
    }
}
