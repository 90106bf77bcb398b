//! What an advertising interface says: [`RaConfig`], checked against
//! RFC 4861 §6.2.1 (with RFC 6275 §7.5's shorter intervals for labs),
//! RFC 4191 and RFC 8106.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::packet::{INFINITE, Preference, normalize_domain};

/// MaxRtrAdvInterval default (RFC 4861 §6.2.1).
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(600);
/// Largest MaxRtrAdvInterval (RFC 4861 §6.2.1).
pub const MAX_INTERVAL_CEIL: Duration = Duration::from_secs(1800);
/// Smallest MaxRtrAdvInterval: RFC 4861 says 4 s, RFC 6275 §7.5 allows
/// 0.07 s on links with mobile nodes; labs use a second or two.
pub const MAX_INTERVAL_FLOOR: Duration = Duration::from_millis(70);
/// Smallest MinRtrAdvInterval: RFC 4861 says 3 s, RFC 6275 §7.5 0.03 s.
pub const MIN_INTERVAL_FLOOR: Duration = Duration::from_millis(30);
/// Largest router lifetime (RFC 4861 §6.2.1: 9000 s).
pub const ROUTER_LIFETIME_CEIL: Duration = Duration::from_secs(9000);
/// Largest Reachable Time (RFC 4861 §6.2.1: 3,600,000 ms).
pub const REACHABLE_TIME_CEIL_MS: u32 = 3_600_000;
/// Smallest IPv6 link MTU (RFC 8200 §5).
pub const MIN_MTU: u32 = 1280;
/// RFC 9096 §3.1 ND_PREFERRED_LIMIT: a CE router's default preferred lifetime.
pub const ND_PREFERRED_LIMIT: Duration = Duration::from_secs(2700);
/// RFC 9096 §3.1 ND_VALID_LIMIT: a CE router's default valid lifetime.
pub const ND_VALID_LIMIT: Duration = Duration::from_secs(5400);
/// The largest RA we build: the minimum IPv6 MTU less the IPv6 header, so
/// every link carries it unfragmented (RFC 4861 §6.2.3 would split it).
pub const MAX_RA_OCTETS: usize = 1280 - 40;

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// RFC 4861 §6.2.1 (RFC 6275 §7.5 for the floor).
    #[error("maxInterval {0:?} is outside 70ms..=1800s (RFC 4861 §6.2.1, RFC 6275 §7.5)")]
    MaxInterval(Duration),
    /// RFC 4861 §6.2.1: at most 0.75 × MaxRtrAdvInterval.
    #[error("minInterval {min:?} is outside 30ms..=0.75 × maxInterval ({max:?}) (RFC 4861 §6.2.1)")]
    MinInterval {
        /// The configured MinRtrAdvInterval.
        min: Duration,
        /// The configured MaxRtrAdvInterval.
        max: Duration,
    },
    /// RFC 4861 §6.2.1: 0, or between MaxRtrAdvInterval and 9000 s.
    #[error("router lifetime {0:?} must be 0 or between maxInterval and 9000s (RFC 4861 §6.2.1)")]
    RouterLifetime(Duration),
    /// RFC 4861 §6.2.1.
    #[error("reachable time {0} ms exceeds 3600000 ms (RFC 4861 §6.2.1)")]
    ReachableTime(u32),
    /// RFC 8200 §5.
    #[error("MTU {0} is below the IPv6 minimum of 1280")]
    Mtu(u32),
    /// Link-local and multicast prefixes are never advertised (RFC 4861 §4.6.2).
    #[error("{0} cannot be advertised as a prefix (link-local or multicast)")]
    PrefixKind(Ipv6Net),
    /// RFC 4862 §5.5.3(d): addresses are formed only from /64s on Ethernet.
    #[error("{0} is not a /64: clear `autonomous` for prefixes hosts cannot autoconfigure from")]
    AutonomousNotSlash64(Ipv6Net),
    /// RFC 4861 §4.6.2: the preferred lifetime never exceeds the valid one.
    #[error("{0}: the preferred lifetime exceeds the valid lifetime")]
    PreferredAboveValid(Ipv6Net),
    /// The same prefix twice.
    #[error("{0} is listed twice")]
    DuplicatePrefix(Ipv6Net),
    /// A route to a link-local or multicast prefix.
    #[error("{0} cannot be advertised as a route (link-local or multicast)")]
    RouteKind(Ipv6Net),
    /// RFC 8106 §5.1: a unicast address of a DNS server.
    #[error("{0} cannot be a DNS server")]
    Rdnss(Ipv6Addr),
    /// RFC 8106 §5.2.
    #[error("`{0}` is not a domain name for the DNS search list")]
    Domain(String),
    /// Everything must fit one RA of at most 1240 octets.
    #[error("the advertisement would take {0} octets; at most 1240 fit the minimum MTU")]
    TooLarge(usize),
}

fn yes() -> bool {
    true
}

