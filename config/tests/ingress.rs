//! `IngressService`: the Go examples' services load, a full one loads with
//! its defaults, mistakes are named with position and field, and a listen
//! port taken twice is an error naming both sides.

#![allow(clippy::unwrap_used)]

use routerd_config::kinds::IngressService;
use routerd_config::kinds::ingress::{BackendProbe, ListenProtocol, SelectionPolicy};
use routerd_config::{load_file, load_str};

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/go-examples")
        .join(name)
}

/// Of the three published examples with an IngressService, one loads
/// whole; the other two also use DNSZone and DNSResolver, which this build
/// lacks: they fail on those alone, never on the service (nor on the
/// VirtualAddress tracking it).
#[test]
fn the_go_examples_services_validate() {
    let loaded = load_file(&example("kubernetes-api-vip-external-dns.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = loaded
        .config
        .spec_of::<IngressService>("kubernetes-api")
        .unwrap();
    assert_eq!(spec.health().protocol(), BackendProbe::Https);
    assert!(
        loaded
            .warnings
            .warnings()
            .any(|w| w.path == "spec.healthCheck.protocol" && w.message.contains("no TLS")),
        "https is probed by TCP connect, and the config says so"
    );
    for name in ["kubernetes-api-vip.yaml", "k8s-api-vip-dualstack.yaml"] {
        let diags = load_file(&example(name)).expect_err("DNSZone is not built");
        for d in diags.errors() {
            let about_unbuilt = d.message.contains("not implemented by this build")
                || d.message.contains("does not implement yet");
            assert!(about_unbuilt, "{name}: {d}");
            assert!(
                !d.to_string().contains("IngressService"),
                "{name}: the service itself is fine: {d}"
            );
        }
    }
}

const BASE: &str = r#"
apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: edge}
spec:
  resources:
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: lan}, spec: {ifname: lan0, managed: true}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: Interface, metadata: {name: wan}, spec: {ifname: wan0, managed: true}}
"#;

