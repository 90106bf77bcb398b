//! routerd-bgp against BIRD 2 (Debian bird2), each in its own namespace:
//! eBGP and iBGP over IPv4 and IPv6, policy, route refresh, max-prefix,
//! graceful restart, ECMP, BFD and fenced announcements. Assertions are
//! what an operator checks: `birdc show route`, `ip route show proto bgp`.

mod common;

use common::*;

const BIRD_AS: u32 = 65001;

fn bird_conf(i: usize, asn: u32, routes4: &[&str], routes6: &[&str], extra: &str) -> String {
    let r4: String = routes4
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    let r6: String = routes6
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    format!(
        r#"router id 10.99.{i}.2;
log stderr all;
protocol device {{ scan time 1; }}
protocol static st4 {{
  ipv4;
{r4}}}
protocol static st6 {{
  ipv6;
{r6}}}
protocol bgp peer4 {{
  local {p4} as {asn};
  neighbor {o4} as {OUR_AS};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  error wait time 1, 5;
  graceful restart on;
  ipv4 {{ import all; export all; }};
{extra}}}
protocol bgp peer6 {{
  local {p6} as {asn};
  neighbor {o6} as {OUR_AS};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  error wait time 1, 5;
  ipv6 {{ import all; export all; }};
}}
"#,
        p4 = Lab::peer4(i),
        o4 = Lab::our4(i),
        p6 = Lab::peer6(i),
        o6 = Lab::our6(i),
    )
}

#[test]
fn ebgp_v4_and_v6_routes_flow_both_ways() {
    let lab = Lab::new("bgp-bird-e", 1);
    let bird = Bird::start(
        &lab.peers[0],
        &bird_conf(
            0,
            BIRD_AS,
            &["10.10.1.0/24", "10.10.2.0/25"],
            &["2001:db8:10::/48"],
            "",
        ),
    );
    let mut d = Daemon::new(&config(
        vec![
            peer("bird4", &Lab::peer4(0), BIRD_AS, true),
            peer("bird6", &Lab::peer6(0), BIRD_AS, true),
        ],
        vec![
            announce("203.0.113.0/24", None),
            announce("2001:db8:ff::/48", None),
        ],
    ));
    d.start(&lab.ours);
    let up = d.wait_state("bird4", "Established", SETTLE);
    d.wait_state("bird6", "Established", SETTLE);
    println!("IPv4 session Established after {}", ms(up));
    let t = lab.wait_kernel(
        &["10.10.1.0/24", "10.10.2.0/25", "2001:db8:10::/48"],
        true,
        SETTLE,
    );
    println!("BIRD's routes in our kernel {} after Established", ms(t));
    let r = lab.kernel_route("10.10.1.0/24").expect("route");
    assert_eq!(r["gateway"], Lab::peer4(0), "{r}");
    let r = lab.kernel_route("2001:db8:10::/48").expect("route");
    assert_eq!(r["gateway"], Lab::peer6(0), "{r}");
    bird.wait_routes("peer4", &["203.0.113.0/24"], true, SETTLE);
    bird.wait_routes("peer6", &["2001:db8:ff::/48"], true, SETTLE);
    let attrs = bird.route_all("203.0.113.0/24");
    assert!(attrs.contains("BGP.as_path: 65000"), "{attrs}");
    assert!(
        attrs.contains(&format!("BGP.next_hop: {}", Lab::our4(0))),
        "{attrs}"
    );
    let attrs = bird.route_all("2001:db8:ff::/48");
    assert!(
        attrs.contains(&format!("BGP.next_hop: {}", Lab::our6(0))),
        "{attrs}"
    );
    // Our routes learned from BIRD over eBGP are not sent back to it, and
    // BIRD's own are not echoed into its table from us.
    assert!(!bird.routes_from("peer4").contains("10.10.1.0/24"));
    let routes = d.get("/v1/bgp/routes?prefix=10.10.1.0/24");
    assert_eq!(routes["count"], 1, "{routes}");
    assert_eq!(routes["routes"][0]["prefix"], "10.10.1.0/24", "{routes}");
    let r = &routes["routes"][0]["paths"][0];
    assert_eq!(r["asPath"], serde_json::json!([BIRD_AS]), "{routes}");
    assert_eq!(r["best"], true);
    assert_eq!(r["peer"], "bird4");
    assert_eq!(r["nextHop"], Lab::peer4(0));
    assert_eq!(r["origin"], "igp");
    let status = d.status();
    assert_eq!(status["phase"], "Established", "{status}");
    // Per-resource objects routerd copies into each resource's status.
    let detail = &status["status"];
    assert_eq!(detail["BGPPeer/bird4"]["phase"], "Established", "{detail}");
    assert_eq!(detail["BGPPeer/bird6"]["phase"], "Established", "{detail}");
    assert_eq!(
        detail["BGPAnnouncement/203.0.113.0/24"]["phase"], "Announced",
        "{detail}"
    );
    let s = d.get("/v1/bgp/summary");
    assert_eq!(s["routes"]["ipv4"], 3, "two of BIRD's, one ours: {s}");
    assert_eq!(s["routes"]["ipv6"], 2, "{s}");
    assert_eq!(s["fibRoutes"], 3, "{s}");
    let line = s["peers"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["address"] == Lab::peer4(0)))
        .cloned()
        .unwrap_or_default();
    assert_eq!(line["peerAsn"], BIRD_AS, "{s}");
    assert_eq!(line["state"], "Established", "{s}");
    assert_eq!(line["prefixesReceived"], 2, "{s}");
    assert_eq!(line["prefixesAccepted"], 2, "{s}");
    assert_eq!(line["prefixesSent"], 1, "{s}");
    assert!(line["uptimeSecs"].is_u64(), "{s}");
    let n = d.get("/v1/bgp/neighbors");
    let nb = &n["neighbors"][0];
    for key in ["address", "resource", "peerAsn", "state"] {
        assert!(!nb[key].is_null(), "{key} missing: {n}");
    }
    assert_eq!(d.events("bgp.session.established").len(), 2);
    drop(bird);
}

