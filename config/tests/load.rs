//! Loading whole config files: valid ones load, broken ones name every
//! problem with file, line and field.

use std::path::Path;

use routerd_config::kinds::{HealthCheck, IPv4Route, Interface, Sysctl};
use routerd_config::{load_file, load_str};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn a_valid_config_loads_with_typed_specs() {
    let loaded = load_file(&fixture("valid.yaml")).expect("valid config loads");
    let config = &loaded.config;
    assert_eq!(config.name, "branch");
    assert_eq!(config.resources.len(), 9);
    let lan = config.spec_of::<Interface>("lan").unwrap();
    assert_eq!((lan.ifname.as_str(), lan.mtu), ("eth1", Some(1500)));
    assert_eq!(config.spec_of::<Sysctl>("forwarding").unwrap().value, "1");
    assert_eq!(
        config.spec_of::<HealthCheck>("upstream").unwrap().port,
        Some(443)
    );
    assert_eq!(config.of_kind::<IPv4Route>().count(), 2);
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
}

#[test]
fn every_mistake_is_reported_with_its_position() {
    let path = fixture("mistakes.yaml");
    let err = load_file(&path).expect_err("broken config is rejected");
    let file = path.display().to_string();
    let got: Vec<String> = err
        .errors()
        .map(|d| d.to_string().replacen(&file, "F", 1))
        .collect();
    let want = [
        "F:14:9: Interface/lan: spec.adminup: unknown field `adminup`; did you mean `adminUp`?",
        "F:15:14: Interface/lan: spec.mtu: expected an integer, found a string",
        "F:17:13: spec.resources[1].kind: unknown kind `Interfce`; did you mean `Interface`?",
        "F:27:9: IPv4StaticAddress/lan-v4: spec.address: required field `address` is missing",
        "F:34:18: IPv4StaticAddress/lan-v4b: spec.address: `192.168.1.300/24`: `192.168.1.300` is not an IPv4 address",
        "F:40:22: IPv4Route/to-core: spec.destination: `10.1.0.0/8` has host bits set; did you mean 10.0.0.0/8?",
        "F:50:20: HealthCheck/probe: spec.interface: `uplink` names no Interface resource",
        "F:54:15: Interface/lan: metadata.name: duplicate resource: Interface/lan is already defined at line 10",
        "F:59:13: spec.resources[7].kind: kind `NAT44Rule` is not implemented by this build of routerd yet",
    ];
    assert_eq!(got, want, "\n{}", got.join("\n"));
}

#[test]
fn a_syntax_error_names_its_line() {
    let err = load_file(&fixture("syntax.yaml")).expect_err("syntax error");
    let d = &err.0[0];
    assert!(d.message.starts_with("YAML syntax error"), "{d}");
    assert!(d.pos.line >= 8, "{d}");
}

#[test]
fn hostile_input_is_refused_cleanly() {
    for text in [
        "",
        "[",
        "- a\n- b\n",
        "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {name: x}\nspec: {resources: 5}\n",
        "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {name: x}\nspec: {resources: [5, null, [1]]}\n",
        "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {name: \"../../etc\"}\nspec: {}\n",
        "apiVersion: routerd.net/v1alpha1\nkind: Router\nmetadata: {name: x}\nspec:\n  resources:\n  - kind: Interface\n    apiVersion: net.routerd.net/v1alpha1\n    metadata: {name: a}\n    spec: {ifname: \"\\0\\n\", managed: true, mtu: 99999999999999999999999}\n",
        "\u{feff}\u{0}\u{1}",
    ] {
        assert!(
            load_str("hostile.yaml", text).is_err(),
            "accepted: {text:?}"
        );
    }
}

#[test]
fn wrong_api_version_and_unknown_top_level_fields() {
    let text = "apiVersion: routerd.net/v1\nkind: Router\nmetadata: {name: x}\nspecs: {}\nspec:\n  resources:\n  - apiVersion: system.routerd.net/v1alpha1\n    kind: Interface\n    metadata: {name: a}\n    spec: {ifname: eth0, managed: true}\n";
    let err = load_str("f.yaml", text).unwrap_err().to_string();
    assert!(
        err.contains("f.yaml:1:13: apiVersion: expected `routerd.net/v1alpha1`"),
        "{err}"
    );
    assert!(
        err.contains("f.yaml:4:1: specs: unknown field `specs`; did you mean `spec`?"),
        "{err}"
    );
    assert!(
        err.contains("Interface/a: apiVersion: Interface belongs to `net.routerd.net/v1alpha1`"),
        "{err}"
    );
}

#[test]
fn semantic_checks_cover_combinations() {
    let text = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: x}
spec:
  resources:
  - apiVersion: net.routerd.net/v1alpha1
    kind: Interface
    metadata: {name: a}
    spec: {ifname: eth0, managed: true, mtu: 100}
  - apiVersion: net.routerd.net/v1alpha1
    kind: Interface
    metadata: {name: b}
    spec: {ifname: eth0, managed: true}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv4Route
    metadata: {name: r}
    spec: {destination: 10.0.0.0/8}
  - apiVersion: net.routerd.net/v1alpha1
    kind: HealthCheck
    metadata: {name: h}
    spec: {protocol: tcp, target: 192.0.2.1, interval: 1s, timeout: 2s}
  - apiVersion: system.routerd.net/v1alpha1
    kind: Sysctl
    metadata: {name: s}
    spec: {key: "../../etc/passwd", value: "1"}
