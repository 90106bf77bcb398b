//! The BGP and BFD kinds: the published Go examples that use only kinds
//! this build implements load unchanged, a full edge config loads with its
//! defaults, and mistakes are named with their position and field.

use std::time::Duration;

use routerd_config::kinds::bgp::{BfdTarget, TimerProfile, parse_prefix_rule};
use routerd_config::kinds::{BFD, BGPAnnouncement, BGPDynamicPeer, BGPPeer, BGPRouter};
use routerd_config::{load_file, load_str};

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/go-examples")
        .join(name)
}

#[test]
fn the_go_bgp_examples_load_unchanged() {
    for name in [
        "bgp-bfd.yaml",
        "bgp-transit-export.yaml",
        "dualstack-bgp.yaml",
        "lan-advertise-with-community.yaml",
    ] {
        let loaded = load_file(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            loaded.config.of_kind::<BGPRouter>().next().is_some(),
            "{name} has a BGPRouter"
        );
    }
    let loaded = load_file(&example("bgp-bfd.yaml")).expect("bgp-bfd");
    let bfd = loaded
        .config
        .spec_of::<BFD>("fabric-speakers")
        .expect("bfd");
    assert_eq!(
        bfd.target(),
        Some(BfdTarget::Resource(
            "BGPPeer/fabric-speakers".parse().unwrap()
        ))
    );
    assert_eq!(
        bfd.timers(),
        (Duration::from_millis(300), Duration::from_millis(300), 3)
    );
}

const HEADER: &str = r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: edge}
spec:
  resources:
  - apiVersion: net.routerd.net/v1alpha1
    kind: Interface
    metadata: {name: lan}
    spec: {ifname: lan0, managed: false}
"#;

