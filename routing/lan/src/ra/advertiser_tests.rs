//! The advertiser in virtual time: every RA it emits is parsed back with
//! our own parser and checked.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;
use routerd_dhcpv6_core::{FixedJitter, Jitter};

use super::advertiser::*;
use super::config::*;
use super::packet::*;
use super::stats::RaStats;

const S: Duration = Duration::from_secs(1);

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("literal prefix")
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("literal address")
}

/// A LAN config with short intervals (10 s max, 4 s min).
fn lab(prefixes: &[&str]) -> RaConfig {
    RaConfig {
        other: true,
        preference: Preference::High,
        router_lifetime: 30 * S,
        mtu: Some(1500),
        min_interval: 4 * S,
        max_interval: 10 * S,
        prefixes: prefixes
            .iter()
            .map(|p| AdvertisedPrefix::new(net(p)))
            .collect(),
        rdnss: vec![ip("fd00:99:1::53")],
        dnssl: vec!["lab.example".into()],
        source_mac: Some([2, 0, 0, 0, 0, 1]),
        ..RaConfig::default()
    }
}

/// A jitter that walks through a sequence, for "uniform" checks.
struct Cycle(Vec<i32>, usize);

impl Jitter for Cycle {
    fn next_permille(&mut self) -> i32 {
        self.1 += 1;
        self.0[self.1 % self.0.len()]
    }
}

/// Steps to each deadline up to `until` (bounded), collecting what is sent.
fn run(
    a: &mut Advertiser,
    until: Instant,
    j: &mut dyn Jitter,
) -> Vec<(Instant, AdvertKind, RouterAdvert)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = a.next_deadline() else { break };
        if at > until {
            break;
        }
        if let Some(o) = a.poll(at, j) {
            // Our parser reads back exactly what was built.
            let parsed = RouterAdvert::parse(&o.bytes).expect("our RA parses");
            assert_eq!(parsed, o.advert);
            out.push((at, o.kind, parsed));
        }
    }
    out
}

fn pio(ra: &RouterAdvert, p: &str) -> Option<(u32, u32)> {
    let n = net(p);
    ra.prefixes()
        .find(|x| x.prefix == n.network() && x.prefix_len == n.prefix_len())
        .map(|x| (x.valid, x.preferred))
}

fn new(c: RaConfig, t0: Instant) -> Advertiser {
    Advertiser::new(c, t0, Arc::new(RaStats::default())).expect("valid config")
}

#[test]
fn the_first_three_come_fast_then_the_interval_is_uniform_in_min_max() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64"]);
    c.min_interval = 200 * S;
    c.max_interval = 600 * S;
    c.router_lifetime = 1800 * S;
    let mut a = new(c, t0);
    let mut j = FixedJitter(1000); // always the top of the range
    let sent = run(&mut a, t0 + 2000 * S, &mut j);
    let times: Vec<u64> = sent.iter().map(|(t, ..)| (*t - t0).as_secs()).collect();
    // §6.2.4: at once, then at most 16 s apart for the first three, then 600 s.
    assert_eq!(&times[..5], &[0, 16, 32, 632, 1232]);
    assert!(sent.iter().all(|(_, k, _)| *k == AdvertKind::Unsolicited));
    let ra = &sent[0].2;
    assert_eq!(ra.router_lifetime, 1800);
    assert!(ra.other && !ra.managed);
    assert_eq!(ra.preference, Preference::High);
    assert_eq!(ra.mtu(), Some(1500));
    assert_eq!(pio(ra, "fd00:99:1::/64"), Some((5400, 2700)));
    // RFC 8106 §5.1: default lifetime 3 × MaxRtrAdvInterval.
    assert_eq!(ra.rdnss(), vec![(ip("fd00:99:1::53"), 1800)]);
    assert_eq!(ra.dnssl(), vec![("lab.example".to_string(), 1800)]);

    // Spread over the whole [min, max] range with a walking jitter.
    let mut a = new(lab(&["fd00:99:1::/64"]), t0);
    let mut j = Cycle((-1000..=1000).step_by(97).collect(), 0);
    let sent = run(&mut a, t0 + 3000 * S, &mut j);
    let gaps: Vec<Duration> = sent.windows(2).skip(3).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.len() > 100);
    assert!(
        gaps.iter().all(|g| (4 * S..=10 * S).contains(g)),
        "{gaps:?}"
    );
    assert!(gaps.iter().any(|g| *g < 5 * S) && gaps.iter().any(|g| *g > 9 * S));
    assert_eq!(a.stats().snapshot().unsolicited_sent, sent.len() as u64);
}