/// An import policy: `allowed` rules and forbidden communities.
fn import_policy(allowed: &[&str], forbidden: &[&str]) -> serde_json::Value {
    serde_json::json!({"allowed": allowed, "lengthMin": null, "lengthMax": null,
        "requiredCommunities": [], "forbiddenCommunities": forbidden, "localPref": null,
        "addCommunities": []})
}

#[test]
fn policy_filters_and_a_reload_refreshes_without_a_reset() {
    let lab = Lab::new("bgp-bird-pol", 1);
    let extra = "  ipv4 { import all; export filter { if net = 10.30.0.0/24 then bgp_community.add((65001, 666)); accept; }; };\n";
    let conf = bird_conf(
        0,
        BIRD_AS,
        &[
            "10.20.0.0/16",
            "10.20.1.0/24",
            "10.20.2.128/25",
            "10.30.0.0/24",
            "192.0.2.0/24",
        ],
        &[],
        "",
    )
    .replace("  ipv4 { import all; export all; };\n", extra);
    let bird = Bird::start(&lab.peers[0], &conf);
    let mut p = peer("bird4", &Lab::peer4(0), BIRD_AS, true);
    p["import"] = import_policy(
        &["10.20.0.0/16 le 24", "10.30.0.0/16 le 24"],
        &["65001:666"],
    );
    p["export"] = import_policy(&["203.0.113.0/24"], &[]);
    let cfg = config(
        vec![p.clone()],
        vec![
            announce("203.0.113.0/24", None),
            announce("198.51.100.0/24", None),
        ],
    );
    let mut d = Daemon::new(&cfg);
    d.start(&lab.ours);
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&["10.20.0.0/16", "10.20.1.0/24"], true, SETTLE);
    bird.wait_routes("peer4", &["203.0.113.0/24"], true, SETTLE);
    wait_for("all five of BIRD's routes to be judged", || {
        let n = d.peer("bird4");
        (n["counters"]["prefixesRejected"].as_u64() == Some(3)).then_some(())
    });
    let kernel = lab.kernel_prefixes();
    for refused in ["10.20.2.128/25", "10.30.0.0/24", "192.0.2.0/24"] {
        assert!(
            !kernel.contains(refused),
            "{refused} passed the policy: {kernel:?}"
        );
    }
    assert!(
        !bird.routes_from("peer4").contains("198.51.100.0/24"),
        "the export policy let 198.51.100.0/24 out"
    );
    assert_eq!(d.peer("bird4")["prefixesAccepted"], 2);

    // A wider import policy, reloaded in place: the session stays, we ask
    // BIRD for its routes again and the newly allowed ones arrive.
    let since = d.peer("bird4")["stateSecs"].as_u64().unwrap_or(0);
    p["import"] = import_policy(&["10.20.0.0/16 le 25", "10.30.0.0/16 le 24"], &[]);
    p["export"] = import_policy(&["203.0.113.0/24", "198.51.100.0/24"], &[]);
    let mut cfg2 = cfg.clone();
    cfg2["peers"] = serde_json::json!([p]);
    d.write_config(&cfg2);
    let r = block_on(
        d.client()
            .command(routerd_contract::server::Command::Reload),
    )
    .expect("reload");
    assert_eq!(r["changed"], serde_json::json!(["bird4"]), "{r}");
    lab.wait_kernel(&["10.20.2.128/25", "10.30.0.0/24"], true, SETTLE);
    bird.wait_routes("peer4", &["198.51.100.0/24"], true, SETTLE);
    assert!(!lab.kernel_prefixes().contains("192.0.2.0/24"));
    let n = d.peer("bird4");
    assert_eq!(n["state"], "Established");
    assert!(
        n["stateSecs"].as_u64().unwrap_or(0) >= since,
        "the session was reset: {n}"
    );
    assert_eq!(
        d.events("bgp.session.established").len(),
        1,
        "no new session"
    );
    assert!(
        n["counters"]["refreshesSent"].as_u64().unwrap_or(0) >= 1,
        "{n}"
    );

    // BIRD asks us for our routes (`reload in` sends a ROUTE-REFRESH).
    let before = n["counters"]["refreshesReceived"].as_u64().unwrap_or(0);
    bird.birdc(&["reload", "in", "peer4"]);
    wait_for("BIRD's route refresh to reach us", || {
        let n = d.peer("bird4");
        (n["counters"]["refreshesReceived"].as_u64().unwrap_or(0) > before).then_some(())
    });
    bird.wait_routes(
        "peer4",
        &["203.0.113.0/24", "198.51.100.0/24"],
        true,
        SETTLE,
    );

    // And the renew command sends BIRD one, for one peer by name.
    let r = d.post("/v1/commands/renew", &serde_json::json!({"peer": "bird4"}));
    assert_eq!(
        r["detail"]["refreshed"],
        serde_json::json!(["bird4"]),
        "{r}"
    );
}

