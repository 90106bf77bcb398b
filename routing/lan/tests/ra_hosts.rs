//! Our RA sender against real hosts in network namespaces: the Linux
//! kernel's own SLAAC (RFC 4862) and default-router handling, and rdisc6
//! (ndisc6) soliciting and printing what we advertise.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Lab, SETTLE, addr_lines, runtime};
use ipnet::Ipv6Net;
use routerd_lab::{require_command, wait_until};
use routerd_lan::StopMode;
use routerd_lan::ra::{AdvertisedPrefix, AdvertisedRoute, Preference, RaConfig, RaStats, run_ra};
use tokio::sync::{oneshot, watch};

const S: Duration = Duration::from_secs(1);

fn net(s: &str) -> Ipv6Net {
    s.parse().expect("literal prefix")
}

/// A LAN with lab timers: RAs every 3-4 s, router lifetime 30 s.
fn lan(prefixes: &[&str]) -> RaConfig {
    RaConfig {
        other: true,
        router_lifetime: 30 * S,
        min_interval: 3 * S,
        max_interval: 4 * S,
        mtu: Some(1500),
        prefixes: prefixes
            .iter()
            .map(|p| {
                let mut p = AdvertisedPrefix::new(net(p));
                p.valid = 600 * S;
                p.preferred = 300 * S;
                p
            })
            .collect(),
        rdnss: vec!["fd00:99:1::53".parse().expect("ip")],
        dnssl: vec!["lab.example".into()],
        ..RaConfig::default()
    }
}

/// The host's default route via `gw`, if it has one.
fn default_via(lab: &Lab, gw: &str) -> bool {
    let routes = lab.host.ip_json("-6 route show default");
    routes
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["gateway"] == gw && r["dev"] == "eth0"))
}