/// One prefix in the advertisements (a Prefix Information option).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvertisedPrefix {
    /// The prefix; host bits are cleared before it is sent.
    pub prefix: Ipv6Net,
    /// L flag: hosts treat addresses in it as on-link.
    #[serde(default = "yes")]
    pub on_link: bool,
    /// A flag: hosts autoconfigure addresses (SLAAC); only for /64s.
    #[serde(default = "yes")]
    pub autonomous: bool,
    /// Valid lifetime to advertise at most (≥ 2^32-1 s means infinity).
    pub valid: Duration,
    /// Preferred lifetime to advertise at most.
    pub preferred: Duration,
    /// When the lease the prefix came from stops being valid: the
    /// advertised valid lifetime never reaches past it (RFC 9096 §3.3).
    /// A runtime value (process-local), so not serialised.
    #[serde(skip)]
    pub lease_valid_until: Option<Instant>,
    /// When the lease's preferred lifetime ends, likewise.
    #[serde(skip)]
    pub lease_preferred_until: Option<Instant>,
}

impl AdvertisedPrefix {
    /// An on-link, autonomous prefix with RFC 9096's default lifetimes
    /// (preferred 2700 s, valid 5400 s) and no lease behind it.
    pub fn new(prefix: Ipv6Net) -> AdvertisedPrefix {
        AdvertisedPrefix {
            prefix: prefix.trunc(),
            on_link: true,
            autonomous: true,
            valid: ND_VALID_LIMIT,
            preferred: ND_PREFERRED_LIMIT,
            lease_valid_until: None,
            lease_preferred_until: None,
        }
    }

    /// The same, capped by a lease's preferred and valid deadlines.
    pub fn with_lease(
        mut self,
        preferred_until: Instant,
        valid_until: Instant,
    ) -> AdvertisedPrefix {
        self.lease_preferred_until = Some(preferred_until);
        self.lease_valid_until = Some(valid_until);
        self
    }

    /// (valid, preferred) seconds to advertise at `now`: the configured
    /// values capped by what remains of the lease (RFC 9096 §3.3), whole
    /// seconds rounded down so they never reach past it, and preferred
    /// never above valid.
    pub fn lifetimes_at(&self, now: Instant) -> (u32, u32) {
        let cap = |configured: Duration, until: Option<Instant>| -> u32 {
            let mut d = configured;
            if let Some(t) = until {
                d = d.min(t.saturating_duration_since(now));
            }
            secs(d)
        };
        let valid = cap(self.valid, self.lease_valid_until);
        let preferred = cap(self.preferred, self.lease_preferred_until).min(valid);
        (valid, preferred)
    }
}

/// Seconds on the wire: anything from 2^32-1 s up is infinity.
pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(INFINITE)
}

/// A more-specific route in the advertisements (RFC 4191 §2.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvertisedRoute {
    /// The destination prefix.
    pub prefix: Ipv6Net,
    /// Its preference.
    #[serde(default)]
    pub preference: Preference,
    /// How long hosts keep it.
    pub lifetime: Duration,
}

/// Everything one advertising interface says, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RaConfig {
    /// M flag (RFC 4861 §4.2): addresses from DHCPv6.
    pub managed: bool,
    /// O flag: other configuration (DNS...) from DHCPv6 Information-request.
    pub other: bool,
    /// Default router preference (RFC 4191 §2.2); sent as medium whenever
    /// the router lifetime is 0, as that section requires.
    pub preference: Preference,
    /// Router Lifetime: 0 says "not a default router" (what a router
    /// without upstream IPv6 must say), else MaxRtrAdvInterval..=9000 s.
    pub router_lifetime: Duration,
    /// Reachable Time in ms (0: unspecified).
    pub reachable_time_ms: u32,
    /// Retrans Timer in ms (0: unspecified).
    pub retrans_timer_ms: u32,
    /// Cur Hop Limit for hosts (0: unspecified).
    pub cur_hop_limit: u8,
    /// MTU option, if any.
    pub mtu: Option<u32>,
    /// MinRtrAdvInterval.
    pub min_interval: Duration,
    /// MaxRtrAdvInterval.
    pub max_interval: Duration,
    /// Prefix Information options.
    pub prefixes: Vec<AdvertisedPrefix>,
    /// Route Information options.
    pub routes: Vec<AdvertisedRoute>,
    /// RDNSS addresses (RFC 8106 §5.1).
    pub rdnss: Vec<Ipv6Addr>,
    /// RDNSS lifetime; `None` means 3 × MaxRtrAdvInterval (RFC 8106 §5.1).
    pub rdnss_lifetime: Option<Duration>,
    /// DNSSL domains (RFC 8106 §5.2).
    pub dnssl: Vec<String>,
    /// DNSSL lifetime; `None` means 3 × MaxRtrAdvInterval.
    pub dnssl_lifetime: Option<Duration>,
    /// Source Link-Layer Address option; the socket edge fills in the
    /// interface's MAC when this is `None`.
    pub source_mac: Option<[u8; 6]>,
}

