//! routerd-bgp against GoBGP 3 (Debian gobgpd), each in its own namespace:
//! eBGP over IPv4 and IPv6, a passive peer GoBGP dials, our ROUTE-REFRESH
//! answered by GoBGP and its soft reset out, and dynamic neighbours
//! accepted from a prefix range while an address outside it is refused.
//! Asserted through the `gobgp` CLI and `ip route`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const GOBGP_AS: u32 = 65003;

/// gobgpd for link `i`, dialling us over IPv4 and IPv6.
fn gobgpd_conf(i: usize, asn: u32) -> String {
    let mut out =
        format!("[global.config]\n  as = {asn}\n  router-id = \"10.99.{i}.2\"\n  port = 179\n");
    for (addr, fam) in [
        (Lab::our4(i), "ipv4-unicast"),
        (Lab::our6(i), "ipv6-unicast"),
    ] {
        out.push_str(&format!(
            "[[neighbors]]
  [neighbors.config]
    neighbor-address = \"{addr}\"
    peer-as = {OUR_AS}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"{fam}\"
"
        ));
    }
    out
}

fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    routerd_lab::wait_until(what, SETTLE, f)
}

/// `gobgp neighbor ADDR -j`.
fn neighbor(g: &Gobgp, addr: &str) -> Value {
    serde_json::from_str(&g.cli(&["neighbor", addr, "-j"])).unwrap_or(Value::Null)
}

/// GoBGP 3 prints the session state as its API enum: 6 is Established.
fn gobgp_established(g: &Gobgp, addr: &str) -> bool {
    let s = &neighbor(g, addr)["state"]["session_state"];
    s == 6
        || s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("established"))
}

fn add_routes(g: &Gobgp, v4: &[&str], v6: &[&str]) {
    for p in v4 {
        let out = g.cli(&["global", "rib", "add", "-a", "ipv4", p]);
        assert!(out.trim().is_empty(), "gobgp: {out}");
    }
    for p in v6 {
        let out = g.cli(&["global", "rib", "add", "-a", "ipv6", p]);
        assert!(out.trim().is_empty(), "gobgp: {out}");
    }
}

#[test]
fn ebgp_v4_and_v6_with_gobgp_a_passive_peer_and_soft_reset() {
    let lab = Lab::new("bgp-gobgp-e", 1);
    let g = Gobgp::start(&lab.peers[0], &gobgpd_conf(0, GOBGP_AS));
    add_routes(&g, &["10.61.1.0/24", "10.61.2.0/24"], &["2001:db8:61::/48"]);
    // The IPv6 peer is passive: only GoBGP's connection can bring it up.
    let mut p6 = peer("gobgp6", &Lab::peer6(0), GOBGP_AS, true);
    p6["passive"] = true.into();
    let mut d = Daemon::new(&config(
        vec![peer("gobgp4", &Lab::peer4(0), GOBGP_AS, true), p6],
        vec![
            announce("203.0.113.0/24", None),
            announce("2001:db8:ff::/48", None),
        ],
    ));
    d.start(&lab.ours);
    let up = d.wait_state("gobgp4", "Established", SETTLE);
    d.wait_state("gobgp6", "Established", SETTLE);
    println!("GoBGP IPv4 session Established after {}", ms(up));
    let conn = d.peer("gobgp6")["connection"].clone();
    assert_eq!(conn["inbound"], true, "a passive peer never dials: {conn}");
    wait_for("GoBGP to see both sessions Established", || {
        (gobgp_established(&g, &Lab::our4(0)) && gobgp_established(&g, &Lab::our6(0))).then_some(())
    });
    lab.wait_kernel(
        &["10.61.1.0/24", "10.61.2.0/24", "2001:db8:61::/48"],
        true,
        SETTLE,
    );
    let r = lab.kernel_route("10.61.1.0/24").expect("route");
    assert_eq!(r["gateway"], Lab::peer4(0), "{r}");
    let r = lab.kernel_route("2001:db8:61::/48").expect("route");
    assert_eq!(r["gateway"], Lab::peer6(0), "{r}");
    wait_for("our routes at GoBGP", || {
        (g.routes("ipv4").contains("203.0.113.0/24")
            && g.routes("ipv6").contains("2001:db8:ff::/48"))
        .then_some(())
    });
    let rib: Value =
        serde_json::from_str(&g.cli(&["global", "rib", "-a", "ipv4", "203.0.113.0/24", "-j"]))
            .unwrap_or(Value::Null);
    let text = rib.to_string();
    assert!(text.contains(&Lab::our4(0)), "next hop self: {text}");
    assert!(text.contains("65000"), "our AS in the path: {text}");

    // GoBGP keeps an Adj-RIB-In, so its `softresetin` sends nothing; the
    // other way round, our renew sends GoBGP a ROUTE-REFRESH and GoBGP
    // answers with its routes again, without a reset.
    let n = d.peer("gobgp4");
    let updates = n["counters"]["updatesReceived"].as_u64().unwrap_or(0);
    let r = d.post("/v1/commands/renew", &json!({"peer": "gobgp4"}));
    assert_eq!(r["detail"]["refreshed"], json!(["gobgp4"]), "{r}");
    wait_for("GoBGP to count our ROUTE-REFRESH", || {
        let v = neighbor(&g, &Lab::our4(0));
        (v["state"]["messages"]["received"]["refresh"].as_u64() >= Some(1)).then_some(())
    });
    wait_for("GoBGP's routes sent again", || {
        let n = d.peer("gobgp4");
        (n["counters"]["updatesReceived"].as_u64().unwrap_or(0) > updates).then_some(())
    });
    assert!(lab.kernel_prefixes().contains("10.61.1.0/24"));
    assert_eq!(d.events("bgp.session.established").len(), 2, "no reset");
    // And its `softresetout` re-sends its table to us, still no reset.
    let updates = d.peer("gobgp4")["counters"]["updatesReceived"]
        .as_u64()
        .unwrap_or(0);
    let out = g.cli(&["neighbor", &Lab::our4(0), "softresetout", "-a", "ipv4"]);
    wait_for("GoBGP's soft reset out to reach us", || {
        let n = d.peer("gobgp4");
        (n["counters"]["updatesReceived"].as_u64().unwrap_or(0) > updates).then_some(())
    });
    assert_eq!(d.peer_state("gobgp4"), "Established", "{out}");

    // GoBGP withdraws one route: it leaves our kernel, the other stays.
    let out = g.cli(&["global", "rib", "del", "-a", "ipv4", "10.61.2.0/24"]);
    lab.wait_kernel(&["10.61.2.0/24"], false, SETTLE);
    assert!(lab.kernel_prefixes().contains("10.61.1.0/24"), "{out}");

    // gobgpd dies: a TCP close without graceful restart, everything goes.
    drop(g);
    let took = lab.wait_kernel(&["10.61.1.0/24", "2001:db8:61::/48"], false, SETTLE);
    println!("GoBGP gone: its routes left our kernel {}", ms(took));
}

