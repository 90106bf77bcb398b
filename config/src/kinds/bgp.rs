//! BGP and BFD: `BGPRouter` (one speaker: AS, router ID, policies),
//! `BGPPeer` (configured neighbours), `BGPDynamicPeer` (neighbours accepted
//! from a source prefix range), `BFD` (fast failure detection bound to a
//! peer) and `BGPAnnouncement` (prefixes this router originates, optionally
//! fenced by a Raft ownership record). Field names follow the Go routerd's
//! published schema; `BGPAnnouncement` and the fields marked "routerd" are
//! this implementation's own.
//!
//! Prefix lists: a plain `PREFIX` in `allowedPrefixes` matches that prefix
//! and every longer one inside it (what the Go examples rely on: a pod CIDR
//! /16 admits the nodes' /24s, `allowedPrefixLengthMin/Max` narrow it);
//! `PREFIX ge N le M` gives the lengths explicitly.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::When;
use super::interface::INTERFACE_KINDS;
use super::virtual_address::SecretFrom;
use crate::kind::{Checker, Kind, Resource, SetChecker};
use crate::types::{GoDuration, ResourceRef};

/// The `BGPRouter` kind.
pub struct BGPRouter;
/// The `BGPPeer` kind.
pub struct BGPPeer;
/// The `BGPDynamicPeer` kind.
pub struct BGPDynamicPeer;
/// The `BFD` kind.
pub struct BFD;
/// The `BGPAnnouncement` kind (routerd).
pub struct BGPAnnouncement;

/// AS_TRANS (RFC 6793): a placeholder in 2-octet fields, never a real AS.
const AS_TRANS: u32 = 23456;
/// TCP_MD5SIG_MAXKEYLEN.
const MD5_KEY_MAX: usize = 80;
/// RFC 4724: the restart time is a 12-bit field.
const RESTART_TIME_MAX: Duration = Duration::from_secs(4095);

/// How a router's sessions time out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimerProfile {
    /// Same as `default`.
    #[serde(rename = "")]
    Unset,
    /// Hold 90 s, keepalive 30 s, connect retry 30 s (RFC 4271's suggestions).
    Default,
    /// Hold 9 s, keepalive 3 s, connect retry 2 s: data-centre and cluster
    /// edges where a dead peer must go quickly (BFD goes faster still).
    Fast,
    /// Hold 180 s, keepalive 60 s, connect retry 60 s.
    Slow,
}

impl TimerProfile {
    /// Hold time, keepalive time, connect retry time.
    pub fn timers(self) -> (Duration, Duration, Duration) {
        match self {
            TimerProfile::Unset | TimerProfile::Default => (
                Duration::from_secs(90),
                Duration::from_secs(30),
                Duration::from_secs(30),
            ),
            TimerProfile::Fast => (
                Duration::from_secs(9),
                Duration::from_secs(3),
                Duration::from_secs(2),
            ),
            TimerProfile::Slow => (
                Duration::from_secs(180),
                Duration::from_secs(60),
                Duration::from_secs(60),
            ),
        }
    }
}

/// Session timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timers {
    /// `default`, `fast` or `slow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<TimerProfile>,
    /// Hold time offered in OPEN, 0 or 3 s..=65535 s (routerd; overrides
    /// the profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<GoDuration>,
    /// Time between connection attempts (routerd; overrides the profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_retry: Option<GoDuration>,
}

impl Timers {
    fn check(&self, path: &str, c: &mut Checker<'_>) {
        if let Some(h) = self.hold_time {
            let secs = h.0.as_secs_f64();
            if h.0.subsec_nanos() != 0 || (secs != 0.0 && !(3.0..=65535.0).contains(&secs)) {
                c.error(
                    &format!("{path}.holdTime"),
                    "the hold time is whole seconds, 0 (no keepalives) or 3s to 65535s (RFC 4271 §4.2)",
                );
            }
        }
        if let Some(r) = self.connect_retry
            && (r.0 < Duration::from_millis(100) || r.0 > Duration::from_secs(3600))
        {
            c.error(
                &format!("{path}.connectRetry"),
                "the connect retry time is 100ms to 1h",
            );
        }
    }
}

/// The convergence profile of a router: the default timer profile of its
/// sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConvergenceProfile {
    /// Same as `default`.
    #[serde(rename = "")]
    Unset,
    /// RFC timers.
    Default,
    /// Fast timers (hold 9 s).
    Fast,
    /// RFC timers, and nothing hurried.
    Stable,
}

/// Where next hops of accepted routes point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NextHopRewrite {
    /// As received.
    #[serde(rename = "")]
    Unset,
    /// The peer's own address, whatever the route says.
    PeerAddress,
    /// As received.
    Unchanged,
}