#[test]
fn solicitations_are_answered_within_500ms_and_rate_limited_to_one_per_3s() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64"]);
    c.min_interval = 200 * S;
    c.max_interval = 600 * S;
    c.router_lifetime = 1800 * S;
    let mut a = new(c, t0);
    let mut j = FixedJitter(1000);
    run(&mut a, t0 + 100 * S, &mut j); // the initial burst: 0, 16, 32
    let rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
    let from = ip("fe80::99");

    // Long after the last RA: answered MAX_RA_DELAY_TIME later at most.
    let t = t0 + 300 * S;
    a.solicitation(t, &rs, from, &mut j).expect("valid RS");
    assert_eq!(a.next_deadline(), Some(t + MAX_RA_DELAY_TIME));
    // A second RS in the meantime changes nothing: one answer serves both.
    a.solicitation(t + Duration::from_millis(100), &rs, from, &mut j)
        .expect("valid RS");
    let sent = run(&mut a, t + S, &mut j);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, AdvertKind::Solicited);

    // Right after that RA: not before MIN_DELAY_BETWEEN_RAS (3 s) has passed.
    let answered = sent[0].0;
    a.solicitation(answered + S, &rs, from, &mut j)
        .expect("valid RS");
    assert_eq!(
        a.next_deadline(),
        Some(answered + 3 * S + MAX_RA_DELAY_TIME)
    );
    let s = a.stats().snapshot();
    assert_eq!(s.solicitations_received, 3);
    assert_eq!(s.solicited_sent, 1);

    // Malformed ones are counted and change nothing.
    let before = a.next_deadline();
    assert!(
        a.solicitation(answered + S, &rs[..4], from, &mut j)
            .is_err()
    );
    let slla = [133u8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9];
    assert!(
        a.solicitation(answered + S, &slla, Ipv6Addr::UNSPECIFIED, &mut j)
            .is_err()
    );
    assert_eq!(a.next_deadline(), before);
    assert_eq!(a.stats().snapshot().solicitations_malformed, 2);
}

#[test]
fn a_removed_prefix_is_deprecated_promptly_in_the_next_three_ras_then_dropped() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64", "fd00:99:2::/64"]);
    c.min_interval = 200 * S;
    c.max_interval = 600 * S;
    c.router_lifetime = 1800 * S;
    let mut a = new(c.clone(), t0);
    let mut j = FixedJitter(1000);
    run(&mut a, t0 + 100 * S, &mut j);
    let t = t0 + 200 * S;
    c.prefixes.retain(|p| p.prefix != net("fd00:99:2::/64"));
    assert_eq!(a.set_config(c, t, &mut j), Ok(Change::Burst));
    assert_eq!(a.next_deadline(), Some(t), "prompt");
    assert_eq!(a.deprecating(), vec![net("fd00:99:2::/64")]);
    let sent = run(&mut a, t + 2000 * S, &mut j);
    let times: Vec<u64> = sent.iter().map(|(x, ..)| (*x - t).as_secs()).collect();
    assert_eq!(&times[..4], &[0, 16, 32, 632]);
    for (_, _, ra) in &sent[..3] {
        assert_eq!(pio(ra, "fd00:99:2::/64"), Some((0, 0)));
        assert_eq!(pio(ra, "fd00:99:1::/64"), Some((5400, 2700)));
    }
    for (_, _, ra) in &sent[3..] {
        assert_eq!(pio(ra, "fd00:99:2::/64"), None);
    }
    assert!(a.deprecating().is_empty());
    assert_eq!(a.stats().snapshot().deprecations_sent, 3);
}