fn config(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn a_full_service_loads_with_its_defaults() {
    let text = config(
        r#"
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: api}
    spec:
      listen: {interface: lan, address: 192.0.2.10, protocol: tcp, port: 6443}
      backends:
      - {name: cp-01, address: 10.0.0.1, port: 6443, weight: 2}
      - {address: cp-02.cluster.example, port: 6443}
      healthCheck: {protocol: http, path: /readyz, expectedStatus: [200], interval: 1s}
      policy: {selection: sourceHash, onNoHealthyBackends: drop}
"#,
    );
    let loaded = load_str("edge.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let spec = loaded.config.spec_of::<IngressService>("api").unwrap();
    assert_eq!(spec.listen.protocol, ListenProtocol::Tcp);
    assert_eq!(spec.listen_address(), Some("192.0.2.10".parse().unwrap()));
    assert_eq!(spec.backend_name(0), "cp-01");
    assert_eq!(
        spec.backend_name(1),
        "backend-2",
        "unnamed backends are numbered"
    );
    assert_eq!(spec.selection(), SelectionPolicy::SourceHash);
    assert!(spec.drops_without_backends());
    let health = spec.health();
    assert_eq!(health.protocol(), BackendProbe::Http);
    assert_eq!(health.interval().as_millis(), 1000);
    assert_eq!(
        health.timeout().as_millis(),
        500,
        "half the interval, at most 2s"
    );
    assert_eq!(spec.hairpin(), None);
}

#[test]
fn mistakes_are_named_with_their_position() {
    let text = config(
        r#"
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: bad}
    spec:
      listen: {interface: lan0, address: 192.0.2.10/32, protocol: tcp, port: 0}
      backends:
      - {name: a, address: "2001:db8::1", port: 80}
      - {name: a, address: "not a host", port: 80, weight: 101}
      healthCheck: {protocol: tcp, path: /x, interval: 1s, timeout: 2s}
      hairpin: {enabled: true, mode: manual}
"#,
    );
    let e = load_str("F", &text).unwrap_err().to_string();
    for want in [
        "F:14:27: IngressService/bad: spec.listen.interface: `lan0` names no Interface resource; did you mean `lan`?",
        "F:14:78: IngressService/bad: spec.listen.port: port 0 is not a listen port (1..=65535)",
        "F:14:42: IngressService/bad: spec.listen.address: `192.0.2.10/32` is not an IP address (without a prefix length)",
        "F:17:16: IngressService/bad: spec.backends[1].name: backend `a` is already spec.backends[0]",
        "spec.backends[1].address: `not a host` is neither an IP address nor a host name",
        "spec.backends[1].weight: 101 is more than 100",
        "spec.healthCheck.path: path applies to http and https probes only",
        "spec.healthCheck.timeout: the timeout (2s) must be shorter than the interval (1s)",
        "spec.hairpin.interfaces: mode manual masquerades on the interfaces listed here",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn a_port_taken_twice_names_both_sides() {
    let services = r#"
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: web}
    spec:
      listen: {interface: lan, address: 192.0.2.10, protocol: tcp, port: 443}
      backends: [{address: 10.0.0.1, port: 443}]
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: web-too}
    spec:
      listen: {interface: lan, address: 192.0.2.10, protocol: tcp, port: 443}
      backends: [{address: 10.0.0.2, port: 443}]
"#;
    let e = load_str("F", &config(services)).unwrap_err().to_string();
    assert!(
        e.contains("F:20:74: IngressService/web-too: spec.listen.port: tcp/443 on 192.0.2.10 collides with IngressService/web spec.listen.port (the IngressService listens on tcp/443 on 192.0.2.10)"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "reported once: {e}");

    // UDP on the same port, or another address, is no collision.
    let fine = services.replacen(
        "protocol: tcp, port: 443}\n      backends: [{address: 10.0.0.2",
        "protocol: udp, port: 443}\n      backends: [{address: 10.0.0.2",
        1,
    );
    load_str("F", &config(&fine)).unwrap_or_else(|e| panic!("{e}"));

    // routerd's own daemons: BGP on every address, the DHCPv6 server on its link.
    let daemons = r#"
  - {apiVersion: net.routerd.net/v1alpha1, kind: BGPRouter, metadata: {name: edge}, spec: {asn: 64512, routerID: 192.0.2.1}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv6Server, metadata: {name: lan}, spec: {interface: lan}}
  - {apiVersion: net.routerd.net/v1alpha1, kind: DHCPv4Client, metadata: {name: wan}, spec: {interface: wan}}
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: bgp-steal}
    spec:
      listen: {interface: lan, address: 192.0.2.10, protocol: tcp, port: 179}
      backends: [{address: 10.0.0.1, port: 179}]
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: dhcp-steal}
    spec:
      listen: {interface: lan, address: "2001:db8::10", protocol: udp, port: 547}
      backends: [{address: "2001:db8:1::1", port: 547}]
  - apiVersion: firewall.routerd.net/v1alpha1
    kind: IngressService
    metadata: {name: other-link}
    spec:
      listen: {interface: lan, address: 192.0.2.11, protocol: udp, port: 68}
      backends: [{address: 10.0.0.1, port: 68}]
"#;
    let e = load_str("F", &config(daemons)).unwrap_err().to_string();
    assert!(
        e.contains("IngressService/bgp-steal: spec.listen.port: tcp/179 on 192.0.2.10 collides with BGPRouter/edge spec.listen (default tcp/179) (routerd-bgp listens on tcp/179 on every address)"),
        "{e}"
    );
    assert!(
        e.contains("IngressService/dhcp-steal: spec.listen.port: udp/547 on 2001:db8::10 collides with DHCPv6Server/lan spec.interface (the DHCPv6 server listens on udp/547 on interface lan)"),
        "{e}"
    );
    assert!(
        !e.contains("other-link"),
        "the DHCPv4 client listens on the wan link only: {e}"
    );
    assert_eq!(e.lines().count(), 2, "{e}");
}