#[test]
fn dynamic_peers_from_a_range_and_a_stranger_refused() {
    let lab = Lab::new("bgp-gobgp-dyn", 2);
    // Peer 0 (10.99.0.2, fd00:99::2) is inside the ranges; peer 1 is not.
    let g0 = Gobgp::start(&lab.peers[0], &gobgpd_conf(0, GOBGP_AS));
    let g1 = Gobgp::start(&lab.peers[1], &gobgpd_conf(1, GOBGP_AS));
    add_routes(&g0, &["10.62.0.0/24"], &["2001:db8:62::/48"]);
    add_routes(&g1, &["10.63.0.0/24"], &[]);
    let all = json!({"allowed": [], "lengthMin": null, "lengthMax": null,
        "requiredCommunities": [], "forbiddenCommunities": [], "localPref": null,
        "addCommunities": []});
    let mut cfg = config(vec![], vec![announce("203.0.113.0/24", None)]);
    cfg["dynamicPeers"] = json!([{
        "name": "BGPDynamicPeer/nodes", "resource": "BGPDynamicPeer/nodes",
        "prefixes": ["10.99.0.0/24", "fd00:99::/64"], "peerAsn": GOBGP_AS,
        "import": all, "export": all,
    }]);
    let mut d = Daemon::new(&cfg);
    d.start(&lab.ours);
    let n4 = format!("BGPDynamicPeer/nodes#{}", Lab::peer4(0));
    let n6 = format!("BGPDynamicPeer/nodes#{}", Lab::peer6(0));
    d.wait_state(&n4, "Established", SETTLE);
    d.wait_state(&n6, "Established", SETTLE);
    let n = d.peer(&n4);
    assert_eq!(n["dynamic"], "BGPDynamicPeer/nodes", "{n}");
    assert_eq!(n["resource"], "BGPDynamicPeer/nodes", "{n}");
    lab.wait_kernel(&["10.62.0.0/24", "2001:db8:62::/48"], true, SETTLE);
    wait_for("our route at the dynamic peer", || {
        g0.routes("ipv4").contains("203.0.113.0/24").then_some(())
    });
    // The stranger keeps dialling and is turned away each time.
    wait_for("the stranger refused", || {
        let s = d.status();
        (s["status"]["counters"]["sessionsRefused"]
            .as_u64()
            .unwrap_or(0)
            >= 2)
            .then_some(())
    });
    assert!(!gobgp_established(&g1, &Lab::our4(1)));
    let names: Vec<Value> = d.get("/v1/bgp/neighbors")["neighbors"]
        .as_array()
        .map(|a| a.iter().map(|p| p["address"].clone()).collect())
        .unwrap_or_default();
    assert!(
        !names.contains(&json!(Lab::peer4(1))),
        "a session for the stranger: {names:?}"
    );
    assert!(!lab.kernel_prefixes().contains("10.63.0.0/24"));
    let status = d.status();
    assert_eq!(
        status["status"]["BGPDynamicPeer/nodes"]["phase"], "Established",
        "{status}"
    );
    assert_eq!(status["status"]["BGPDynamicPeer/nodes"]["sessions"], 2);

    // The accepted peer goes away: its session and routes go with it.
    drop(g0);
    lab.wait_kernel(&["10.62.0.0/24", "2001:db8:62::/48"], false, SETTLE);
    std::thread::sleep(Duration::from_millis(200));
    drop(g1);
}