#[test]
fn renumbering_announces_the_new_prefix_and_deprecates_the_old_in_one_ra() {
    let t0 = Instant::now();
    let mut a = new(lab(&["fd00:99:1::/64"]), t0);
    let mut j = FixedJitter(0);
    run(&mut a, t0 + 60 * S, &mut j);
    let t = t0 + 61 * S;
    assert_eq!(
        a.set_config(lab(&["fd00:99:7::/64"]), t, &mut j),
        Ok(Change::Burst)
    );
    let sent = run(&mut a, t, &mut j);
    assert_eq!(sent.len(), 1);
    let ra = &sent[0].2;
    assert_eq!(pio(ra, "fd00:99:7::/64"), Some((5400, 2700)));
    assert_eq!(pio(ra, "fd00:99:1::/64"), Some((0, 0)));
    // The old prefix coming back is advertised normally again at once.
    let t = t + 5 * S;
    a.set_config(lab(&["fd00:99:7::/64", "fd00:99:1::/64"]), t, &mut j)
        .expect("valid");
    assert!(a.deprecating().is_empty());
    let sent = run(&mut a, t, &mut j);
    assert_eq!(pio(&sent[0].2, "fd00:99:1::/64"), Some((5400, 2700)));
}

#[test]
fn a_config_change_right_after_an_ra_waits_for_the_rate_limit() {
    let t0 = Instant::now();
    let mut a = new(lab(&["fd00:99:1::/64"]), t0);
    let mut j = FixedJitter(0);
    let first = run(&mut a, t0, &mut j);
    assert_eq!(first.len(), 1);
    a.set_config(lab(&["fd00:99:2::/64"]), t0 + S, &mut j)
        .expect("valid");
    assert_eq!(a.next_deadline(), Some(t0 + 3 * S));
    // Unchanged config: nothing moves.
    let before = a.next_deadline();
    assert_eq!(
        a.set_config(lab(&["fd00:99:2::/64"]), t0 + 2 * S, &mut j),
        Ok(Change::None)
    );
    assert_eq!(a.next_deadline(), before);
}

#[test]
fn advertised_lifetimes_never_exceed_the_lease_rfc_9096() {
    let t0 = Instant::now();
    let mut c = lab(&[]);
    c.prefixes = vec![
        AdvertisedPrefix::new(net("fd00:99:1::/64"))
            .with_lease(t0 + 500 * S + Duration::from_millis(900), t0 + 1000 * S),
    ];
    c.rdnss = vec![ip("fd00:99:1::53"), ip("fd00:99:ff::53")];
    let mut a = new(c.clone(), t0);
    let mut j = FixedJitter(0);
    assert_eq!(pio(&a.preview(t0), "fd00:99:1::/64"), Some((1000, 500)));
    // Whole seconds, rounded down: never past the lease.
    assert_eq!(
        pio(
            &a.preview(t0 + Duration::from_millis(1500)),
            "fd00:99:1::/64"
        ),
        Some((998, 499))
    );
    // Past the preferred deadline: deprecated, and a DNS server inside it
    // is no longer advertised (counted when sent).
    let late = a.preview(t0 + 600 * S);
    assert_eq!(pio(&late, "fd00:99:1::/64"), Some((400, 0)));
    assert_eq!(late.rdnss(), vec![(ip("fd00:99:ff::53"), 30)]);
    // Past the valid deadline: both zero.
    assert_eq!(
        pio(&a.preview(t0 + 1001 * S), "fd00:99:1::/64"),
        Some((0, 0))
    );
    // Configured lifetimes below the lease win.
    c.prefixes[0].valid = 300 * S;
    c.prefixes[0].preferred = 100 * S;
    a.set_config(c.clone(), t0, &mut j).expect("valid");
    assert_eq!(pio(&a.preview(t0), "fd00:99:1::/64"), Some((300, 100)));

    // A renewal that extends the lease refreshes hosts with one prompt RA;
    // one that shortens it is a change (a burst).
    run(&mut a, t0 + 100 * S, &mut j);
    let t = t0 + 101 * S;
    let mut renewed = c.clone();
    renewed.prefixes[0] = renewed.prefixes[0]
        .clone()
        .with_lease(t0 + 2000 * S, t0 + 4000 * S);
    assert_eq!(
        a.set_config(renewed.clone(), t, &mut j),
        Ok(Change::Refresh)
    );
    assert_eq!(a.next_deadline(), Some(t));
    let mut shortened = renewed;
    shortened.prefixes[0] = shortened.prefixes[0]
        .clone()
        .with_lease(t0 + 200 * S, t0 + 400 * S);
    assert_eq!(a.set_config(shortened, t, &mut j), Ok(Change::Burst));
}