impl Default for RaConfig {
    /// RFC 4861 §6.2.1 defaults: intervals 198..600 s, router lifetime
    /// 1800 s, hop limit 64; nothing advertised.
    fn default() -> RaConfig {
        RaConfig {
            managed: false,
            other: false,
            preference: Preference::Medium,
            router_lifetime: DEFAULT_MAX_INTERVAL * 3,
            reachable_time_ms: 0,
            retrans_timer_ms: 0,
            cur_hop_limit: 64,
            mtu: None,
            min_interval: DEFAULT_MAX_INTERVAL.mul_f64(0.33),
            max_interval: DEFAULT_MAX_INTERVAL,
            prefixes: Vec::new(),
            routes: Vec::new(),
            rdnss: Vec::new(),
            rdnss_lifetime: None,
            dnssl: Vec::new(),
            dnssl_lifetime: None,
            source_mac: None,
        }
    }
}

fn special(net: &Ipv6Net) -> bool {
    let a = net.network();
    a.is_multicast() || a.segments()[0] & 0xffc0 == 0xfe80
}

impl RaConfig {
    /// RDNSS lifetime to send (RFC 8106 §5.1 default: 3 × MaxRtrAdvInterval).
    pub fn rdnss_lifetime(&self) -> Duration {
        self.rdnss_lifetime.unwrap_or(self.max_interval * 3)
    }

    /// DNSSL lifetime to send (RFC 8106 §5.2 default: 3 × MaxRtrAdvInterval).
    pub fn dnssl_lifetime(&self) -> Duration {
        self.dnssl_lifetime.unwrap_or(self.max_interval * 3)
    }

    /// MIN_DELAY_BETWEEN_RAS (RFC 4861 §10: 3 s), shortened to
    /// MinRtrAdvInterval when that is shorter, as RFC 6275 §7.5 allows.
    pub fn min_delay_between_ras(&self) -> Duration {
        Duration::from_secs(3).min(self.min_interval)
    }

    /// Checks the configuration and returns it with prefixes normalised
    /// (host bits cleared) and domains in lower case.
    pub fn validated(mut self) -> Result<RaConfig, ConfigError> {
        if !(MAX_INTERVAL_FLOOR..=MAX_INTERVAL_CEIL).contains(&self.max_interval) {
            return Err(ConfigError::MaxInterval(self.max_interval));
        }
        if self.min_interval < MIN_INTERVAL_FLOOR
            || self.min_interval > self.max_interval.mul_f64(0.75)
        {
            return Err(ConfigError::MinInterval {
                min: self.min_interval,
                max: self.max_interval,
            });
        }
        let rl = self.router_lifetime;
        if !rl.is_zero() && (rl < self.max_interval || rl > ROUTER_LIFETIME_CEIL) {
            return Err(ConfigError::RouterLifetime(rl));
        }
        if self.reachable_time_ms > REACHABLE_TIME_CEIL_MS {
            return Err(ConfigError::ReachableTime(self.reachable_time_ms));
        }
        if let Some(mtu) = self.mtu
            && mtu < MIN_MTU
        {
            return Err(ConfigError::Mtu(mtu));
        }
        for p in &mut self.prefixes {
            p.prefix = p.prefix.trunc();
            if special(&p.prefix) {
                return Err(ConfigError::PrefixKind(p.prefix));
            }
            if p.autonomous && p.prefix.prefix_len() != 64 {
                return Err(ConfigError::AutonomousNotSlash64(p.prefix));
            }
            if p.preferred > p.valid {
                return Err(ConfigError::PreferredAboveValid(p.prefix));
            }
        }
        for (i, p) in self.prefixes.iter().enumerate() {
            if self.prefixes[..i].iter().any(|q| q.prefix == p.prefix) {
                return Err(ConfigError::DuplicatePrefix(p.prefix));
            }
        }
        for r in &mut self.routes {
            r.prefix = r.prefix.trunc();
            if special(&r.prefix) {
                return Err(ConfigError::RouteKind(r.prefix));
            }
        }
        for a in &self.rdnss {
            if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
                return Err(ConfigError::Rdnss(*a));
            }
        }
        for d in &mut self.dnssl {
            *d = normalize_domain(d).map_err(|_| ConfigError::Domain(d.clone()))?;
        }
        let size = self.encoded_size();
        if size > MAX_RA_OCTETS {
            return Err(ConfigError::TooLarge(size));
        }
        Ok(self)
    }

    /// Octets of an RA carrying everything configured (at most; RDNSS
    /// addresses may be left out at send time).
    pub(crate) fn encoded_size(&self) -> usize {
        let mut n = 16;
        if self.source_mac.is_some() {
            n += 8;
        }
        if self.mtu.is_some() {
            n += 8;
        }
        n += 32 * self.prefixes.len();
        for r in &self.routes {
            n += match r.prefix.prefix_len() {
                0 => 8,
                1..=64 => 16,
                _ => 24,
            };
        }
        if !self.rdnss.is_empty() {
            n += 8 + 16 * self.rdnss.len();
        }
        if !self.dnssl.is_empty() {
            let names: usize = self.dnssl.iter().map(|d| d.len() + 2).sum();
            n += (8 + names).div_ceil(8) * 8;
        }
        n
    }
}