#[test]
fn max_prefixes_close_the_session_with_a_cease() {
    let lab = Lab::new("bgp-bird-max", 1);
    let routes = [
        "10.60.1.0/24",
        "10.60.2.0/24",
        "10.60.3.0/24",
        "10.60.4.0/24",
        "10.60.5.0/24",
    ];
    let bird = Bird::start(&lab.peers[0], &bird_conf(0, BIRD_AS, &routes, &[], ""));
    let mut p = peer("bird4", &Lab::peer4(0), BIRD_AS, true);
    p["maxPrefixes"] = 3.into();
    let mut cfg = config(vec![p.clone()], vec![]);
    let mut d = Daemon::new(&cfg);
    d.start(&lab.ours);
    wait_for("the max-prefix event", || {
        (!d.events("bgp.session.maxprefix").is_empty()).then_some(())
    });
    let n = d.peer("bird4");
    assert!(n["halted"].is_string(), "{n}");
    assert_ne!(n["state"], "Established");
    assert!(
        n["lastError"].as_str().unwrap_or("").contains("Cease"),
        "{n}"
    );
    wait_for("BIRD to report the Cease", || {
        let info = bird.protocol_info("peer4");
        info.contains("Maximum number of prefixes reached")
            .then_some(())
    });
    assert!(
        lab.kernel_prefixes().is_empty(),
        "routes of a closed session stay"
    );
    // Halted: no new session by itself.
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(d.peer_state("bird4"), "Established");

    // A reload that raises the limit brings it back with all five.
    p["maxPrefixes"] = 10.into();
    cfg["peers"] = serde_json::json!([p]);
    d.write_config(&cfg);
    block_on(
        d.client()
            .command(routerd_contract::server::Command::Reload),
    )
    .expect("reload");
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&routes, true, SETTLE);
}