"#;
    let err = load_str("f.yaml", text).unwrap_err().to_string();
    for needle in [
        "Interface/a: spec.mtu: MTU 100 is out of range",
        "Interface/b: spec.ifname: ifname `eth0` is already used by Interface/a",
        "IPv4Route/r: spec: a unicast route needs a gateway, a device, or both",
        "HealthCheck/h: spec.port: a tcp probe needs a port",
        "HealthCheck/h: spec.timeout: the timeout (2s) must be shorter than the interval (1s)",
        "Sysctl/s: spec.key: `../../etc/passwd` is not a sysctl key",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
}

/// Every example of the published Go routerd whose kinds this build
/// implements must load unchanged; in the others, every resource of an
/// implemented kind must parse (only references to kinds not built yet may
/// fail).
#[test]
fn go_routerd_examples_load() {
    let dir = fixture("go-examples");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    let mut fully_implemented = 0;
    assert!(entries.len() >= 40, "the corpus is incomplete");
    for path in entries {
        match load_file(&path) {
            Ok(_) => fully_implemented += 1,
            Err(diags) => {
                for d in diags.errors() {
                    let allowed = d.message.contains("not implemented by this build")
                        || d.message
                            .contains("a kind this build of routerd does not implement yet");
                    assert!(allowed, "{}: {d}\n", path.display());
                }
            }
        }
    }
    assert!(
        fully_implemented >= 1,
        "basic-static.yaml at least must load"
    );
}

/// A shared cluster config: per-node resources through `metadata.nodes`,
/// whose cross-resource checks run per node (two nodes' LAN addresses in
/// one prefix, one virtual router with a priority per node).
#[test]
fn a_cluster_config_with_per_node_resources_loads() {
    use routerd_config::kinds::{RouterdCluster, VirtualAddress};
    let loaded = load_file(&fixture("ha-pair.yaml")).expect("ha config loads");
    let config = &loaded.config;
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let cluster = config.spec_of::<RouterdCluster>("branch").unwrap();
    let members = cluster.members();
    assert_eq!(members.len(), 3);
    assert!(members[2].witness);
    assert_eq!(cluster.lease(), std::time::Duration::from_millis(200));
    let r1 = config.for_node("r1");
    let r2 = config.for_node("r2");
    let vips = |c: &routerd_config::Config| {
        c.of_kind::<VirtualAddress>()
            .map(|(r, s)| {
                (
                    r.name.clone(),
                    s.group().unwrap(),
                    s.vrrp.as_ref().unwrap().priority,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        vips(&r1),
        [
            ("gw-v4-r1".to_string(), "lan/ipv4/51".to_string(), Some(200)),
            ("gw-v6".to_string(), "lan/ipv6/52".to_string(), None)
        ]
    );
    assert_eq!(vips(&r2)[0].2, Some(100));
    let v6 = config.spec_of::<VirtualAddress>("gw-v6").unwrap();
    assert_eq!(
        v6.link_local().unwrap().to_string(),
        "fe80::200:5eff:fe00:234",
        "the link-local of the virtual MAC 00:00:5e:00:02:34 (VRID 52)"
    );
}

#[test]
fn cluster_and_vrrp_mistakes_are_named() {
    let text = r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: { name: x }
spec:
  resources:
    - apiVersion: system.routerd.net/v1alpha1
      kind: RouterdCluster
      metadata: { name: c }
      spec:
        peers: [r1, r2, { name: w, id: 2, address: "w" }]
        heartbeat: 100ms
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: { name: lan }
      spec: { ifname: lan0, managed: false }
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: { name: a, nodes: [r3] }
      spec:
        interface: lan
        address: fd00::1/64
        vrrp: { virtualRouterID: 0, priority: 255, version: 2, advertInterval: 15ms }
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: { name: b }
      spec:
        interface: lan
        address: 10.0.0.1/24
        family: ipv4
        vrrp: { virtualRouterID: 7, peers: [fd00::2] }
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: { name: c }
      spec:
        interface: lan
        address: 10.0.0.2/24
        vrrp: { virtualRouterID: 7, priority: 50 }
"#;
    let err = load_str("F", text).expect_err("mistakes are errors");
    let err = err.to_string();
    for needle in [
        "F:10:40: RouterdCluster/c: spec.peers[2].id: node id 2 is used twice",
        "RouterdCluster/c: spec.peers[2].address: `w` is not host:port",
        "RouterdCluster/c: spec.heartbeat: the heartbeat (100ms) must be at most half the election timeout (150ms)",
        "VirtualAddress/a: metadata.nodes[0]: `r3` is not a RouterdCluster peer; did you mean `r1`?",
        "VirtualAddress/a: spec.vrrp.virtualRouterID: virtual router ids are 1-255",
        "VirtualAddress/a: spec.vrrp.priority: priority is 1-254",
        "VirtualAddress/a: spec.vrrp.version: VRRPv2 carries IPv4 only",
        "VirtualAddress/a: spec.vrrp.advertInterval: VRRPv2 advertises in whole seconds",
        "VirtualAddress/b: spec.vrrp.peers[0]: fd00::2 is not of this family",
        "VirtualAddress/c: spec.vrrp: VirtualAddress/b runs the same virtual router (lan/ipv4/7) with other VRRP settings",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
}
