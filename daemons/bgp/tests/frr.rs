//! routerd-bgp against FRR 8.4 (Debian frr: zebra, bgpd, bfdd), each in
//! its own namespace: eBGP over IPv4 and IPv6, FRR's ROUTE-REFRESH
//! answered from our Adj-RIB-Out, RFC 8212's default deny, a session
//! shut down taking its routes out of the kernel, and bfdd detecting a
//! silently dropped path. Asserted through `vtysh` and `ip route`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const FRR_AS: u32 = 65002;

/// bgpd for link `i`: one IPv4 and one IPv6 neighbour (us), announcing
/// `v4` and `v6` with `network` statements; `extra` goes into each
/// neighbour's lines (`bfd profile fast`).
fn bgpd_conf(i: usize, v4: &[&str], v6: &[&str], extra: &str) -> String {
    let o4 = Lab::our4(i);
    let o6 = Lab::our6(i);
    let n4: String = v4.iter().map(|p| format!("  network {p}\n")).collect();
    let n6: String = v6.iter().map(|p| format!("  network {p}\n")).collect();
    let x4: String = extra
        .lines()
        .map(|l| format!(" neighbor {o4} {l}\n"))
        .collect();
    let x6: String = extra
        .lines()
        .map(|l| format!(" neighbor {o6} {l}\n"))
        .collect();
    format!(
        "frr defaults traditional
hostname frr{i}
log timestamp precision 3
router bgp {FRR_AS}
 bgp router-id 10.99.{i}.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 bgp log-neighbor-changes
 neighbor {o4} remote-as {OUR_AS}
 neighbor {o4} timers 3 9
 neighbor {o4} timers connect 1
{x4} neighbor {o6} remote-as {OUR_AS}
 neighbor {o6} timers 3 9
 neighbor {o6} timers connect 1
{x6} address-family ipv4 unicast
{n4}  neighbor {o4} activate
 exit-address-family
 address-family ipv6 unicast
{n6}  neighbor {o6} activate
 exit-address-family
"
    )
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    routerd_lab::wait_until(what, SETTLE, f)
}

/// FRR's count of UPDATEs received from `addr`.
fn updates_received(frr: &Frr, addr: &str) -> u64 {
    let v = frr.json(&format!("show bgp neighbors {addr} json"));
    v[addr]["messageStats"]["updatesRecv"].as_u64().unwrap_or(0)
}