#[test]
fn graceful_restart_keeps_routes_through_a_peer_restart() {
    let lab = Lab::new("bgp-bird-gr", 1);
    let routes = ["10.70.1.0/24", "10.70.2.0/24", "10.70.3.0/24"];
    let conf = bird_conf(0, BIRD_AS, &routes, &[], "");
    let mut bird = Bird::start(&lab.peers[0], &conf);
    let mut d = Daemon::new(&config(
        vec![peer("bird4", &Lab::peer4(0), BIRD_AS, true)],
        vec![],
    ));
    d.start(&lab.ours);
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&routes, true, SETTLE);
    let n = d.peer("bird4");
    assert!(
        n["session"]["gracefulRestart"].is_u64(),
        "BIRD offered GR: {n}"
    );

    bird.kill9();
    wait_for("our side to see the session go down", || {
        (d.peer_state("bird4") != "Established").then_some(())
    });
    let down = d.events("bgp.session.down");
    assert_eq!(
        down.last().map(|e| e["reason"].clone()),
        Some("GracefulRestart".into()),
        "{down:?}"
    );
    // While BIRD is gone, its routes stay in the kernel, still proto bgp.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let have = lab.kernel_prefixes();
        for r in routes {
            assert!(
                have.contains(r),
                "{r} left the kernel during the restart: {have:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stale = d.get("/v1/bgp/routes?prefix=10.70.1.0/24");
    assert_eq!(stale["routes"][0]["paths"][0]["stale"], true, "{stale}");

    // BIRD comes back without 10.70.3.0/24: the others are refreshed, that
    // one is swept at its End-of-RIB.
    // `bird -R` is a graceful restart: its OPEN carries the R and F bits.
    // It waits for End-of-RIB from its GR peers before it sends its own,
    // and peer6 has no session here: its wait is cut to 5 s.
    let restarted = format!(
        "graceful restart wait 5;\n{}",
        bird_conf(0, BIRD_AS, &routes[..2], &[], "")
    );
    bird.write(&restarted);
    let relaunched = std::time::Instant::now();
    bird.launch_with(&["-R"]);
    // The kept routes never leave the kernel while the session comes
    // back, and the one BIRD no longer has goes at its End-of-RIB.
    wait_for("10.70.3.0/24 swept at End-of-RIB", || {
        let have = lab.kernel_prefixes();
        for r in &routes[..2] {
            assert!(have.contains(*r), "{r} left the kernel: {have:?}");
        }
        (!have.contains("10.70.3.0/24")).then_some(())
    });
    println!(
        "BIRD -R: the stale route swept {} after the relaunch",
        ms(relaunched.elapsed())
    );
    d.wait_state("bird4", "Established", SETTLE);
    for r in &routes[..2] {
        assert!(lab.kernel_prefixes().contains(*r), "{r} lost");
        let route = d.get(&format!("/v1/bgp/routes?prefix={r}"));
        assert_eq!(route["routes"][0]["paths"][0]["stale"], false, "{route}");
    }
}

#[test]
fn a_plain_bird_restart_drops_the_stale_routes_at_once() {
    let lab = Lab::new("bgp-bird-nogr", 1);
    let routes = ["10.74.1.0/24", "10.74.2.0/24"];
    let conf = bird_conf(0, BIRD_AS, &routes, &[], "");
    let mut bird = Bird::start(&lab.peers[0], &conf);
    let mut d = Daemon::new(&config(
        vec![peer("bird4", &Lab::peer4(0), BIRD_AS, true)],
        vec![],
    ));
    d.start(&lab.ours);
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&routes, true, SETTLE);
    bird.kill9();
    wait_for("the routes marked stale", || {
        let r = d.get("/v1/bgp/routes?prefix=10.74.1.0/24");
        (r["routes"][0]["paths"][0]["stale"] == true).then_some(())
    });
    // Started without -R, BIRD's OPEN has neither the R nor the F bit: it
    // kept no forwarding state, so the stale routes go when the session
    // is back (RFC 4724 §4.2), and what it sends again comes back fresh.
    bird.launch();
    d.wait_state("bird4", "Established", SETTLE);
    wait_for("fresh routes from the new session", || {
        routes
            .iter()
            .all(|r| {
                d.get(&format!("/v1/bgp/routes?prefix={r}"))["routes"][0]["paths"][0]["stale"]
                    == false
            })
            .then_some(())
    });
    lab.wait_kernel(&routes, true, SETTLE);
    let logs = d.logs();
    assert!(logs.contains("kept no forwarding state"), "{logs}");
}