#[test]
fn an_edge_router_with_peers_bfd_and_a_fenced_announcement_loads() {
    let text = format!(
        "{HEADER}{}",
        r#"  - apiVersion: net.routerd.net/v1alpha1
    kind: VirtualAddress
    metadata: {name: gw}
    spec: {family: ipv4, interface: lan, address: 192.168.70.1/24, mode: vrrp, vrrp: {virtualRouterID: 70}}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPRouter
    metadata: {name: edge}
    spec:
      asn: 4200000001
      routerID: 192.168.70.2
      convergenceProfile: fast
      importPolicy:
        allowedPrefixes: [10.244.0.0/16, "fd00:244::/48 ge 56 le 64"]
        allowedPrefixLengthMax: 32
        forbiddenCommunities: [no-export]
      exportPolicy: {allowedPrefixes: [198.51.100.0/24]}
      gracefulRestart: {enabled: true, restartTime: 120s}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: upstream}
    spec:
      routerRef: BGPRouter/edge
      peerASN: 65000
      peers: [192.0.2.1, "2001:db8::1"]
      password: s3cret
      ttlSecurityHops: 1
      maxPrefixes: 1000
      bfd: BFD/upstream
      timers: {holdTime: 30s}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPDynamicPeer
    metadata: {name: nodes}
    spec:
      routerRef: BGPRouter/edge
      peerASN: 64513
      listen: {sourcePrefixes: [192.168.70.0/24, "fd00:70::/64"]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BFD
    metadata: {name: upstream}
    spec: {peer: BGPPeer/upstream, profile: fast, interface: lan}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPAnnouncement
    metadata: {name: lb}
    spec:
      routerRef: BGPRouter/edge
      prefixes: [198.51.100.10/32]
      owner: VirtualAddress/gw
      standby: {action: prepend, prepend: 4}
"#
    );
    let loaded = load_str("edge.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let c = &loaded.config;
    let router = c.spec_of::<BGPRouter>("edge").expect("router");
    assert_eq!(router.asn, 4_200_000_001, "4-octet ASNs");
    assert_eq!(router.timer_profile(), TimerProfile::Fast);
    assert_eq!(router.port(), 179);
    let peer = c.spec_of::<BGPPeer>("upstream").expect("peer");
    assert_eq!(peer.addresses().len(), 2);
    let dynamic = c.spec_of::<BGPDynamicPeer>("nodes").expect("dynamic");
    assert_eq!(dynamic.prefixes().len(), 2);
    let bfd = c.spec_of::<BFD>("upstream").expect("bfd");
    assert_eq!(bfd.timers().0, Duration::from_millis(50));
    let lb = c.spec_of::<BGPAnnouncement>("lb").expect("announcement");
    assert_eq!(lb.nets()[0].to_string(), "198.51.100.10/32");
}

#[test]
fn bgp_mistakes_are_named_with_their_field() {
    let text = format!(
        "{HEADER}{}",
        r#"  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPRouter
    metadata: {name: edge}
    spec:
      asn: 23456
      routerID: fd00::1
      importPolicy:
        allowedPrefixes: [10.244.0.1/16, "10.0.0.0/8 ge 4"]
        requiredCommunities: ["65536:1"]
      gracefulRestart: {restartTime: 5000s}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: a}
    spec:
      routerRef: BGPRouter/edgy
      peerASN: 0
      peers: [192.0.2.1, not-an-ip]
      password: x
      passwordFrom: {env: BGP_KEY}
      ebgpMultihop: 2
      ttlSecurityHops: 1
      bfd: BFD/nope
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: b}
    spec: {routerRef: BGPRouter/edge, peerASN: 65001, peers: [192.0.2.1]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BFD
    metadata: {name: f}
    spec: {peer: Interface/lan, detectMultiplier: 0, minRx: 1ms}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPAnnouncement
    metadata: {name: lb}
    spec:
      routerRef: BGPRouter/edge
      prefixes: [198.51.100.10/24]
      owner: Interface/lan
      standby: {action: withdraw, prepend: 2}
"#
    );
    let errors = load_str("edge.yaml", &text).expect_err("must fail");
    let all = errors.to_string();
    for expected in [
        "spec.asn: AS 23456 is AS_TRANS",
        "spec.routerID: `fd00::1` is not an IPv4 address",
        "spec.importPolicy.allowedPrefixes[0]: `10.244.0.1/16` has host bits set",
        "spec.importPolicy.allowedPrefixes[1]: `10.0.0.0/8 ge 4`: need 8 <= ge",
        "spec.importPolicy.requiredCommunities[0]: `65536:1` is not a community",
        "spec.gracefulRestart.restartTime: the restart time is whole seconds up to 4095s",
        "spec.routerRef: ",
        "spec.peerASN: AS 0 is reserved",
        "spec.peers[1]: `not-an-ip` is not an IP address",
        "spec.passwordFrom: give password or passwordFrom, not both",
        "spec.ttlSecurityHops: TTL security and ebgpMultihop exclude each other",
        "spec.bfd: ",
        "spec.peer: BFD guards BGP sessions",
        "spec.detectMultiplier: the detect multiplier is 1..=50",
        "spec.minRx: BFD intervals are 10ms to 60s",
        "spec.prefixes[0]: `198.51.100.10/24` has host bits set",
        "spec.owner: ownership comes from a VirtualAddress",
        "spec.standby.prepend: prepend is for action: prepend",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
    // Every error carries its line.
    for d in errors.errors() {
        assert!(d.to_string().starts_with("edge.yaml:"), "{d}");
    }
}

#[test]
fn one_neighbour_is_one_session() {
    let text = format!(
        "{HEADER}{}",
        r#"  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPRouter
    metadata: {name: edge}
    spec: {asn: 64512, routerID: 192.0.2.2}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: a}
    spec: {routerRef: BGPRouter/edge, peerASN: 65000, peers: [192.0.2.1]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: BGPPeer
    metadata: {name: b}
    spec: {routerRef: BGPRouter/edge, peerASN: 65001, peers: [192.0.2.9, 192.0.2.1]}
"#
    );
    let all = load_str("edge.yaml", &text)
        .expect_err("must fail")
        .to_string();
    assert!(
        all.contains(
            "BGPPeer/b: spec.peers[1]: neighbour 192.0.2.1 of BGPRouter/edge is also in BGPPeer/a"
        ),
        "{all}"
    );
}

#[test]
fn prefix_list_entries_cover_longer_prefixes_unless_told_otherwise() {
    let (p, ge, le) = parse_prefix_rule("10.244.0.0/16").unwrap();
    assert_eq!((p.to_string(), ge, le), ("10.244.0.0/16".into(), 16, 32));
    assert_eq!(
        parse_prefix_rule("fd00::/48 ge 56 le 64").unwrap().1..=64,
        56..=64
    );
    assert_eq!(parse_prefix_rule("10.0.0.0/8 le 24").unwrap().2, 24);
    assert!(parse_prefix_rule("10.0.0.0/8 le 40").is_err());
    assert!(parse_prefix_rule("10.0.0.0/8 gt 9").is_err());
}