/// Import policy: what is accepted from peers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportPolicy {
    /// Accepted prefixes: `PREFIX` (it and everything longer inside it) or
    /// `PREFIX ge N le M`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_prefixes: Vec<String>,
    /// Shortest accepted prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_prefix_length_min: Option<u8>,
    /// Longest accepted prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_prefix_length_max: Option<u8>,
    /// Routes must carry every one of these communities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_communities: Vec<String>,
    /// Routes carrying any of these are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_communities: Vec<String>,
    /// LOCAL_PREF set on accepted routes (0: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_preference: Option<u32>,
    /// `peer-address` or `unchanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_rewrite: Option<NextHopRewrite>,
}

impl ImportPolicy {
    fn check(&self, path: &str, c: &mut Checker<'_>) {
        check_prefix_rules(
            &format!("{path}.allowedPrefixes"),
            &self.allowed_prefixes,
            c,
        );
        for (field, v) in [
            ("allowedPrefixLengthMin", self.allowed_prefix_length_min),
            ("allowedPrefixLengthMax", self.allowed_prefix_length_max),
        ] {
            if v.is_some_and(|v| v > 128) {
                c.error(&format!("{path}.{field}"), "a prefix length is 0..=128");
            }
        }
        if let (Some(min), Some(max)) = (
            self.allowed_prefix_length_min,
            self.allowed_prefix_length_max,
        ) && min > max
        {
            c.error(
                &format!("{path}.allowedPrefixLengthMin"),
                format!("the minimum length {min} is above the maximum {max}"),
            );
        }
        check_communities(
            &format!("{path}.requiredCommunities"),
            &self.required_communities,
            c,
        );
        check_communities(
            &format!("{path}.forbiddenCommunities"),
            &self.forbidden_communities,
            c,
        );
    }
}

/// Export policy: what is sent to peers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportPolicy {
    /// Prefixes that may be sent, in the same form as the import list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_prefixes: Vec<String>,
}

impl ExportPolicy {
    fn check(&self, path: &str, c: &mut Checker<'_>) {
        check_prefix_rules(
            &format!("{path}.allowedPrefixes"),
            &self.allowed_prefixes,
            c,
        );
    }
}

/// Which communities are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommunitySend {
    /// Standard communities.
    #[serde(rename = "")]
    Unset,
    /// Standard communities (RFC 1997).
    Standard,
    /// Extended communities (RFC 4360).
    Extended,
    /// Both.
    Both,
}

/// Communities added on the way in and out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommunitySet {
    /// Added to accepted routes.
    #[serde(default, rename = "in", skip_serializing_if = "Vec::is_empty")]
    pub on_import: Vec<String>,
    /// Added to sent routes.
    #[serde(default, rename = "out", skip_serializing_if = "Vec::is_empty")]
    pub on_export: Vec<String>,
}

/// Community handling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Communities {
    /// Communities kept on received routes; others are removed. Empty: all
    /// are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// Which kinds are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<CommunitySend>,
    /// Communities added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<CommunitySet>,
}

impl Communities {
    fn check(&self, path: &str, c: &mut Checker<'_>) {
        check_communities(&format!("{path}.accept"), &self.accept, c);
        if let Some(set) = &self.set {
            check_communities(&format!("{path}.set.in"), &set.on_import, c);
            check_communities(&format!("{path}.set.out"), &set.on_export, c);
        }
    }
}

/// Where the router accepts sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpListen {
    /// Local address (default: every address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// TCP port (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// Graceful restart (RFC 4724).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GracefulRestart {
    /// Keep a restarting peer's routes and advertise the capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How long peers keep our routes while we restart (default 120s, at
    /// most 4095s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_time: Option<GoDuration>,
    /// How long a restarting peer's routes are kept stale at most (default
    /// 360s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_path_time: Option<GoDuration>,
}

impl GracefulRestart {
    /// Whether it is on.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
    /// Restart time.
    pub fn restart_time(&self) -> Duration {
        self.restart_time.map_or(Duration::from_secs(120), |d| d.0)
    }
    /// Stale path time.
    pub fn stale_path_time(&self) -> Duration {
        self.stale_path_time
            .map_or(Duration::from_secs(360), |d| d.0)
    }
}

/// Prefixes of one source redistributed into BGP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedistributeSource {
    /// Only routes inside these prefixes (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_prefixes: Vec<String>,
}

/// Routes of this router originated into BGP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redistribute {
    /// The prefixes of this router's configured addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<RedistributeSource>,
    /// The destinations of this router's configured routes.
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_routes: Option<RedistributeSource>,
}