#[test]
fn a_linux_host_autoconfigures_renumbers_and_deprecates_honestly() {
    let lab = Lab::new("ra-slaac", "eth0");
    let gw = lab.router_link_local();
    let (config, rx) = watch::channel(lan(&["fd00:99:1::/64"]));
    let (stop, stopped) = oneshot::channel::<StopMode>();
    let stats = Arc::new(RaStats::default());
    let result = std::thread::scope(|scope| {
        let st = stats.clone();
        let router = &lab.router;
        let sender = scope.spawn(move || {
            router.in_netns(move || {
                runtime().block_on(run_ra(
                    "lan0".into(),
                    rx,
                    async move { stopped.await.unwrap_or(StopMode::Silent) },
                    st,
                ))
            })
        });

        // SLAAC from the advertised /64, and a default route via our
        // link-local address.
        wait_until("an address from fd00:99:1::/64", SETTLE, || {
            let a = addr_lines(&lab.host, "eth0", "fd00:99:1:");
            (a.len() == 1 && !a[0].contains("deprecated") && !a[0].contains("tentative"))
                .then_some(())
        });
        wait_until("a default route via the router", SETTLE, || {
            default_via(&lab, &gw).then_some(())
        });
        let a = addr_lines(&lab.host, "eth0", "fd00:99:1:");
        assert!(a[0].contains("dynamic"), "{a:?}");

        // Renumbering: the new prefix appears, the old one is deprecated
        // at once (preferred lifetime 0), not left to age out.
        config.send_replace(lan(&["fd00:99:2::/64"]));
        wait_until("an address from fd00:99:2::/64", SETTLE, || {
            let a = addr_lines(&lab.host, "eth0", "fd00:99:2:");
            (a.len() == 1 && !a[0].contains("deprecated")).then_some(())
        });
        wait_until("fd00:99:1:: deprecated", SETTLE, || {
            let a = addr_lines(&lab.host, "eth0", "fd00:99:1:");
            (a.len() == 1 && a[0].contains("deprecated") && a[0].contains("preferred_lft 0sec"))
                .then_some(())
        });
        // RFC 4862 §5.5.3(e): a valid lifetime of 0 does not remove the
        // address at once (the host keeps what remains, at most 2 h), but it
        // is no longer used for new connections.
        let old = addr_lines(&lab.host, "eth0", "fd00:99:1:");
        let valid: u64 = old[0]
            .split("valid_lft ")
            .nth(1)
            .and_then(|v| v.split("sec").next())
            .and_then(|v| v.parse().ok())
            .expect("a finite valid_lft");
        assert!((1..=7200).contains(&valid), "{old:?}");
        // The old prefix goes out with lifetimes 0 in three RAs, and our DNS
        // server inside it is left out of them.
        wait_until("three deprecating RAs", SETTLE, || {
            (stats.snapshot().deprecations_sent >= 3).then_some(())
        });
        assert!(stats.snapshot().rdnss_dropped >= 3);

        // The delegation is lost: nothing is advertised any more, and what
        // was is deprecated; no default route is offered without upstream.
        let mut none = lan(&[]);
        none.router_lifetime = Duration::ZERO;
        config.send_replace(none);
        wait_until("fd00:99:2:: deprecated", SETTLE, || {
            let a = addr_lines(&lab.host, "eth0", "fd00:99:2:");
            (a.len() == 1 && a[0].contains("deprecated")).then_some(())
        });
        wait_until("no default route", SETTLE, || {
            (!default_via(&lab, &gw)).then_some(())
        });
        wait_until("three more deprecating RAs", SETTLE, || {
            (stats.snapshot().deprecations_sent >= 6).then_some(())
        });

        // Back again, then the final RA when the interface stops being
        // served: the default route goes at once.
        config.send_replace(lan(&["fd00:99:3::/64"]));
        wait_until("a default route again", SETTLE, || {
            default_via(&lab, &gw).then_some(())
        });
        let _ = stop.send(StopMode::Final);
        let result = sender.join().expect("the RA thread does not panic");
        wait_until(
            "the default route withdrawn by the final RA",
            SETTLE,
            || (!default_via(&lab, &gw)).then_some(()),
        );
        let a = addr_lines(&lab.host, "eth0", "fd00:99:3:");
        assert!(a.len() == 1 && a[0].contains("deprecated"), "{a:?}");
        result
    });
    result.expect("run_ra ends cleanly");
    let s = stats.snapshot();
    assert_eq!(s.final_sent, 1);
    assert!(s.deprecations_sent >= 6, "{s:?}");
    assert!(s.unsolicited_sent >= 6, "{s:?}");
    assert_eq!(s.send_errors, 0, "{s:?}");
}

/// One field of rdisc6's verbose output: the text after "name   :".
fn field<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then_some(v.trim())
        })
        .collect()
}