#[test]
fn ebgp_v4_and_v6_with_frr_refresh_and_shutdown() {
    let lab = Lab::new("bgp-frr-e", 1);
    let frr = Frr::start(
        &lab.peers[0],
        &bgpd_conf(
            0,
            &["10.50.1.0/24", "10.50.2.0/24"],
            &["2001:db8:50::/48"],
            "",
        ),
        None,
    );
    let mut d = Daemon::new(&config(
        vec![
            peer("frr4", &Lab::peer4(0), FRR_AS, true),
            peer("frr6", &Lab::peer6(0), FRR_AS, true),
        ],
        vec![
            announce("203.0.113.0/24", None),
            announce("2001:db8:ff::/48", None),
        ],
    ));
    d.start(&lab.ours);
    let up = d.wait_state("frr4", "Established", SETTLE);
    d.wait_state("frr6", "Established", SETTLE);
    println!("FRR IPv4 session Established after {}", ms(up));
    wait_for("FRR to see both sessions Established", || {
        (frr.neighbor_state(&Lab::our4(0)) == "Established"
            && frr.neighbor_state(&Lab::our6(0)) == "Established")
            .then_some(())
    });
    let t = lab.wait_kernel(
        &["10.50.1.0/24", "10.50.2.0/24", "2001:db8:50::/48"],
        true,
        SETTLE,
    );
    println!("FRR's routes in our kernel {} after Established", ms(t));
    let r = lab.kernel_route("10.50.1.0/24").expect("route");
    assert_eq!(r["gateway"], Lab::peer4(0), "{r}");
    let r = lab.kernel_route("2001:db8:50::/48").expect("route");
    assert_eq!(r["gateway"], Lab::peer6(0), "{r}");
    frr.wait_routes("ipv4", &["203.0.113.0/24"], true, SETTLE);
    frr.wait_routes("ipv6", &["2001:db8:ff::/48"], true, SETTLE);
    let ours = frr.json("show bgp ipv4 unicast 203.0.113.0/24 json");
    let path = &ours["paths"][0];
    assert_eq!(path["aspath"]["string"], "65000", "{ours}");
    assert_eq!(path["nexthops"][0]["ip"], Lab::our4(0), "{ours}");
    let ours6 = frr.json("show bgp ipv6 unicast 2001:db8:ff::/48 json");
    assert_eq!(
        ours6["paths"][0]["nexthops"][0]["ip"],
        Lab::our6(0),
        "{ours6}"
    );

    // FRR asks for our routes again (no soft-reconfiguration inbound, so
    // `soft in` is a ROUTE-REFRESH): we answer with our Adj-RIB-Out.
    let before = updates_received(&frr, &Lab::our4(0));
    let refreshes = d.peer("frr4")["counters"]["refreshesReceived"]
        .as_u64()
        .unwrap_or(0);
    frr.vtysh(&format!("clear bgp ipv4 unicast {} soft in", Lab::our4(0)));
    wait_for("FRR's ROUTE-REFRESH to reach us", || {
        let n = d.peer("frr4");
        (n["counters"]["refreshesReceived"].as_u64().unwrap_or(0) > refreshes).then_some(())
    });
    wait_for("our re-sent Adj-RIB-Out at FRR", || {
        (updates_received(&frr, &Lab::our4(0)) > before).then_some(())
    });
    assert!(frr.routes("ipv4").contains("203.0.113.0/24"));
    assert_eq!(d.peer_state("frr4"), "Established", "no reset");
    assert_eq!(d.events("bgp.session.established").len(), 2);

    // The HTTP contract: the shapes routerctl prints.
    let s = d.get("/v1/bgp/summary");
    assert_eq!(s["asn"], OUR_AS, "{s}");
    let line = s["peers"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["address"] == Lab::peer4(0)))
        .cloned()
        .unwrap_or_default();
    assert_eq!(line["peerAsn"], FRR_AS, "{s}");
    assert_eq!(line["state"], "Established", "{s}");
    assert_eq!(line["prefixesAccepted"], 2, "{s}");
    let routes = d.get("/v1/bgp/routes?prefix=10.50.1.0/24");
    assert_eq!(routes["count"], 1, "{routes}");
    let p = &routes["routes"][0]["paths"][0];
    assert_eq!(p["best"], true, "{routes}");
    assert_eq!(p["nextHop"], Lab::peer4(0), "{routes}");
    assert_eq!(p["asPath"], json!([FRR_AS]), "{routes}");
    assert_eq!(p["origin"], "igp", "{routes}");
    // An address finds the route that covers it.
    let covering = d.get("/v1/bgp/routes?prefix=10.50.2.77");
    assert_eq!(
        covering["routes"][0]["prefix"], "10.50.2.0/24",
        "{covering}"
    );
    let none = d.get("/v1/bgp/routes?prefix=192.0.2.1");
    assert_eq!(none["count"], 0, "{none}");

    // FRR shuts the IPv4 session down (a Cease): its routes leave our
    // kernel, the IPv6 ones stay.
    let out = frr.vtysh_many(&[
        "configure terminal",
        &format!("router bgp {FRR_AS}"),
        &format!("neighbor {} shutdown", Lab::our4(0)),
    ]);
    let took = lab.wait_kernel(&["10.50.1.0/24", "10.50.2.0/24"], false, SETTLE);
    println!("FRR shutdown: its routes left our kernel {}", ms(took));
    assert!(lab.kernel_prefixes().contains("2001:db8:50::/48"), "{out}");
    assert_ne!(d.peer_state("frr4"), "Established");
}

#[test]
fn ebgp_without_a_policy_takes_and_gives_nothing() {
    let lab = Lab::new("bgp-frr-8212", 1);
    let frr = Frr::start(
        &lab.peers[0],
        &bgpd_conf(0, &["10.51.1.0/24"], &["2001:db8:51::/48"], ""),
        None,
    );
    let mut d = Daemon::new(&config(
        vec![
            peer("frr4", &Lab::peer4(0), FRR_AS, false),
            peer("frr6", &Lab::peer6(0), FRR_AS, false),
        ],
        vec![
            announce("203.0.113.0/24", None),
            announce("2001:db8:ff::/48", None),
        ],
    ));
    d.start(&lab.ours);
    d.wait_state("frr4", "Established", SETTLE);
    d.wait_state("frr6", "Established", SETTLE);
    wait_for("FRR's routes to be judged", || {
        let a = d.peer("frr4")["counters"]["prefixesRejected"].as_u64();
        let b = d.peer("frr6")["counters"]["prefixesRejected"].as_u64();
        (a == Some(1) && b == Some(1)).then_some(())
    });
    // Some keepalives' time for anything to go out.
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.kernel_prefixes().is_empty(), "RFC 8212: nothing in");
    // FRR's table holds only its own networks.
    assert_eq!(
        frr.routes("ipv4").into_iter().collect::<Vec<_>>(),
        ["10.51.1.0/24"],
        "RFC 8212: nothing out"
    );
    assert_eq!(
        frr.routes("ipv6").into_iter().collect::<Vec<_>>(),
        ["2001:db8:51::/48"]
    );
    assert_eq!(d.peer("frr4")["prefixesAccepted"], 0);
}