/// The old route watcher of the Go routerd (which polled GoBGP); routerd's
/// routes are pushed, so only `maxPrefixes` has a meaning: the default
/// max-prefix limit of every session of the router.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Watcher {
    /// Not used: nothing is polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<GoDuration>,
    /// Default max-prefix limit per session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefixes: Option<u32>,
    /// Not used: session changes are reported as they happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_state_change_throttle: Option<GoDuration>,
}

/// BGP implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BgpBackend {
    /// routerd's own speaker.
    #[serde(rename = "")]
    Native,
    /// The Go routerd's embedded GoBGP: routerd runs its own speaker
    /// instead.
    Gobgp,
}

/// Kernel routing table of learned routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpFib {
    /// Install best routes into the kernel (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<bool>,
    /// Kernel table (default main, 254).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Route metric (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// Install equal paths as one multipath route (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipath: Option<bool>,
}

/// Spec of a `BGPRouter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPRouterSpec {
    /// Local AS number (4-octet).
    pub asn: u32,
    /// BGP identifier, an IPv4 address.
    #[serde(rename = "routerID")]
    pub router_id: String,
    /// Where sessions are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<BgpListen>,
    /// Default import policy of the router's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<ImportPolicy>,
    /// Default export policy of the router's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<ExportPolicy>,
    /// Local routes originated into BGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redistribute: Option<Redistribute>,
    /// Graceful restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,
    /// Session timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// Community handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<Communities>,
    /// `default`, `fast` or `stable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence_profile: Option<ConvergenceProfile>,
    /// See [`Watcher`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher: Option<Watcher>,
    /// `gobgp` is accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BgpBackend>,
    /// The VRF the router's sessions and routes live in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Kernel installation of learned routes (routerd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fib: Option<BgpFib>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl BGPRouterSpec {
    /// The router ID.
    pub fn router_id(&self) -> Option<Ipv4Addr> {
        self.router_id.parse().ok()
    }

    /// The timer profile sessions use unless they say otherwise.
    pub fn timer_profile(&self) -> TimerProfile {
        match self.timers.as_ref().and_then(|t| t.profile) {
            Some(p) if p != TimerProfile::Unset => p,
            _ => match self.convergence_profile {
                Some(ConvergenceProfile::Fast) => TimerProfile::Fast,
                _ => TimerProfile::Default,
            },
        }
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.listen.as_ref().and_then(|l| l.port).unwrap_or(179)
    }
}

impl Kind for BGPRouter {
    const KIND: &'static str = "BGPRouter";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = BGPRouterSpec;

    fn check(spec: &BGPRouterSpec, c: &mut Checker<'_>) {
        check_asn("spec.asn", spec.asn, c);
        match spec.router_id.parse::<Ipv4Addr>() {
            Ok(id) if id.is_unspecified() || id.is_broadcast() || id.is_multicast() => c.error(
                "spec.routerID",
                format!("`{id}` cannot be a BGP identifier (RFC 6286: a nonzero unicast-looking 32-bit value)"),
            ),
            Ok(_) => {}
            Err(_) => c.error(
                "spec.routerID",
                format!(
                    "`{}` is not an IPv4 address; the BGP identifier is written as one",
                    spec.router_id
                ),
            ),
        }
        if let Some(listen) = &spec.listen {
            if let Some(a) = &listen.address
                && a.parse::<IpAddr>().is_err()
            {
                c.error("spec.listen.address", format!("`{a}` is not an IP address"));
            }
            if listen.port == Some(0) {
                c.error(
                    "spec.listen.port",
                    "port 0 cannot be listened on (1..=65535)",
                );
            }
        }
        if let Some(p) = &spec.import_policy {
            p.check("spec.importPolicy", c);
        }
        if let Some(p) = &spec.export_policy {
            p.check("spec.exportPolicy", c);
        }
        if let Some(r) = &spec.redistribute {
            if let Some(s) = &r.connected {
                check_prefix_rules(
                    "spec.redistribute.connected.allowedPrefixes",
                    &s.allowed_prefixes,
                    c,
                );
            }
            if let Some(s) = &r.static_routes {
                check_prefix_rules(
                    "spec.redistribute.static.allowedPrefixes",
                    &s.allowed_prefixes,
                    c,
                );
            }
        }
        if let Some(gr) = &spec.graceful_restart {
            if gr.restart_time() > RESTART_TIME_MAX || gr.restart_time().subsec_nanos() != 0 {
                c.error(
                    "spec.gracefulRestart.restartTime",
                    "the restart time is whole seconds up to 4095s (a 12-bit field, RFC 4724)",
                );
            }
            if gr.stale_path_time() < Duration::from_secs(1) {
                c.error(
                    "spec.gracefulRestart.stalePathTime",
                    "the stale path time is at least 1s",
                );
            }
        }
        if let Some(t) = &spec.timers {
            t.check("spec.timers", c);
        }
        if let Some(cm) = &spec.communities {
            cm.check("spec.communities", c);
        }
        if let Some(w) = &spec.watcher
            && w.max_prefixes == Some(0)
        {
            c.error(
                "spec.watcher.maxPrefixes",
                "a limit of 0 prefixes refuses every route",
            );
        }
        if spec.backend == Some(BgpBackend::Gobgp) {
            c.warn(
                "spec.backend",
                "routerd speaks BGP itself (routerd-bgp); backend gobgp is ignored",
            );
        }
        if spec.vrf.is_some() {
            c.warn(
                "spec.vrf",
                "VRF-bound BGP routers are not implemented yet: this router is not started (it never runs in the main table instead)",
            );
        }
        if let Some(f) = &spec.fib
            && f.table == Some(0)
        {
            c.error("spec.fib.table", "table 0 is not a routing table");
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &BGPRouterSpec)], c: &mut SetChecker<'_>) {
        // Two routers in one table and address space would listen on the
        // same socket.
        let mut seen: BTreeMap<(Option<&str>, u16, Option<&str>), &Resource> = BTreeMap::new();
        for (r, spec) in items {
            let key = (
                spec.listen.as_ref().and_then(|l| l.address.as_deref()),
                spec.port(),
                spec.vrf.as_deref(),
            );
            if let Some(first) = seen.get(&key) {
                c.error(
                    r,
                    "spec.listen",
                    format!(
                        "listens on the same address and port as {}; give each router its own listen address or port",
                        first.id()
                    ),
                );
            } else {
                seen.insert(key, r);
            }
        }
    }
}

