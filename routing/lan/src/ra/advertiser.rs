//! When to send which Router Advertisement: the advertising-interface side
//! of RFC 4861 §6.2, pure (time comes in as `now`, randomness as a
//! [`Jitter`]), plus honest deprecation of prefixes that leave the
//! configuration and RFC 9096 §3.3's lease-capped lifetimes.
//!
//! One timer: `next_send`, the next multicast RA. It is set
//! - after every RA, to a uniform random time in [MinRtrAdvInterval,
//!   MaxRtrAdvInterval] (§6.2.4), at most MAX_INITIAL_RTR_ADVERT_INTERVAL
//!   while a burst of fast RAs lasts (the first three after the interface
//!   starts advertising, or after what it advertises changes, §6.2.4);
//! - earlier by a Router Solicitation, to a random time within
//!   MAX_RA_DELAY_TIME, but never within MIN_DELAY_BETWEEN_RAS of the last
//!   multicast RA (§6.2.6);
//! - to "as soon as the rate limit allows" by a configuration change.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;
use routerd_dhcpv6_core::Jitter;
use routerd_dhcpv6_core::retransmit::random_delay;
use serde::Serialize;

use super::config::{AdvertisedPrefix, ConfigError, MAX_RA_OCTETS, RaConfig, secs};
use super::packet::{
    NdOption, PacketError, Preference, PrefixInfo, RouteInfo, RouterAdvert, RouterSolicit, parse_rs,
};
use super::stats::{RaStats, add, bump};

/// RFC 4861 §10: fast RAs when an interface starts advertising.
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u8 = 3;
/// RFC 4861 §10: the longest gap between those first RAs.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
/// RFC 4861 §10: the longest random delay before answering a solicitation.
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);
/// How many RAs carry a removed prefix with lifetimes 0 before it is
/// dropped: as many as a burst holds, so all go out promptly.
pub const DEPRECATION_ADVERTS: u8 = 3;

/// Why an RA is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AdvertKind {
    /// Periodic, initial or after a change.
    Unsolicited,
    /// Answering a Router Solicitation (sent multicast, RFC 4861 §6.2.6).
    Solicited,
    /// The last one, router lifetime 0 (RFC 4861 §6.2.5).
    Final,
}

/// An RA to put on the wire now, to ff02::1 from the link-local address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Why.
    pub kind: AdvertKind,
    /// The message.
    pub advert: RouterAdvert,
    /// The encoded message (checksum left to the kernel).
    pub bytes: Vec<u8>,
}

/// What a configuration update did to the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing hosts would see; the schedule stands.
    None,
    /// Only a lease was extended: one prompt RA refreshes hosts' lifetimes.
    Refresh,
    /// What is advertised changed: a prompt burst of fast RAs (RFC 4861
    /// §6.2.4), removed prefixes deprecated in them.
    Burst,
}