#[test]
fn rdisc6_solicits_and_reads_everything_we_advertise() {
    let rdisc6 = require_command("rdisc6");
    let lab = Lab::new("ra-rdisc6", "eth0");
    let mut cfg = lan(&["fd00:99:1::/64"]);
    // Long intervals: after the first burst, answers to solicitations.
    cfg.min_interval = 200 * S;
    cfg.max_interval = 600 * S;
    cfg.router_lifetime = 1800 * S;
    cfg.managed = true;
    cfg.preference = Preference::High;
    cfg.mtu = Some(1480);
    cfg.rdnss = vec![
        "fd00:99:1::53".parse().expect("ip"),
        "fd00:99:1::54".parse().expect("ip"),
    ];
    cfg.rdnss_lifetime = Some(1200 * S);
    cfg.dnssl = vec!["lab.example".into(), "corp.example".into()];
    cfg.routes = vec![AdvertisedRoute {
        prefix: net("fd00:99:200::/48"),
        preference: Preference::Low,
        lifetime: 900 * S,
    }];
    cfg.source_mac = None; // the interface's own
    let (_config, rx) = watch::channel(cfg);
    let (stop, stopped) = oneshot::channel::<StopMode>();
    let stats = Arc::new(RaStats::default());
    let router_mac = lab.router.ip_json("link show dev lan0")[0]["address"]
        .as_str()
        .expect("a MAC")
        .to_string();
    let out = std::thread::scope(|scope| {
        let st = stats.clone();
        let router = &lab.router;
        let sender = scope.spawn(move || {
            router.in_netns(move || {
                runtime().block_on(run_ra(
                    "lan0".into(),
                    rx,
                    async move { stopped.await.unwrap_or(StopMode::Silent) },
                    st,
                ))
            })
        });
        // Let the initial burst pass, so what rdisc6 prints answers its
        // own solicitation.
        wait_until("the first RA", SETTLE, || {
            (stats.snapshot().unsolicited_sent >= 1).then_some(())
        });
        let rdisc6 = rdisc6.to_str().expect("utf-8 path");
        let out = wait_until("rdisc6 to get an answer", SETTLE, || {
            let o = lab
                .host
                .exec(&[rdisc6, "-1", "-n", "-r", "3", "-w", "3000", "eth0"]);
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            (o.status.success() && text.contains("Prefix")).then_some(text)
        });

        // A solicitation that crossed a router (hop limit 64) and one with a
        // zero-length option are dropped and counted (RFC 4861 §6.1.1).
        lab.host.in_netns(|| {
            use socket2::{Domain, Protocol, SockAddr, Socket, Type};
            let s =
                Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).expect("raw socket");
            s.bind_device(Some(b"eth0")).expect("bind to eth0");
            let ifindex = ifindex("eth0");
            s.set_multicast_if_v6(ifindex).expect("multicast if");
            let to = SockAddr::from(std::net::SocketAddrV6::new(
                "ff02::2".parse().expect("ip"),
                0,
                0,
                ifindex,
            ));
            s.set_multicast_hops_v6(64).expect("hops");
            s.send_to(&[133, 0, 0, 0, 0, 0, 0, 0], &to).expect("send");
            s.set_multicast_hops_v6(255).expect("hops");
            s.send_to(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], &to)
                .expect("send");
        });
        wait_until("the bad solicitations counted", SETTLE, || {
            let s = stats.snapshot();
            (s.solicitations_bad_hop_limit == 1 && s.solicitations_malformed == 2).then_some(())
        });

        // Another router on the link saying M=0 where we say M=1 is noticed
        // (RFC 4861 §6.2.7); one with hop limit 64 is not taken for an RA.
        lab.host.in_netns(|| {
            use socket2::{Domain, Protocol, SockAddr, Socket, Type};
            let s =
                Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).expect("raw socket");
            s.bind_device(Some(b"eth0")).expect("bind to eth0");
            let ifindex = ifindex("eth0");
            s.set_multicast_if_v6(ifindex).expect("multicast if");
            let to = SockAddr::from(std::net::SocketAddrV6::new(
                "ff02::1".parse().expect("ip"),
                0,
                0,
                ifindex,
            ));
            let other = [134u8, 0, 0, 0, 64, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            s.set_multicast_hops_v6(64).expect("hops");
            s.send_to(&other, &to).expect("send");
            s.set_multicast_hops_v6(255).expect("hops");
            s.send_to(&other, &to).expect("send");
        });
        wait_until("the other router's RA noticed", SETTLE, || {
            let s = stats.snapshot();
            (s.foreign_adverts == 1 && s.inconsistent_adverts == 1).then_some(())
        });
        let _ = stop.send(StopMode::Silent);
        sender
            .join()
            .expect("the RA thread does not panic")
            .expect("run_ra ends cleanly");
        out
    });
    println!("{out}");
    assert_eq!(
        field(&out, "Hop limit")[0].split_whitespace().next(),
        Some("64")
    );
    assert_eq!(field(&out, "Stateful address conf."), vec!["Yes"]);
    assert_eq!(field(&out, "Stateful other conf."), vec!["Yes"]);
    assert_eq!(field(&out, "Router preference"), vec!["high"]);
    assert!(
        field(&out, "Router lifetime")[0].starts_with("1800 "),
        "{out}"
    );
    assert!(field(&out, "MTU")[0].starts_with("1480 "), "{out}");
    assert_eq!(field(&out, "Prefix"), vec!["fd00:99:1::/64"]);
    assert_eq!(field(&out, "On-link"), vec!["Yes"]);
    assert_eq!(field(&out, "Autonomous address conf."), vec!["Yes"]);
    assert!(field(&out, "Valid time")[0].starts_with("600 "), "{out}");
    assert!(field(&out, "Pref. time")[0].starts_with("300 "), "{out}");
    assert_eq!(
        field(&out, "Recursive DNS server"),
        vec!["fd00:99:1::53", "fd00:99:1::54"]
    );
    assert!(
        field(&out, "DNS servers lifetime")[0].starts_with("1200 "),
        "{out}"
    );
    let domains: Vec<&str> = field(&out, "DNS search list")
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert_eq!(domains, vec!["lab.example", "corp.example"], "{out}");
    assert!(
        field(&out, "DNS search list lifetime")[0].starts_with("1800 "),
        "{out}"
    );
    assert_eq!(field(&out, "Route"), vec!["fd00:99:200::/48"]);
    assert_eq!(field(&out, "Route preference"), vec!["low"]);
    assert!(
        field(&out, "Route lifetime")[0].starts_with("900 "),
        "{out}"
    );
    assert_eq!(
        field(&out, "Source link-layer address")
            .first()
            .map(|m| m.to_ascii_lowercase()),
        Some(router_mac),
        "{out}"
    );
    let s = stats.snapshot();
    assert!(s.solicitations_received >= 1, "{s:?}");
    assert!(s.solicited_sent >= 1, "{s:?}");
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("no NUL");
    // SAFETY: a valid C string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