/// Where a peer's MD5 password comes from.
pub type PasswordFrom = SecretFrom;

/// Spec of a `BGPPeer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPPeerSpec {
    /// The `BGPRouter` the sessions belong to.
    pub router_ref: ResourceRef,
    /// The neighbours' AS number; the router's own AS makes them iBGP.
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    /// Neighbour addresses, one session each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Wait for the neighbours to connect; never connect out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// TCP MD5 signature password (RFC 2385).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The password read from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<PasswordFrom>,
    /// eBGP neighbours this many hops away (TTL of our packets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multihop: Option<u8>,
    /// TTL security (GTSM, RFC 5082): accept only packets from neighbours at
    /// most this many hops away (routerd; 1: directly connected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_security_hops: Option<u8>,
    /// The `BFD` resource guarding the sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<ResourceRef>,
    /// Session timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// Import policy (replaces the router's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<ImportPolicy>,
    /// Export policy (replaces the router's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<ExportPolicy>,
    /// Reflect iBGP routes to these neighbours (RFC 4456).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reflector_client: Option<bool>,
    /// Cluster ID when reflecting (default: the router ID).
    #[serde(
        default,
        rename = "routeReflectorClusterID",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_reflector_cluster_id: Option<String>,
    /// Community handling (replaces the router's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<Communities>,
    /// Close a session whose neighbour sends more prefixes (routerd;
    /// default: the router's watcher.maxPrefixes, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefixes: Option<u32>,
    /// Our address on the sessions (routerd; default: chosen by routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_address: Option<String>,
    /// The neighbours' TCP port (routerd; default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl BGPPeerSpec {
    /// The neighbour addresses that parse.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.peers.iter().filter_map(|p| p.parse().ok()).collect()
    }
}

impl Kind for BGPPeer {
    const KIND: &'static str = "BGPPeer";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = BGPPeerSpec;