#[test]
fn rdnss_inside_a_deprecated_prefix_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64", "fd00:99:2::/64"]);
    c.rdnss = vec![ip("fd00:99:2::53"), ip("fd00:99:1::53")];
    let mut a = new(c.clone(), t0);
    let mut j = FixedJitter(0);
    run(&mut a, t0 + 60 * S, &mut j);
    c.prefixes.truncate(1);
    let t = t0 + 61 * S;
    a.set_config(c, t, &mut j).expect("valid");
    let sent = run(&mut a, t, &mut j);
    assert_eq!(sent[0].2.rdnss(), vec![(ip("fd00:99:1::53"), 30)]);
    assert_eq!(a.stats().snapshot().rdnss_dropped, 1);
}

#[test]
fn stop_yields_a_final_ra_with_router_lifetime_0_and_everything_withdrawn() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64"]);
    c.routes = vec![AdvertisedRoute {
        prefix: net("fd00:99:200::/48"),
        preference: Preference::High,
        lifetime: 60 * S,
    }];
    let mut a = new(c, t0);
    let mut j = FixedJitter(0);
    let sent = run(&mut a, t0, &mut j);
    let r = sent[0].2.routes().next().expect("route").clone();
    assert_eq!(
        (r.prefix_len, r.lifetime, r.preference),
        (48, 60, Preference::High)
    );
    let fin = a.stop(t0 + S).expect("final RA");
    assert_eq!(fin.kind, AdvertKind::Final);
    let ra = RouterAdvert::parse(&fin.bytes).expect("parses");
    assert_eq!(ra.router_lifetime, 0);
    // RFC 4191 §2.2: not a default router, so medium.
    assert_eq!(ra.preference, Preference::Medium);
    assert_eq!(pio(&ra, "fd00:99:1::/64"), Some((0, 0)));
    assert_eq!(
        ra.rdnss(),
        Vec::new(),
        "RDNSS in a withdrawn prefix is left out"
    );
    assert_eq!(ra.dnssl(), vec![("lab.example".to_string(), 0)]);
    assert_eq!(ra.routes().next().map(|r| r.lifetime), Some(0));
    assert_eq!(a.next_deadline(), None);
    assert!(a.poll(t0 + 1000 * S, &mut j).is_none());
    assert!(a.stop(t0 + 2 * S).is_none(), "only once");
}

#[test]
fn no_default_router_means_medium_preference() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64"]);
    c.router_lifetime = Duration::ZERO;
    let a = new(c, t0);
    let ra = a.preview(t0);
    assert_eq!(ra.router_lifetime, 0);
    assert_eq!(ra.preference, Preference::Medium);
}