#[test]
fn ibgp_v4_and_v6_with_gobgp() {
    let lab = Lab::new("bgp-gobgp-i", 1);
    // GoBGP in our own AS: internal sessions over IPv4 and IPv6.
    let g = Gobgp::start(&lab.peers[0], &gobgpd_conf(0, OUR_AS));
    add_routes(&g, &["10.64.1.0/24"], &["2001:db8:64::/48"]);
    let mut d = Daemon::new(&config(
        vec![
            peer("ibgp4", &Lab::peer4(0), OUR_AS, false),
            peer("ibgp6", &Lab::peer6(0), OUR_AS, false),
        ],
        vec![
            announce("203.0.113.0/24", None),
            announce("2001:db8:ff::/48", None),
        ],
    ));
    d.start(&lab.ours);
    d.wait_state("ibgp4", "Established", SETTLE);
    d.wait_state("ibgp6", "Established", SETTLE);
    assert_eq!(d.peer("ibgp6")["session"]["ebgp"], false);
    // No policy on iBGP accepts (RFC 8212 is for eBGP).
    lab.wait_kernel(&["10.64.1.0/24", "2001:db8:64::/48"], true, SETTLE);
    let r = lab.kernel_route("2001:db8:64::/48").expect("route");
    assert_eq!(r["gateway"], Lab::peer6(0), "{r}");
    let routes = d.get("/v1/bgp/routes?prefix=2001:db8:64::/48");
    let p = &routes["routes"][0]["paths"][0];
    assert_eq!(p["asPath"], json!([]), "{routes}");
    assert_eq!(p["localPref"], 100, "{routes}");
    wait_for("our routes at GoBGP", || {
        (g.routes("ipv4").contains("203.0.113.0/24")
            && g.routes("ipv6").contains("2001:db8:ff::/48"))
        .then_some(())
    });
    let rib = g.cli(&["global", "rib", "-a", "ipv6", "2001:db8:ff::/48", "-j"]);
    let v: Value = serde_json::from_str(&rib).unwrap_or(Value::Null);
    let attrs = v["2001:db8:ff::/48"][0]["attrs"].clone();
    let lp = attrs
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == 5))
        .cloned()
        .unwrap_or_default();
    assert_eq!(lp["value"], 100, "LOCAL_PREF on iBGP: {rib}");
    let as_path = attrs
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == 2))
        .cloned()
        .unwrap_or_default();
    assert!(
        as_path["as_paths"].as_array().is_none_or(|s| s.is_empty()),
        "no AS prepended on iBGP: {rib}"
    );
    assert!(rib.contains(&Lab::our6(0)), "{rib}");
}

/// A BGPPeer `port`: GoBGP listens on 1179 only and never dials; the
/// session comes up because we connect to that port.
#[test]
fn a_peer_on_another_port_is_dialled_there() {
    let lab = Lab::new("bgp-gobgp-port", 1);
    let conf = format!(
        "[global.config]\n  as = {GOBGP_AS}\n  router-id = \"10.99.0.2\"\n  port = 1179\n\
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"{}\"
    peer-as = {OUR_AS}
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"ipv4-unicast\"
",
        Lab::our4(0)
    );
    let g = Gobgp::start(&lab.peers[0], &conf);
    add_routes(&g, &["10.64.0.0/24"], &[]);
    let mut p = peer("gobgp4", &Lab::peer4(0), GOBGP_AS, true);
    p["port"] = 1179.into();
    let mut d = Daemon::new(&config(vec![p], vec![]));
    d.start(&lab.ours);
    d.wait_state("gobgp4", "Established", SETTLE);
    let conn = d.peer("gobgp4")["connection"].clone();
    assert_eq!(conn["inbound"], false, "we dialled: {conn}");
    assert_eq!(
        conn["remote"],
        format!("{}:1179", Lab::peer4(0)),
        "to the configured port: {conn}"
    );
    lab.wait_kernel(&["10.64.0.0/24"], true, SETTLE);
}