    fn check(spec: &BGPPeerSpec, c: &mut Checker<'_>) {
        check_router_ref("spec.routerRef", &spec.router_ref, c);
        check_asn("spec.peerASN", spec.peer_asn, c);
        if spec.peers.is_empty() {
            c.error(
                "spec.peers",
                "a BGPPeer needs at least one neighbour address",
            );
        }
        let mut seen = Vec::new();
        for (i, p) in spec.peers.iter().enumerate() {
            match p.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() || a.is_multicast() || a.is_loopback() => c.error(
                    &format!("spec.peers[{i}]"),
                    format!("`{a}` cannot be a BGP neighbour"),
                ),
                Ok(a) if seen.contains(&a) => c.error(
                    &format!("spec.peers[{i}]"),
                    format!("`{a}` is listed twice"),
                ),
                Ok(a) => seen.push(a),
                Err(_) => c.error(
                    &format!("spec.peers[{i}]"),
                    format!("`{p}` is not an IP address"),
                ),
            }
        }
        check_session(
            &SessionFields {
                password: spec.password.as_deref(),
                password_from: spec.password_from.as_ref(),
                ebgp_multihop: spec.ebgp_multihop,
                ttl_security_hops: spec.ttl_security_hops,
                bfd: spec.bfd.as_ref(),
                timers: spec.timers.as_ref(),
                import_policy: spec.import_policy.as_ref(),
                export_policy: spec.export_policy.as_ref(),
                cluster_id: spec.route_reflector_cluster_id.as_deref(),
                communities: spec.communities.as_ref(),
                max_prefixes: spec.max_prefixes,
            },
            c,
        );
        if let Some(a) = &spec.local_address
            && a.parse::<IpAddr>().is_err()
        {
            c.error("spec.localAddress", format!("`{a}` is not an IP address"));
        }
        if spec.port == Some(0) {
            c.error("spec.port", "port 0 is not a destination (1..=65535)");
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }

    fn check_all(items: &[(&Resource, &BGPPeerSpec)], c: &mut SetChecker<'_>) {
        let mut seen: BTreeMap<(String, IpAddr), &Resource> = BTreeMap::new();
        for (r, spec) in items {
            for (i, a) in spec.peers.iter().enumerate() {
                let Ok(a) = a.parse::<IpAddr>() else { continue };
                let key = (spec.router_ref.name.clone(), a);
                match seen.get(&key) {
                    Some(first) if first.id() != r.id() => c.error(
                        r,
                        &format!("spec.peers[{i}]"),
                        format!(
                            "neighbour {a} of {} is also in {}: one session per neighbour",
                            spec.router_ref,
                            first.id()
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        seen.insert(key, r);
                    }
                }
            }
        }
    }
}

/// Which sources a dynamic peer accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DynamicListen {
    /// Source address ranges whose connections become sessions.
    pub source_prefixes: Vec<String>,
}