#[test]
fn ipv4_routes_over_an_ipv6_session_use_an_ipv6_next_hop() {
    let lab = Lab::new("bgp-bird-8950", 1);
    // One IPv6 session carrying both families; IPv4 with IPv6 next hops
    // (RFC 8950, BIRD's `extended next hop`).
    let conf = format!(
        r#"router id 10.99.0.2;
log stderr all;
protocol device {{ scan time 1; }}
protocol static st4 {{ ipv4; route 10.75.0.0/24 blackhole; }}
protocol static st6 {{ ipv6; route 2001:db8:75::/48 blackhole; }}
protocol bgp peer6 {{
  local {p6} as {BIRD_AS};
  neighbor {o6} as {OUR_AS};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  error wait time 1, 5;
  ipv4 {{ import all; export all; extended next hop on; }};
  ipv6 {{ import all; export all; }};
}}
"#,
        p6 = Lab::peer6(0),
        o6 = Lab::our6(0),
    );
    let bird = Bird::start(&lab.peers[0], &conf);
    let mut d = Daemon::new(&config(
        vec![peer("bird6", &Lab::peer6(0), BIRD_AS, true)],
        vec![announce("203.0.113.0/24", None)],
    ));
    d.start(&lab.ours);
    d.wait_state("bird6", "Established", SETTLE);
    let n = d.peer("bird6");
    assert_eq!(n["session"]["extendedNextHop"], true, "{n}");
    lab.wait_kernel(&["10.75.0.0/24", "2001:db8:75::/48"], true, SETTLE);
    let r = lab.kernel_route("10.75.0.0/24").expect("route");
    assert_eq!(r["via"]["family"], "inet6", "{r}");
    assert_eq!(r["via"]["host"], Lab::peer6(0), "{r}");
    // Ours goes to BIRD over the same session with our IPv6 address.
    bird.wait_routes("peer6", &["203.0.113.0/24"], true, SETTLE);
    let attrs = bird.route_all("203.0.113.0/24");
    assert!(attrs.contains(&Lab::our6(0)), "{attrs}");
    // The session goes: the IPv4-via-IPv6 route leaves the kernel too.
    bird.birdc(&["disable", "peer6"]);
    lab.wait_kernel(&["10.75.0.0/24", "2001:db8:75::/48"], false, SETTLE);
}

