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
  graceful restart on;
  ipv4 {{ import all; export all; }};
{extra}}}
protocol bgp peer6 {{
  local {p6} as {asn};
  neighbor {o6} as {OUR_AS};
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
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
    let r = &routes["routes"][0];
    assert_eq!(r["asPath"], "65001", "{routes}");
    assert_eq!(r["best"], true);
    assert_eq!(r["peer"], "bird4");
    let status = d.status();
    assert_eq!(status["phase"], "Established", "{status}");
    assert_eq!(d.events("bgp.session.established").len(), 2);
    drop(bird);
}