#[test]
fn configurations_are_checked_with_typed_errors() {
    let t0 = Instant::now();
    let stats = Arc::new(RaStats::default());
    let bad = |f: fn(&mut RaConfig)| {
        let mut c = lab(&["fd00:99:1::/64"]);
        f(&mut c);
        Advertiser::new(c, t0, stats.clone()).expect_err("invalid")
    };
    assert!(matches!(
        bad(|c| c.max_interval = 3600 * S),
        ConfigError::MaxInterval(_)
    ));
    assert!(matches!(
        bad(|c| c.max_interval = Duration::from_millis(50)),
        ConfigError::MaxInterval(_)
    ));
    assert!(matches!(
        bad(|c| c.min_interval = 9 * S),
        ConfigError::MinInterval { .. }
    ));
    assert!(matches!(
        bad(|c| c.min_interval = Duration::from_millis(10)),
        ConfigError::MinInterval { .. }
    ));
    assert!(matches!(
        bad(|c| c.router_lifetime = 5 * S),
        ConfigError::RouterLifetime(_)
    ));
    assert!(matches!(
        bad(|c| c.router_lifetime = 9001 * S),
        ConfigError::RouterLifetime(_)
    ));
    assert!(matches!(
        bad(|c| c.reachable_time_ms = 3_600_001),
        ConfigError::ReachableTime(_)
    ));
    assert!(matches!(
        bad(|c| c.mtu = Some(1279)),
        ConfigError::Mtu(1279)
    ));
    assert!(matches!(
        bad(|c| c.prefixes = vec![AdvertisedPrefix::new(net("fe80::/64"))]),
        ConfigError::PrefixKind(_)
    ));
    assert!(matches!(
        bad(|c| c.prefixes = vec![AdvertisedPrefix::new(net("fd00:99::/48"))]),
        ConfigError::AutonomousNotSlash64(_)
    ));
    assert!(matches!(
        bad(|c| c.prefixes[0].preferred = c.prefixes[0].valid + S),
        ConfigError::PreferredAboveValid(_)
    ));
    assert!(matches!(
        bad(|c| c
            .prefixes
            .push(AdvertisedPrefix::new(net("fd00:99:1::1/64")))),
        ConfigError::DuplicatePrefix(_)
    ));
    assert!(matches!(
        bad(|c| c.rdnss = vec![ip("ff02::1")]),
        ConfigError::Rdnss(_)
    ));
    assert!(matches!(
        bad(|c| c.dnssl = vec!["no way".into()]),
        ConfigError::Domain(_)
    ));
    assert!(matches!(
        bad(|c| c.routes = vec![AdvertisedRoute {
            prefix: net("ff00::/8"),
            preference: Preference::Low,
            lifetime: S
        }]),
        ConfigError::RouteKind(_)
    ));
    assert!(matches!(
        bad(|c| c.rdnss = (0..80u16)
            .map(|i| Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i + 1))
            .collect()),
        ConfigError::TooLarge(_)
    ));
    // Lab intervals are fine; a /48 on-link only is fine; host bits go.
    let mut c = lab(&[]);
    c.max_interval = S;
    c.min_interval = Duration::from_millis(500);
    c.router_lifetime = 9000 * S;
    let mut on_link = AdvertisedPrefix::new(net("fd00:99::5/48"));
    on_link.autonomous = false;
    c.prefixes = vec![on_link];
    let a = Advertiser::new(c, t0, stats.clone()).expect("valid");
    assert_eq!(a.config().prefixes[0].prefix, net("fd00:99::/48"));

    // A refused update leaves the old configuration in force.
    let mut a = new(lab(&["fd00:99:1::/64"]), t0);
    let mut c = lab(&["fd00:99:2::/64"]);
    c.mtu = Some(1000);
    assert!(a.set_config(c, t0, &mut FixedJitter(0)).is_err());
    assert_eq!(a.config().prefixes[0].prefix, net("fd00:99:1::/64"));
    assert!(a.deprecating().is_empty());
}