#[test]
fn equal_paths_from_two_peers_make_one_multipath_route() {
    let lab = Lab::new("bgp-bird-ecmp", 2);
    let b0 = Bird::start(
        &lab.peers[0],
        &bird_conf(0, BIRD_AS, &["10.40.0.0/24"], &["2001:db8:40::/48"], ""),
    );
    let b1 = Bird::start(
        &lab.peers[1],
        &bird_conf(1, BIRD_AS, &["10.40.0.0/24"], &["2001:db8:40::/48"], ""),
    );
    let mut d = Daemon::new(&config(
        vec![
            peer("b0", &Lab::peer4(0), BIRD_AS, true),
            peer("b1", &Lab::peer4(1), BIRD_AS, true),
            peer("b0v6", &Lab::peer6(0), BIRD_AS, true),
            peer("b1v6", &Lab::peer6(1), BIRD_AS, true),
        ],
        vec![],
    ));
    d.start(&lab.ours);
    for p in ["b0", "b1", "b0v6", "b1v6"] {
        d.wait_state(p, "Established", SETTLE);
    }
    for prefix in ["10.40.0.0/24", "2001:db8:40::/48"] {
        let hops = wait_for("a two-way multipath route", || {
            let r = lab.kernel_route(prefix)?;
            let hops: Vec<String> = r["nexthops"]
                .as_array()?
                .iter()
                .filter_map(|h| h["gateway"].as_str().map(String::from))
                .collect();
            (hops.len() == 2).then_some(hops)
        });
        println!("{prefix}: {hops:?}");
        let r = d.get(&format!("/v1/bgp/routes?prefix={prefix}"));
        let paths = r["routes"][0]["paths"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(paths.len(), 2, "{r}");
        assert!(paths.iter().all(|p| p["multipath"] == true), "{r}");
    }
    let text = lab.ours.ip("route show proto bgp 10.40.0.0/24");
    assert!(
        text.contains(&Lab::peer4(0)) && text.contains(&Lab::peer4(1)),
        "{text}"
    );
    // One side goes (an administrative shutdown: a Cease, so no graceful
    // restart keeps its paths): each route shrinks to the other next hop.
    b1.birdc(&["disable", "peer4"]);
    b1.birdc(&["disable", "peer6"]);
    for (prefix, hop) in [
        ("10.40.0.0/24", Lab::peer4(0)),
        ("2001:db8:40::/48", Lab::peer6(0)),
    ] {
        wait_for("the route to keep one next hop", || {
            let r = lab.kernel_route(prefix)?;
            (r["gateway"] == hop.as_str() && r["nexthops"].is_null()).then_some(())
        });
    }
    // The other goes too: nothing is left in the kernel.
    b0.birdc(&["disable", "peer4"]);
    b0.birdc(&["disable", "peer6"]);
    lab.wait_kernel(&["10.40.0.0/24", "2001:db8:40::/48"], false, SETTLE);
}

#[test]
fn ibgp_carries_local_pref_and_leaves_the_next_hop() {
    let lab = Lab::new("bgp-bird-ibgp", 2);
    // Peer 0: eBGP, gives 10.80.0.0/24. Peer 1: iBGP in our AS.
    let _ebgp = Bird::start(
        &lab.peers[0],
        &bird_conf(0, BIRD_AS, &["10.80.0.0/24"], &[], ""),
    );
    let ibgp_conf = format!(
        r#"router id 10.99.1.2;
log stderr all;
protocol device {{ scan time 1; }}
protocol static nh {{ ipv4; route 10.99.0.0/24 via {o1}; }}
protocol static st4 {{ ipv4; route 10.81.0.0/24 blackhole; }}
protocol bgp inner {{
  local {p1} as {OUR_AS};
  neighbor {o1} as {OUR_AS};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  ipv4 {{ import all; export where proto = "st4"; gateway recursive; }};
}}
"#,
        p1 = Lab::peer4(1),
        o1 = Lab::our4(1),
    );
    let ibgp = Bird::start(&lab.peers[1], &ibgp_conf);
    let mut d = Daemon::new(&config(
        vec![
            peer("ebgp", &Lab::peer4(0), BIRD_AS, true),
            peer("ibgp", &Lab::peer4(1), OUR_AS, false),
        ],
        vec![announce("203.0.113.0/24", None)],
    ));
    d.start(&lab.ours);
    d.wait_state("ebgp", "Established", SETTLE);
    d.wait_state("ibgp", "Established", SETTLE);
    // iBGP without a policy accepts (RFC 8212 is for eBGP only).
    lab.wait_kernel(&["10.81.0.0/24", "10.80.0.0/24"], true, SETTLE);
    ibgp.wait_routes("inner", &["203.0.113.0/24", "10.80.0.0/24"], true, SETTLE);
    let ours = ibgp.route_all("203.0.113.0/24");
    assert!(ours.contains("BGP.local_pref: 100"), "{ours}");
    assert!(
        ours.contains("BGP.as_path: \n")
            || ours.contains("BGP.as_path:\n")
            || ours.lines().any(|l| l.trim() == "BGP.as_path:"),
        "{ours}"
    );
    let learned = ibgp.route_all("10.80.0.0/24");
    assert!(
        learned.contains(&format!("BGP.next_hop: {}", Lab::peer4(0))),
        "an eBGP route goes to iBGP with its next hop unchanged: {learned}"
    );
    assert!(learned.contains("BGP.as_path: 65001"), "{learned}");
    // The iBGP route is not reflected back to another iBGP peer, and goes
    // to the eBGP peer with our AS and next hop self: the eBGP BIRD's
    // import would show it.
}

#[test]
fn bfd_takes_a_silently_dropped_peer_out_of_the_kernel() {
    let lab = Lab::new("bgp-bird-bfd", 1);
    let extra = "  bfd on;\n";
    let conf = format!(
        "{}protocol bfd {{ interface \"eth0\" {{ interval 50 ms; multiplier 3; }}; }}\n",
        bird_conf(0, BIRD_AS, &["10.90.0.0/24"], &[], extra)
    );
    let bird = Bird::start(&lab.peers[0], &conf);
    let mut p = peer("bird4", &Lab::peer4(0), BIRD_AS, true);
    p["bfd"] = serde_json::json!({"minTxMs": 50, "minRxMs": 50, "multiplier": 3,
        "resource": "BFD/bird"});
    let mut d = Daemon::new(&config(vec![p], vec![]));
    d.start(&lab.ours);
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&["10.90.0.0/24"], true, SETTLE);
    wait_for("our BFD session Up", || {
        (d.peer("bird4")["bfd"] == "Up").then_some(())
    });
    wait_for("BIRD's BFD session Up", || {
        bird.birdc(&["show", "bfd", "sessions"])
            .contains("Up")
            .then_some(())
    });
    let status = d.status();
    assert_eq!(status["status"]["BFD/bird"]["phase"], "Up", "{status}");
    // Hold time is 9 s: only BFD can make this quick.
    let cut = Blackhole::new(&lab.peers[0]);
    let took = lab.wait_kernel(&["10.90.0.0/24"], false, Duration::from_secs(3));
    println!(
        "BIRD silently dropped: its routes left our kernel {} after the cut (BFD 50 ms x 3)",
        ms(took)
    );
    // Detection is 3 x 50 ms; a second on top for a loaded 2-core box.
    assert!(
        took < Duration::from_millis(150) + Duration::from_secs(1),
        "took {took:?}"
    );
    let ev = d.events("bgp.bfd.down");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_ne!(d.peer_state("bird4"), "Established");
    let status = d.status();
    assert_ne!(status["status"]["BFD/bird"]["phase"], "Up", "{status}");
    assert_ne!(
        status["status"]["BGPPeer/bird4"]["phase"], "Established",
        "{status}"
    );
    drop(cut);
    d.wait_state("bird4", "Established", SETTLE);
    lab.wait_kernel(&["10.90.0.0/24"], true, SETTLE);
}