#[test]
fn the_sender_waits_for_its_interface_and_comes_back_when_it_is_replaced() {
    let lab = Lab::new("ra-flap", "eth0");
    let (_config, rx) = watch::channel(lan(&["fd00:99:5::/64"]));
    let (stop, stopped) = oneshot::channel::<StopMode>();
    let stats = Arc::new(RaStats::default());
    // lan1 does not exist yet.
    let plug = || {
        routerd_lab::veth(&lab.router, "lan1", &lab.host, "eth1");
        lab.router.set_sysctl("net.ipv6.conf.lan1.accept_ra", "0");
        lab.host.set_sysctl("net.ipv6.conf.eth1.accept_ra", "2");
        lab.host.set_sysctl("net.ipv6.conf.eth1.autoconf", "1");
    };
    let result = std::thread::scope(|scope| {
        let st = stats.clone();
        let router = &lab.router;
        let sender = scope.spawn(move || {
            router.in_netns(move || {
                runtime().block_on(run_ra(
                    "lan1".into(),
                    rx,
                    async move { stopped.await.unwrap_or(StopMode::Silent) },
                    st,
                ))
            })
        });
        plug();
        wait_until("an address on eth1 from fd00:99:5::/64", SETTLE, || {
            (!addr_lines(&lab.host, "eth1", "fd00:99:5:").is_empty()).then_some(())
        });
        // The link is deleted (both ends go) and made again.
        lab.router.ip("link del lan1");
        plug();
        wait_until("the socket reopened on the new lan1", SETTLE, || {
            (stats.snapshot().socket_restarts >= 1).then_some(())
        });
        wait_until("an address on the new eth1", SETTLE, || {
            (!addr_lines(&lab.host, "eth1", "fd00:99:5:").is_empty()).then_some(())
        });
        let _ = stop.send(StopMode::Silent);
        sender.join().expect("the RA thread does not panic")
    });
    result.expect("run_ra ends cleanly");
}