/// Spec of a `BGPDynamicPeer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPDynamicPeerSpec {
    /// The `BGPRouter` the sessions belong to.
    pub router_ref: ResourceRef,
    /// The neighbours' AS number.
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    /// Which sources are accepted.
    pub listen: DynamicListen,
    /// TCP MD5 signature password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The password read from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<PasswordFrom>,
    /// eBGP neighbours this many hops away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multihop: Option<u8>,
    /// TTL security (routerd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_security_hops: Option<u8>,
    /// The `BFD` resource guarding the sessions (routerd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<ResourceRef>,
    /// Session timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// Import policy (replaces the router's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<ImportPolicy>,
    /// Export policy (replaces the router's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_policy: Option<ExportPolicy>,
    /// Reflect iBGP routes to these neighbours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reflector_client: Option<bool>,
    /// Cluster ID when reflecting.
    #[serde(
        default,
        rename = "routeReflectorClusterID",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_reflector_cluster_id: Option<String>,
    /// Max-prefix limit per session (routerd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefixes: Option<u32>,
    /// How many sessions the range may hold at once (routerd; default 100):
    /// a scan of the range cannot exhaust the router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl BGPDynamicPeerSpec {
    /// The source ranges that parse.
    pub fn prefixes(&self) -> Vec<IpNet> {
        self.listen
            .source_prefixes
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Kind for BGPDynamicPeer {
    const KIND: &'static str = "BGPDynamicPeer";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = BGPDynamicPeerSpec;

    fn check(spec: &BGPDynamicPeerSpec, c: &mut Checker<'_>) {
        check_router_ref("spec.routerRef", &spec.router_ref, c);
        check_asn("spec.peerASN", spec.peer_asn, c);
        if spec.listen.source_prefixes.is_empty() {
            c.error(
                "spec.listen.sourcePrefixes",
                "a dynamic peer needs at least one source prefix",
            );
        }
        for (i, p) in spec.listen.source_prefixes.iter().enumerate() {
            let path = format!("spec.listen.sourcePrefixes[{i}]");
            match p.parse::<IpNet>() {
                Ok(net) if net.trunc() != net => c.error(
                    &path,
                    format!("`{p}` has host bits set; the range is {}", net.trunc()),
                ),
                Ok(_) => {}
                Err(_) => c.error(&path, format!("`{p}` is not a prefix (ADDRESS/LENGTH)")),
            }
        }
        check_session(
            &SessionFields {
                password: spec.password.as_deref(),
                password_from: spec.password_from.as_ref(),
                ebgp_multihop: spec.ebgp_multihop,
                ttl_security_hops: spec.ttl_security_hops,
                bfd: spec.bfd.as_ref(),
                timers: spec.timers.as_ref(),
                import_policy: spec.import_policy.as_ref(),
                export_policy: spec.export_policy.as_ref(),
                cluster_id: spec.route_reflector_cluster_id.as_deref(),
                communities: None,
                max_prefixes: spec.max_prefixes,
            },
            c,
        );
        if spec.max_sessions == Some(0) {
            c.error("spec.maxSessions", "a limit of 0 sessions accepts nobody");
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}

/// BFD timer presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BfdProfile {
    /// Same as `normal`.
    #[serde(rename = "")]
    Unset,
    /// 50 ms × 3: a dead peer is seen in 150 ms.
    Fast,
    /// 300 ms × 3.
    Normal,
    /// 1 s × 3.
    Slow,
}

/// Spec of a `BFD` session set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BFDSpec {
    /// What is watched: a `BGPPeer/name` or `BGPDynamicPeer/name` (every
    /// session of it), or one neighbour address.
    pub peer: String,
    /// The `Interface` the neighbours are on (single-hop BFD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Slowest rate we accept the neighbour's packets at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rx: Option<GoDuration>,
    /// The rate we would like to send at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tx: Option<GoDuration>,
    /// Packets missed before the session is Down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect_multiplier: Option<u8>,
    /// `fast`, `normal` or `slow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<BfdProfile>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// What a `BFD` resource's `peer` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BfdTarget {
    /// Every session of a peer resource.
    Resource(ResourceRef),
    /// One neighbour.
    Address(IpAddr),
}

impl BFDSpec {
    /// What `peer` names.
    pub fn target(&self) -> Option<BfdTarget> {
        if let Ok(a) = self.peer.parse::<IpAddr>() {
            return Some(BfdTarget::Address(a));
        }
        self.peer.parse().ok().map(BfdTarget::Resource)
    }

    /// Required min RX, desired min TX, detect multiplier.
    pub fn timers(&self) -> (Duration, Duration, u8) {
        let base = match self.profile {
            Some(BfdProfile::Fast) => Duration::from_millis(50),
            Some(BfdProfile::Slow) => Duration::from_secs(1),
            _ => Duration::from_millis(300),
        };
        (
            self.min_rx.map_or(base, |d| d.0),
            self.min_tx.map_or(base, |d| d.0),
            self.detect_multiplier.unwrap_or(3),
        )
    }
}

impl Kind for BFD {
    const KIND: &'static str = "BFD";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = BFDSpec;

    fn check(spec: &BFDSpec, c: &mut Checker<'_>) {
        match spec.target() {
            Some(BfdTarget::Resource(r)) if r.kind == "BGPPeer" || r.kind == "BGPDynamicPeer" => {
                c.reference_to("spec.peer", &r)
            }
            Some(BfdTarget::Resource(r)) => c.error(
                "spec.peer",
                format!("BFD guards BGP sessions: name a BGPPeer or BGPDynamicPeer, not {r}"),
            ),
            Some(BfdTarget::Address(_)) => {}
            None => c.error(
                "spec.peer",
                format!(
                    "`{}` is neither a neighbour address nor a BGPPeer/name reference",
                    spec.peer
                ),
            ),
        }
        if let Some(i) = &spec.interface {
            c.reference_one_of("spec.interface", INTERFACE_KINDS, i);
        }
        for (field, d) in [("minRx", spec.min_rx), ("minTx", spec.min_tx)] {
            if let Some(d) = d
                && (d.0 < Duration::from_millis(10) || d.0 > Duration::from_secs(60))
            {
                c.error(
                    &format!("spec.{field}"),
                    "BFD intervals are 10ms to 60s here (finer timers need a hardware path)",
                );
            }
        }
        if let Some(m) = spec.detect_multiplier
            && !(1..=50).contains(&m)
        {
            c.error("spec.detectMultiplier", "the detect multiplier is 1..=50");
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}

/// What a standby router does with a fenced announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StandbyAction {
    /// Send nothing (default).
    Withdraw,
    /// Announce with our AS prepended `prepend` more times, so peers
    /// prefer the owner and fall back at once when it goes.
    Prepend,
}

/// The standby side of a fenced announcement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Standby {
    /// `withdraw` or `prepend`.
    pub action: StandbyAction,
    /// Extra copies of our AS on the standby's path (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepend: Option<u8>,
}

/// Spec of a `BGPAnnouncement` (routerd): prefixes the router originates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BGPAnnouncementSpec {
    /// The `BGPRouter` that announces.
    pub router_ref: ResourceRef,
    /// Announced prefixes (IPv4 and IPv6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Next hop (default: our session address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
    /// Communities attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Announce only from the node that owns this `VirtualAddress`'s
    /// virtual router in committed Raft state (fencing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ResourceRef>,
    /// What the other nodes do (default: withdraw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<Standby>,
    /// Apply only while these conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

impl BGPAnnouncementSpec {
    /// The prefixes that parse.
    pub fn nets(&self) -> Vec<IpNet> {
        self.prefixes
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Kind for BGPAnnouncement {
    const KIND: &'static str = "BGPAnnouncement";
    const API_VERSION: &'static str = "net.routerd.net/v1alpha1";
    type Spec = BGPAnnouncementSpec;

    fn check(spec: &BGPAnnouncementSpec, c: &mut Checker<'_>) {
        check_router_ref("spec.routerRef", &spec.router_ref, c);
        if spec.prefixes.is_empty() {
            c.error("spec.prefixes", "an announcement needs at least one prefix");
        }
        for (i, p) in spec.prefixes.iter().enumerate() {
            let path = format!("spec.prefixes[{i}]");
            match p.parse::<IpNet>() {
                Ok(net) if net.trunc() != net => c.error(
                    &path,
                    format!("`{p}` has host bits set; the prefix is {}", net.trunc()),
                ),
                Ok(_) => {}
                Err(_) => c.error(&path, format!("`{p}` is not a prefix (ADDRESS/LENGTH)")),
            }
        }
        if let Some(nh) = &spec.next_hop {
            match nh.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() || a.is_multicast() => {
                    c.error("spec.nextHop", format!("`{a}` cannot be a next hop"))
                }
                Ok(_) => {}
                Err(_) => c.error("spec.nextHop", format!("`{nh}` is not an IP address")),
            }
        }
        check_communities("spec.communities", &spec.communities, c);
        if let Some(owner) = &spec.owner {
            if owner.kind == "VirtualAddress" {
                c.reference_to("spec.owner", owner);
            } else {
                c.error(
                    "spec.owner",
                    format!(
                        "ownership comes from a VirtualAddress's virtual router (VirtualAddress/name), not {owner}"
                    ),
                );
            }
        }
        if let Some(s) = &spec.standby {
            if spec.owner.is_none() {
                c.error(
                    "spec.standby",
                    "standby applies to fenced announcements: give spec.owner",
                );
            }
            match (s.action, s.prepend) {
                (StandbyAction::Withdraw, Some(_)) => {
                    c.error("spec.standby.prepend", "prepend is for action: prepend")
                }
                (StandbyAction::Prepend, Some(n)) if !(1..=16).contains(&n) => {
                    c.error("spec.standby.prepend", "prepend our AS 1 to 16 more times")
                }
                _ => {}
            }
        }
        if let Some(when) = &spec.when {
            when.check("spec.when", c);
        }
    }
}

/// Session fields BGPPeer and BGPDynamicPeer share.
struct SessionFields<'a> {
    password: Option<&'a str>,
    password_from: Option<&'a PasswordFrom>,
    ebgp_multihop: Option<u8>,
    ttl_security_hops: Option<u8>,
    bfd: Option<&'a ResourceRef>,
    timers: Option<&'a Timers>,
    import_policy: Option<&'a ImportPolicy>,
    export_policy: Option<&'a ExportPolicy>,
    cluster_id: Option<&'a str>,
    communities: Option<&'a Communities>,
    max_prefixes: Option<u32>,
}

fn check_session(s: &SessionFields<'_>, c: &mut Checker<'_>) {
    match (s.password, s.password_from) {
        (Some(_), Some(_)) => c.error(
            "spec.passwordFrom",
            "give password or passwordFrom, not both",
        ),
        (Some(""), None) => c.error("spec.password", "an empty password; drop the field instead"),
        (Some(p), None) if p.len() > MD5_KEY_MAX => c.error(
            "spec.password",
            format!(
                "the TCP MD5 key is at most {MD5_KEY_MAX} bytes (this one has {})",
                p.len()
            ),
        ),
        (None, Some(from)) => match (&from.env, &from.file) {
            (Some(_), Some(_)) | (None, None) => {
                c.error("spec.passwordFrom", "name exactly one source: env or file")
            }
            _ => {}
        },
        _ => {}
    }
    if s.ebgp_multihop == Some(0) {
        c.error("spec.ebgpMultihop", "ebgpMultihop is a hop count, 1..=255");
    }
    match s.ttl_security_hops {
        Some(0) | Some(255) => c.error(
            "spec.ttlSecurityHops",
            "TTL security accepts neighbours 1..=254 hops away",
        ),
        Some(_) if s.ebgp_multihop.is_some() => c.error(
            "spec.ttlSecurityHops",
            "TTL security and ebgpMultihop exclude each other (RFC 5082 sends TTL 255)",
        ),
        _ => {}
    }
    if let Some(bfd) = s.bfd {
        if bfd.kind == "BFD" {
            c.reference_to("spec.bfd", bfd);
        } else {
            c.error(
                "spec.bfd",
                format!("name a BFD resource (BFD/name), not {bfd}"),
            );
        }
    }
    if let Some(t) = s.timers {
        t.check("spec.timers", c);
    }
    if let Some(p) = s.import_policy {
        p.check("spec.importPolicy", c);
    }
    if let Some(p) = s.export_policy {
        p.check("spec.exportPolicy", c);
    }
    if let Some(id) = s.cluster_id
        && id.parse::<Ipv4Addr>().is_err()
    {
        c.error(
            "spec.routeReflectorClusterID",
            format!("`{id}` is not a cluster ID (written as an IPv4 address)"),
        );
    }
    if let Some(cm) = s.communities {
        cm.check("spec.communities", c);
    }
    if s.max_prefixes == Some(0) {
        c.error(
            "spec.maxPrefixes",
            "a limit of 0 prefixes refuses every route",
        );
    }
}

fn check_router_ref(path: &str, r: &ResourceRef, c: &mut Checker<'_>) {
    if r.kind == BGPRouter::KIND {
        c.reference_to(path, r);
    } else {
        c.error(path, format!("name a BGPRouter (BGPRouter/name), not {r}"));
    }
}

fn check_asn(path: &str, asn: u32, c: &mut Checker<'_>) {
    match asn {
        0 => c.error(path, "AS 0 is reserved (RFC 7607)"),
        AS_TRANS => c.error(
            path,
            "AS 23456 is AS_TRANS, a placeholder for 4-octet ASNs (RFC 6793), never a real AS",
        ),
        _ => {}
    }
}

/// A prefix-list entry: `PREFIX` (it and everything longer inside it) or
/// `PREFIX [ge N] [le M]`. Returns the prefix and the matched lengths.
pub fn parse_prefix_rule(text: &str) -> Result<(IpNet, u8, u8), String> {
    let bad = || {
        format!(
            "`{text}` is not a prefix-list entry: PREFIX (matching it and every longer prefix inside), or PREFIX ge N le M"
        )
    };
    let mut words = text.split_whitespace();
    let prefix: IpNet = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if prefix.trunc() != prefix {
        return Err(format!(
            "`{text}` has host bits set; the prefix is {}",
            prefix.trunc()
        ));
    }
    let (len, max) = (prefix.prefix_len(), prefix.max_prefix_len());
    let (mut ge, mut le) = (None, None);
    while let Some(w) = words.next() {
        let n: u8 = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        match w {
            "ge" if ge.is_none() => ge = Some(n),
            "le" if le.is_none() => le = Some(n),
            _ => return Err(bad()),
        }
    }
    let ge = ge.unwrap_or(len);
    let le = le.unwrap_or(max);
    if !(len <= ge && ge <= le && le <= max) {
        return Err(format!(
            "`{text}`: need {len} <= ge <= le <= {max} (the prefix's length, the family's maximum)"
        ));
    }
    Ok((prefix, ge, le))
}

fn check_prefix_rules(path: &str, rules: &[String], c: &mut Checker<'_>) {
    for (i, r) in rules.iter().enumerate() {
        if let Err(e) = parse_prefix_rule(r) {
            c.error(&format!("{path}[{i}]"), e);
        }
    }
}

/// A standard community (RFC 1997): `ASN:VALUE` (16 bits each) or a
/// well-known name. Large communities (RFC 8092) are not carried yet and
/// are refused rather than ignored.
pub fn check_community(text: &str) -> Result<(), String> {
    let named = [
        "no-export",
        "no-advertise",
        "no-export-subconfed",
        "local-as",
        "blackhole",
        "graceful-shutdown",
    ];
    if named.contains(&text.to_ascii_lowercase().replace('_', "-").as_str()) {
        return Ok(());
    }
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [a, v] if a.parse::<u16>().is_ok() && v.parse::<u16>().is_ok() => Ok(()),
        [_, _, _] => Err(format!(
            "`{text}` is a large community (RFC 8092), which this build does not carry yet; use ASN:VALUE"
        )),
        _ => Err(format!(
            "`{text}` is not a community: ASN:VALUE (each 0-65535), or no-export, no-advertise, no-export-subconfed, blackhole, graceful-shutdown"
        )),
    }
}

fn check_communities(path: &str, list: &[String], c: &mut Checker<'_>) {
    for (i, x) in list.iter().enumerate() {
        if let Err(e) = check_community(x) {
            c.error(&format!("{path}[{i}]"), e);
        }
    }
}