#[test]
fn a_grouped_announcement_follows_the_owner_grant_and_its_deadline() {
    let lab = Lab::new("bgp-bird-fence", 1);
    let bird = Bird::start(&lab.peers[0], &bird_conf(0, BIRD_AS, &[], &[], ""));
    let mut prepended = announce("198.51.100.128/25", Some("web"));
    prepended["standby"] = serde_json::json!({"prepend": 2});
    let mut d = Daemon::new(&config(
        vec![peer("bird4", &Lab::peer4(0), BIRD_AS, true)],
        vec![
            announce("203.0.113.0/24", None),
            announce("198.51.100.0/25", Some("web")),
            prepended,
        ],
    ));
    d.start(&lab.ours);
    d.wait_state("bird4", "Established", SETTLE);
    // The ungrouped prefix and the standby one went in the initial table;
    // the fenced one did not.
    bird.wait_routes(
        "peer4",
        &["203.0.113.0/24", "198.51.100.128/25"],
        true,
        SETTLE,
    );
    assert!(!bird.routes_from("peer4").contains("198.51.100.0/25"));
    let standby = bird.route_all("198.51.100.128/25");
    assert!(
        standby.contains("BGP.as_path: 65000 65000 65000"),
        "{standby}"
    );

    let status = d.status();
    let phase = |s: &serde_json::Value, r: &str| s["status"][r]["phase"].clone();
    assert_eq!(
        phase(&status, "BGPAnnouncement/198.51.100.0/25"),
        "Withdrawn",
        "{status}"
    );
    assert_eq!(
        phase(&status, "BGPAnnouncement/198.51.100.128/25"),
        "Prepended",
        "{status}"
    );
    assert_eq!(
        phase(&status, "BGPAnnouncement/203.0.113.0/24"),
        "Announced",
        "{status}"
    );

    let deadline = mono_now_ns() + 4_000_000_000;
    let r = d.grant("web", 1, "owner", Some(deadline));
    assert_eq!(r["results"][0]["result"], "accepted", "{r}");
    let t = bird.wait_routes("peer4", &["198.51.100.0/25"], true, SETTLE);
    println!("owner grant: the prefix reached BIRD in {}", ms(t));
    wait_for("the standby prepends to go", || {
        bird.route_all("198.51.100.128/25")
            .contains("BGP.as_path: 65000\n")
            .then_some(())
    });
    let status = d.status();
    assert_eq!(
        phase(&status, "BGPAnnouncement/198.51.100.0/25"),
        "Announced",
        "{status}"
    );
    // An older epoch changes nothing.
    let r = d.grant("web", 0, "standby", None);
    assert_eq!(r["results"][0]["result"], "ignoredOlderEpoch", "{r}");

    // No renewal: at the deadline our own timer withdraws it.
    bird.wait_routes(
        "peer4",
        &["198.51.100.0/25"],
        false,
        Duration::from_secs(10),
    );
    let late = mono_now_ns().saturating_sub(deadline);
    println!(
        "deadline passed: BIRD lost the prefix {} after it",
        ms(Duration::from_nanos(late))
    );
    assert!(
        late < 1_500_000_000,
        "withdrawn {late} ns after the deadline"
    );
    // The lapsed owner prepends once more than a standby would, so a
    // standby still waiting for its grant stays ahead of it.
    wait_for(
        "the prepends to come back, one more than a standby's",
        || {
            bird.route_all("198.51.100.128/25")
                .contains("BGP.as_path: 65000 65000 65000 65000\n")
                .then_some(())
        },
    );
    // Told it is standby: the configured prepends again.
    let r = d.grant("web", 2, "standby", None);
    assert_eq!(r["results"][0]["result"], "accepted", "{r}");
    wait_for("a standby's prepends", || {
        bird.route_all("198.51.100.128/25")
            .contains("BGP.as_path: 65000 65000 65000\n")
            .then_some(())
    });
    assert!(!d.events("bgp.announce.withdrawn").is_empty());
    assert!(!d.events("bgp.grant").is_empty());
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    routerd_lab::wait_until(what, SETTLE, f)
}

use std::time::Duration;