#[test]
fn deprecations_that_do_not_fit_go_out_in_later_ras() {
    let t0 = Instant::now();
    // 30 prefixes fill most of 1240 octets; replacing them all leaves room
    // for only some of the 30 deprecations at a time.
    let prefixes: Vec<String> = (0..30).map(|i| format!("fd00:99:{i:x}::/64")).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let mut c = lab(&refs);
    c.rdnss.clear();
    c.dnssl.clear();
    let mut a = new(c.clone(), t0);
    let mut j = FixedJitter(0);
    run(&mut a, t0 + 60 * S, &mut j);
    let next: Vec<String> = (0..30).map(|i| format!("fd00:aa:{i:x}::/64")).collect();
    let refs: Vec<&str> = next.iter().map(String::as_str).collect();
    let mut c2 = lab(&refs);
    c2.rdnss.clear();
    c2.dnssl.clear();
    a.set_config(c2, t0 + 61 * S, &mut j).expect("valid");
    let sent = run(&mut a, t0 + 400 * S, &mut j);
    let mut seen = 0;
    for (_, _, ra) in &sent {
        let bytes = ra.encode().expect("encodes");
        assert!(bytes.len() <= MAX_RA_OCTETS, "{} octets", bytes.len());
        seen += ra.prefixes().filter(|p| p.valid == 0).count();
    }
    assert_eq!(
        seen,
        30 * 3,
        "every old prefix deprecated three times in the end"
    );
    assert!(a.deprecating().is_empty());
}

#[test]
fn an_unsent_ra_owes_its_deprecations_again() {
    let t0 = Instant::now();
    let mut a = new(lab(&["fd00:99:1::/64"]), t0);
    let mut j = FixedJitter(0);
    run(&mut a, t0 + 60 * S, &mut j);
    a.set_config(lab(&[]), t0 + 61 * S, &mut j).expect("valid");
    let mut outs = Vec::new();
    for _ in 0..3 {
        let at = a.next_deadline().expect("scheduled");
        outs.push(a.poll(at, &mut j).expect("due"));
    }
    assert!(a.deprecating().is_empty());
    // The last one never left: the prefix is owed one more deprecation.
    a.unsent(&outs[2]);
    assert_eq!(a.deprecating(), vec![net("fd00:99:1::/64")]);
    a.restart(t0 + 200 * S);
    let sent = run(&mut a, t0 + 200 * S, &mut j);
    assert_eq!(pio(&sent[0].2, "fd00:99:1::/64"), Some((0, 0)));
    assert!(a.deprecating().is_empty());
}

#[test]
fn shorter_intervals_take_effect_at_once() {
    let t0 = Instant::now();
    let mut c = lab(&["fd00:99:1::/64"]);
    c.min_interval = 200 * S;
    c.max_interval = 600 * S;
    c.router_lifetime = 1800 * S;
    let mut a = new(c.clone(), t0);
    let mut j = FixedJitter(1000);
    run(&mut a, t0 + 100 * S, &mut j);
    assert_eq!(a.next_deadline(), Some(t0 + 632 * S));
    c.min_interval = 4 * S;
    c.max_interval = 10 * S;
    c.router_lifetime = 30 * S;
    a.set_config(c, t0 + 101 * S, &mut j).expect("valid");
    assert!(a.next_deadline().expect("scheduled") <= t0 + 111 * S);
}

#[test]
fn other_routers_disagreeing_are_reported_rfc_4861_6_2_7() {
    let t0 = Instant::now();
    let a = new(lab(&["fd00:99:1::/64"]), t0);
    let same = a.preview(t0);
    assert!(a.inconsistencies(t0, &same).is_empty());
    let mut theirs = same.clone();
    theirs.managed = true;
    theirs.cur_hop_limit = 32;
    theirs.options = vec![
        NdOption::Mtu(1400),
        NdOption::Prefix(PrefixInfo {
            prefix: ip("fd00:99:1::"),
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid: 100,
            preferred: 50,
        }),
    ];
    let diff = a.inconsistencies(t0, &theirs);
    assert_eq!(diff.len(), 4, "{diff:?}");
    assert!(diff.contains(&Inconsistency::Managed {
        ours: false,
        theirs: true
    }));
    assert!(diff.contains(&Inconsistency::Mtu {
        ours: 1500,
        theirs: 1400
    }));
    // Unspecified values never disagree.
    theirs = same;
    theirs.cur_hop_limit = 0;
    assert!(a.inconsistencies(t0, &theirs).is_empty());
}