#[test]
fn bfd_with_bfdd_takes_a_silently_dropped_peer_out_of_the_kernel() {
    let lab = Lab::new("bgp-frr-bfd", 1);
    let bfdd = "bfd
 profile fast
  transmit-interval 50
  receive-interval 50
  detect-multiplier 3
 !
!
";
    // BFD on both sessions, IPv4 and IPv6.
    let frr = Frr::start(
        &lab.peers[0],
        &bgpd_conf(
            0,
            &["10.52.1.0/24"],
            &["2001:db8:52::/48"],
            "bfd\nbfd profile fast",
        ),
        Some(bfdd),
    );
    let mut peers = Vec::new();
    for (name, addr) in [("frr4", Lab::peer4(0)), ("frr6", Lab::peer6(0))] {
        let mut p = peer(name, &addr, FRR_AS, true);
        p["bfd"] = json!({"minTxMs": 50, "minRxMs": 50, "multiplier": 3});
        peers.push(p);
    }
    let mut d = Daemon::new(&config(peers, vec![]));
    d.start(&lab.ours);
    d.wait_state("frr4", "Established", SETTLE);
    d.wait_state("frr6", "Established", SETTLE);
    let routes = ["10.52.1.0/24", "2001:db8:52::/48"];
    lab.wait_kernel(&routes, true, SETTLE);
    wait_for("our BFD sessions Up", || {
        (d.peer("frr4")["bfd"] == "Up" && d.peer("frr6")["bfd"] == "Up").then_some(())
    });
    wait_for("bfdd's sessions up", || {
        let v = frr.json("show bfd peers json");
        let up = |addr: String| {
            v.as_array()
                .is_some_and(|a| a.iter().any(|s| s["peer"] == addr && s["status"] == "up"))
        };
        (up(Lab::our4(0)) && up(Lab::our6(0))).then_some(())
    });
    let cut = Blackhole::new(&lab.peers[0]);
    let took = lab.wait_kernel(&routes, false, Duration::from_secs(5));
    println!(
        "FRR silently dropped: its IPv4 and IPv6 routes left our kernel {} after the cut (BFD 50 ms x 3)",
        ms(took)
    );
    // Detection is 3 x 50 ms; a second on top for a loaded 2-core box.
    assert!(
        took < Duration::from_millis(150) + Duration::from_secs(1),
        "took {took:?}"
    );
    assert_eq!(d.events("bgp.bfd.down").len(), 2);
    for name in ["frr4", "frr6"] {
        let n = d.peer(name);
        assert_ne!(n["state"], "Established", "{n}");
        assert_eq!(n["counters"]["bfdDowns"], 1, "{n}");
    }
    drop(cut);
    d.wait_state("frr4", "Established", Duration::from_secs(60));
    d.wait_state("frr6", "Established", Duration::from_secs(60));
    lab.wait_kernel(&routes, true, SETTLE);
}