/// A point where another router's RA contradicts ours (RFC 4861 §6.2.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "field")]
pub enum Inconsistency {
    /// Cur Hop Limit (both non-zero).
    CurHopLimit {
        /// Ours.
        ours: u8,
        /// Theirs.
        theirs: u8,
    },
    /// M flag.
    Managed {
        /// Ours.
        ours: bool,
        /// Theirs.
        theirs: bool,
    },
    /// O flag.
    Other {
        /// Ours.
        ours: bool,
        /// Theirs.
        theirs: bool,
    },
    /// Reachable Time (both non-zero).
    ReachableTime {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// Retrans Timer (both non-zero).
    RetransTimer {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// MTU option.
    Mtu {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// A prefix both advertise with different fixed lifetimes.
    PrefixLifetimes {
        /// The prefix.
        prefix: Ipv6Net,
        /// Ours (valid, preferred).
        ours: (u32, u32),
        /// Theirs (valid, preferred).
        theirs: (u32, u32),
    },
}

/// A prefix that left the configuration and is being deprecated.
#[derive(Debug, Clone)]
struct Withdrawn {
    prefix: Ipv6Net,
    on_link: bool,
    autonomous: bool,
    sends_left: u8,
}

/// The RA scheduler and builder of one advertising interface.
#[derive(Debug)]
pub struct Advertiser {
    config: RaConfig,
    stats: Arc<RaStats>,
    next_send: Instant,
    next_solicited: bool,
    burst_left: u8,
    last_sent: Option<Instant>,
    withdrawn: Vec<Withdrawn>,
    stopped: bool,
}

/// A uniform random duration in [lo, hi].
fn uniform(lo: Duration, hi: Duration, jitter: &mut dyn Jitter) -> Duration {
    lo + random_delay(hi.saturating_sub(lo), jitter)
}

impl Advertiser {
    /// Starts advertising at `now`: the first RA is due at once, and the
    /// first three come at most 16 s apart (RFC 4861 §6.2.4).
    pub fn new(
        config: RaConfig,
        now: Instant,
        stats: Arc<RaStats>,
    ) -> Result<Advertiser, ConfigError> {
        Ok(Advertiser {
            config: config.validated()?,
            stats,
            next_send: now,
            next_solicited: false,
            burst_left: MAX_INITIAL_RTR_ADVERTISEMENTS,
            last_sent: None,
            withdrawn: Vec::new(),
            stopped: false,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RaConfig {
        &self.config
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<RaStats> {
        &self.stats
    }

    /// Prefixes being deprecated (announced with lifetimes 0) right now.
    pub fn deprecating(&self) -> Vec<Ipv6Net> {
        self.withdrawn.iter().map(|w| w.prefix).collect()
    }

    /// When [`Advertiser::poll`] next has something to send; `None` once
    /// stopped.
    pub fn next_deadline(&self) -> Option<Instant> {
        (!self.stopped).then_some(self.next_send)
    }

    /// The earliest a multicast RA may go out: now, unless the last one was
    /// less than MIN_DELAY_BETWEEN_RAS ago (RFC 4861 §6.2.4, §6.2.6).
    fn earliest(&self, now: Instant) -> Instant {
        match self.last_sent {
            Some(last) => now.max(last + self.config.min_delay_between_ras()),
            None => now,
        }
    }

    /// Time to the next unsolicited RA after one sent now (§6.2.4).
    fn interval(&self, jitter: &mut dyn Jitter) -> Duration {
        let i = uniform(self.config.min_interval, self.config.max_interval, jitter);
        if self.burst_left > 0 {
            i.min(MAX_INITIAL_RTR_ADVERT_INTERVAL)
        } else {
            i
        }
    }

    /// The RA due at `now`, if one is; the schedule moves on.
    pub fn poll(&mut self, now: Instant, jitter: &mut dyn Jitter) -> Option<Outgoing> {
        if self.stopped || now < self.next_send {
            return None;
        }
        let kind = if self.next_solicited {
            AdvertKind::Solicited
        } else {
            AdvertKind::Unsolicited
        };
        let (advert, included, dropped) = self.compose(now, false);
        for w in self.withdrawn.iter_mut().take(included) {
            w.sends_left = w.sends_left.saturating_sub(1);
        }
        self.withdrawn.retain(|w| w.sends_left > 0);
        add(&self.stats.deprecations_sent, included as u64);
        add(&self.stats.rdnss_dropped, dropped);
        bump(match kind {
            AdvertKind::Solicited => &self.stats.solicited_sent,
            _ => &self.stats.unsolicited_sent,
        });
        self.last_sent = Some(now);
        self.burst_left = self.burst_left.saturating_sub(1);
        self.next_send = now + self.interval(jitter);
        self.next_solicited = false;
        match advert.encode() {
            Ok(bytes) => Some(Outgoing {
                kind,
                advert,
                bytes,
            }),
            Err(e) => {
                // Validation keeps this from happening; never send half an RA.
                tracing::error!("cannot encode a router advertisement: {e}");
                None
            }
        }
    }

    /// The RA [`Advertiser::poll`] returned did not leave (a send error):
    /// the deprecations it carried are owed again, so a removed prefix
    /// still gets its lifetime-0 announcements once the link is back.
    pub fn unsent(&mut self, out: &Outgoing) {
        for p in out.advert.prefixes() {
            if p.valid != 0 || p.preferred != 0 {
                continue;
            }
            let Ok(net) = Ipv6Net::new(p.prefix, p.prefix_len) else {
                continue;
            };
            if self.config.prefixes.iter().any(|c| c.prefix == net) {
                continue;
            }
            match self.withdrawn.iter_mut().find(|w| w.prefix == net) {
                Some(w) => w.sends_left = (w.sends_left + 1).min(DEPRECATION_ADVERTS),
                None => self.withdrawn.push(Withdrawn {
                    prefix: net,
                    on_link: p.on_link,
                    autonomous: p.autonomous,
                    sends_left: 1,
                }),
            }
        }
    }

    /// A Router Solicitation arrived from `src` (its hop limit already
    /// checked): validates it (RFC 4861 §6.1.1) and schedules the
    /// multicast answer (§6.2.6).
    pub fn solicitation(
        &mut self,
        now: Instant,
        bytes: &[u8],
        src: Ipv6Addr,
        jitter: &mut dyn Jitter,
    ) -> Result<RouterSolicit, PacketError> {
        let rs = match parse_rs(bytes, src) {
            Ok(rs) => rs,
            Err(e) => {
                bump(&self.stats.solicitations_malformed);
                return Err(e);
            }
        };
        bump(&self.stats.solicitations_received);
        if self.stopped {
            return Ok(rs);
        }
        let delay = random_delay(MAX_RA_DELAY_TIME, jitter);
        let at = match self.last_sent {
            Some(last) if now < last + self.config.min_delay_between_ras() => {
                last + self.config.min_delay_between_ras() + delay
            }
            _ => now + delay,
        };
        // An RA already due sooner answers this solicitation too.
        if at < self.next_send {
            self.next_send = at;
            self.next_solicited = true;
        }
        Ok(rs)
    }

    /// A new configuration. Prefixes that left it are deprecated in the
    /// next [`DEPRECATION_ADVERTS`] RAs; any visible change starts a prompt
    /// burst of fast RAs (RFC 4861 §6.2.4). On error the old one stays.
    pub fn set_config(
        &mut self,
        config: RaConfig,
        now: Instant,
        jitter: &mut dyn Jitter,
    ) -> Result<Change, ConfigError> {
        let config = config.validated()?;
        let change = classify(&self.config, &config);
        for old in &self.config.prefixes {
            if !config.prefixes.iter().any(|p| p.prefix == old.prefix) {
                self.withdrawn.retain(|w| w.prefix != old.prefix);
                self.withdrawn.push(Withdrawn {
                    prefix: old.prefix,
                    on_link: old.on_link,
                    autonomous: old.autonomous,
                    sends_left: DEPRECATION_ADVERTS,
                });
            }
        }
        // A prefix that comes back is advertised normally again.
        self.withdrawn
            .retain(|w| !config.prefixes.iter().any(|p| p.prefix == w.prefix));
        self.config = config;
        if self.stopped {
            return Ok(change);
        }
        match change {
            Change::Burst | Change::Refresh => {
                if change == Change::Burst {
                    self.burst_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
                }
                let at = self.earliest(now);
                if at < self.next_send {
                    self.next_send = at;
                    self.next_solicited = false;
                }
            }
            Change::None => {}
        }
        // Shorter intervals take effect now, not after a long old timer.
        if self.next_send > now + self.config.max_interval {
            self.next_send = now + self.interval(jitter);
        }
        Ok(change)
    }

    /// The interface became usable again (its socket was reopened): like a
    /// new advertising interface, a prompt burst (RFC 4861 §6.2.4).
    pub fn restart(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.burst_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
        self.next_send = self.next_send.min(self.earliest(now));
        self.next_solicited = false;
    }

    /// Stops advertising. Returns the final RA (RFC 4861 §6.2.5): router
    /// lifetime 0, and, since nothing routes this link's prefixes once
    /// routerd stops serving it, every prefix with lifetimes 0 and RDNSS,
    /// DNSSL and routes withdrawn (lifetime 0). The caller sends it only
    /// when the interface stops being an advertising interface, not when
    /// routerd merely restarts. `None` if already stopped.
    pub fn stop(&mut self, now: Instant) -> Option<Outgoing> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        let (advert, _, _) = self.compose(now, true);
        match advert.encode() {
            Ok(bytes) => Some(Outgoing {
                kind: AdvertKind::Final,
                advert,
                bytes,
            }),
            Err(e) => {
                tracing::error!("cannot encode the final router advertisement: {e}");
                None
            }
        }
    }

    /// The RA we would send at `now` (no state changes): for status and
    /// for comparing with other routers' RAs.
    pub fn preview(&self, now: Instant) -> RouterAdvert {
        self.compose(now, false).0
    }

    /// Where another router's RA contradicts ours (RFC 4861 §6.2.7).
    /// Lifetimes of lease-capped prefixes count down on both sides and are
    /// not compared.
    pub fn inconsistencies(&self, now: Instant, theirs: &RouterAdvert) -> Vec<Inconsistency> {
        let ours = self.preview(now);
        let mut out = Vec::new();
        if ours.cur_hop_limit != 0
            && theirs.cur_hop_limit != 0
            && ours.cur_hop_limit != theirs.cur_hop_limit
        {
            out.push(Inconsistency::CurHopLimit {
                ours: ours.cur_hop_limit,
                theirs: theirs.cur_hop_limit,
            });
        }
        if ours.managed != theirs.managed {
            out.push(Inconsistency::Managed {
                ours: ours.managed,
                theirs: theirs.managed,
            });
        }
        if ours.other != theirs.other {
            out.push(Inconsistency::Other {
                ours: ours.other,
                theirs: theirs.other,
            });
        }
        if ours.reachable_time != 0
            && theirs.reachable_time != 0
            && ours.reachable_time != theirs.reachable_time
        {
            out.push(Inconsistency::ReachableTime {
                ours: ours.reachable_time,
                theirs: theirs.reachable_time,
            });
        }
        if ours.retrans_timer != 0
            && theirs.retrans_timer != 0
            && ours.retrans_timer != theirs.retrans_timer
        {
            out.push(Inconsistency::RetransTimer {
                ours: ours.retrans_timer,
                theirs: theirs.retrans_timer,
            });
        }
        if let (Some(a), Some(b)) = (ours.mtu(), theirs.mtu())
            && a != b
        {
            out.push(Inconsistency::Mtu { ours: a, theirs: b });
        }
        for p in &self.config.prefixes {
            if p.lease_valid_until.is_some() || p.lease_preferred_until.is_some() {
                continue;
            }
            let mine = p.lifetimes_at(now);
            for t in theirs.prefixes() {
                let Ok(net) = Ipv6Net::new(t.prefix, t.prefix_len) else {
                    continue;
                };
                if net.trunc() == p.prefix && (t.valid, t.preferred) != mine {
                    out.push(Inconsistency::PrefixLifetimes {
                        prefix: p.prefix,
                        ours: mine,
                        theirs: (t.valid, t.preferred),
                    });
                }
            }
        }
        out
    }

    /// Builds the RA for `now`; returns it with the number of withdrawn
    /// prefixes it carries (from the front of the list) and the number of
    /// RDNSS addresses left out.
    fn compose(&self, now: Instant, last: bool) -> (RouterAdvert, usize, u64) {
        let c = &self.config;
        let mut options = Vec::new();
        if let Some(mac) = c.source_mac {
            options.push(NdOption::SourceLinkLayer(mac.to_vec()));
        }
        if let Some(mtu) = c.mtu {
            options.push(NdOption::Mtu(mtu));
        }
        // Prefixes whose addresses hosts must stop using: a DNS server in
        // one of them would be unreachable soon (or already).
        let mut deprecated: Vec<Ipv6Net> = Vec::new();
        for p in &c.prefixes {
            let (valid, preferred) = if last { (0, 0) } else { p.lifetimes_at(now) };
            if preferred == 0 {
                deprecated.push(p.prefix);
            }
            options.push(NdOption::Prefix(pio(p, valid, preferred)));
        }
        let room = MAX_RA_OCTETS.saturating_sub(c.encoded_size()) / 32;
        let included = self.withdrawn.len().min(room);
        for w in &self.withdrawn {
            deprecated.push(w.prefix);
        }
        for w in &self.withdrawn[..included] {
            options.push(NdOption::Prefix(PrefixInfo {
                prefix: w.prefix.network(),
                prefix_len: w.prefix.prefix_len(),
                on_link: w.on_link,
                autonomous: w.autonomous,
                valid: 0,
                preferred: 0,
            }));
        }
        for r in &c.routes {
            options.push(NdOption::Route(RouteInfo {
                prefix: r.prefix.network(),
                prefix_len: r.prefix.prefix_len(),
                preference: r.preference,
                lifetime: if last { 0 } else { secs(r.lifetime) },
            }));
        }
        let servers: Vec<Ipv6Addr> = c
            .rdnss
            .iter()
            .copied()
            .filter(|a| !deprecated.iter().any(|n| n.contains(a)))
            .collect();
        let dropped = (c.rdnss.len() - servers.len()) as u64;
        if !servers.is_empty() {
            options.push(NdOption::Rdnss {
                lifetime: if last { 0 } else { secs(c.rdnss_lifetime()) },
                servers,
            });
        }
        if !c.dnssl.is_empty() {
            options.push(NdOption::Dnssl {
                lifetime: if last { 0 } else { secs(c.dnssl_lifetime()) },
                domains: c.dnssl.clone(),
            });
        }
        let router_lifetime = if last {
            0
        } else {
            u16::try_from(c.router_lifetime.as_secs()).unwrap_or(u16::MAX)
        };
        let advert = RouterAdvert {
            cur_hop_limit: c.cur_hop_limit,
            managed: c.managed,
            other: c.other,
            // RFC 4191 §2.2: a router that is not a default router says medium.
            preference: if router_lifetime == 0 {
                Preference::Medium
            } else {
                c.preference
            },
            router_lifetime,
            reachable_time: c.reachable_time_ms,
            retrans_timer: c.retrans_timer_ms,
            options,
        };
        (advert, included, dropped)
    }
}

fn pio(p: &AdvertisedPrefix, valid: u32, preferred: u32) -> PrefixInfo {
    PrefixInfo {
        prefix: p.prefix.network(),
        prefix_len: p.prefix.prefix_len(),
        on_link: p.on_link,
        autonomous: p.autonomous,
        valid,
        preferred,
    }
}

/// How `new` differs from `old` as hosts would see it. Lease deadlines
/// moving later only refresh; moving earlier, appearing, or any other
/// difference is a change.
fn classify(old: &RaConfig, new: &RaConfig) -> Change {
    let strip = |c: &RaConfig| {
        let mut c = c.clone();
        for p in &mut c.prefixes {
            p.lease_valid_until = None;
            p.lease_preferred_until = None;
        }
        c
    };
    if strip(old) != strip(new) {
        return Change::Burst;
    }
    let mut refresh = false;
    for (o, n) in old.prefixes.iter().zip(&new.prefixes) {
        for (a, b) in [
            (o.lease_valid_until, n.lease_valid_until),
            (o.lease_preferred_until, n.lease_preferred_until),
        ] {
            match (a, b) {
                (Some(a), Some(b)) if b < a => return Change::Burst,
                (None, Some(_)) => return Change::Burst,
                (Some(a), Some(b)) if b > a => refresh = true,
                (Some(_), None) => refresh = true,
                _ => {}
            }
        }
    }
    if refresh {
        Change::Refresh
    } else {
        Change::None
    }
}