#[test]
fn graceful_restart_keeps_routes_through_a_bgpd_restart() {
    let lab = Lab::new("bgp-frr-gr", 1);
    let conf = bgpd_conf(0, &["10.53.1.0/24"], &["2001:db8:53::/48"], "").replace(
        " bgp log-neighbor-changes\n",
        " bgp log-neighbor-changes\n bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n",
    );
    let mut frr = Frr::start(&lab.peers[0], &conf, None);
    let mut d = Daemon::new(&config(
        vec![
            peer("frr4", &Lab::peer4(0), FRR_AS, true),
            peer("frr6", &Lab::peer6(0), FRR_AS, true),
        ],
        vec![],
    ));
    d.start(&lab.ours);
    d.wait_state("frr4", "Established", SETTLE);
    d.wait_state("frr6", "Established", SETTLE);
    let routes = ["10.53.1.0/24", "2001:db8:53::/48"];
    lab.wait_kernel(&routes, true, SETTLE);
    let n = d.peer("frr4");
    assert!(
        n["session"]["gracefulRestart"].is_u64(),
        "FRR offered GR: {n}"
    );

    frr.kill_bgpd();
    wait_for("our side to see both sessions go down", || {
        (d.peer_state("frr4") != "Established" && d.peer_state("frr6") != "Established")
            .then_some(())
    });
    let down = d.events("bgp.session.down");
    assert!(
        down.iter().all(|e| e["reason"] == "GracefulRestart"),
        "{down:?}"
    );
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        let have = lab.kernel_prefixes();
        for r in routes {
            assert!(have.contains(r), "{r} left the kernel: {have:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stale = d.get("/v1/bgp/routes?prefix=10.53.1.0/24");
    assert_eq!(stale["routes"][0]["paths"][0]["stale"], true, "{stale}");

    // bgpd with graceful restart configured sets the R bit in the OPENs of
    // its startup period, and the F bit with preserve-fw-state. The routes
    // stay in the kernel throughout and are fresh again after its
    // End-of-RIB.
    frr.start_bgpd(&[]);
    wait_for("the routes refreshed after the restart", || {
        let have = lab.kernel_prefixes();
        for r in routes {
            assert!(have.contains(r), "{r} left the kernel: {have:?}");
        }
        routes
            .iter()
            .all(|r| {
                d.get(&format!("/v1/bgp/routes?prefix={r}"))["routes"][0]["paths"][0]["stale"]
                    == false
            })
            .then_some(())
    });
    assert_eq!(d.peer_state("frr4"), "Established");
    assert_eq!(d.peer_state("frr6"), "Established");
    // Kept to End-of-RIB, not dropped for a missing F bit.
    let logs = d.logs();
    assert!(!logs.contains("kept no forwarding state"), "{logs}");
    assert!(logs.contains("stale routes swept: End-of-RIB"), "{logs}");
}

#[test]
fn prefix_rules_with_ge_and_le_and_communities_both_ways() {
    let lab = Lab::new("bgp-frr-pol", 1);
    // FRR tags one /24 with 65002:1 through a route-map on its network.
    let conf = bgpd_conf(
        0,
        &[
            "10.54.0.0/16",
            "10.54.1.0/24 route-map TAG",
            "10.54.2.0/25 route-map TAG",
            "10.54.3.0/24",
        ],
        &[],
        "",
    ) + "route-map TAG permit 10\n set community 65002:1\nexit\n";
    let frr = Frr::start(&lab.peers[0], &conf, None);
    let policy = |allowed: &[&str], required: &[&str], add: &[&str], lp: Option<u32>| {
        json!({"allowed": allowed, "lengthMin": null, "lengthMax": null,
               "requiredCommunities": required, "forbiddenCommunities": [],
               "localPref": lp, "addCommunities": add})
    };
    let mut p = peer("frr4", &Lab::peer4(0), FRR_AS, true);
    // Only /24s inside 10.54/16 that carry 65002:1; they get LOCAL_PREF 200.
    p["import"] = policy(&["10.54.0.0/16 ge 24 le 24"], &["65002:1"], &[], Some(200));
    // Out: only 203.0.113.0/24, tagged 65000:42.
    p["export"] = policy(&["203.0.113.0/24"], &[], &["65000:42"], None);
    let mut d = Daemon::new(&config(
        vec![p],
        vec![
            announce("203.0.113.0/24", None),
            announce("198.51.100.0/24", None),
        ],
    ));
    d.start(&lab.ours);
    d.wait_state("frr4", "Established", SETTLE);
    lab.wait_kernel(&["10.54.1.0/24"], true, SETTLE);
    wait_for("every route FRR sent judged", || {
        let n = d.peer("frr4");
        // FRR also sends our own route back (it has no sender-side loop
        // detection by default); our AS in its path refuses it: five.
        (n["prefixesReceived"].as_u64() >= Some(5)).then_some(())
    });
    let kernel = lab.kernel_prefixes();
    for refused in ["10.54.0.0/16", "10.54.2.0/25", "10.54.3.0/24"] {
        assert!(!kernel.contains(refused), "{refused} let in: {kernel:?}");
    }
    let n = d.peer("frr4");
    assert_eq!(n["prefixesAccepted"], 1, "{n}");
    assert_eq!(n["prefixesReceived"], 5, "{n}");
    assert_eq!(n["counters"]["prefixesRejected"], 4, "{n}");
    let r = d.get("/v1/bgp/routes?prefix=10.54.1.0/24");
    let path = &r["routes"][0]["paths"][0];
    assert_eq!(path["localPref"], 200, "{r}");
    assert!(path["communities"].to_string().contains("65002:1"), "{r}");

    frr.wait_routes("ipv4", &["203.0.113.0/24"], true, SETTLE);
    assert!(
        !frr.routes("ipv4").contains("198.51.100.0/24"),
        "the export policy let 198.51.100.0/24 out"
    );
    let ours = frr.json("show bgp ipv4 unicast 203.0.113.0/24 json");
    let communities = ours["paths"][0]["community"]["string"].clone();
    assert_eq!(communities, "65000:42", "{ours}");
}
