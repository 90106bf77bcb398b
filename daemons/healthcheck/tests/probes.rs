//! Every probe on real sockets, inside lab namespaces, against real peers.

mod common;

use common::{HC_V4, Lab, PEER_V4, PEER_V6};
use routerd_healthcheck::probe::{self, ProbeResult, Resolved, TargetOrigin};
use routerd_healthcheck::spec::ProbeSpec;
use serde_json::{Value, json};

fn spec(value: Value) -> ProbeSpec {
    let mut value = value;
    let obj = value.as_object_mut().expect("object");
    obj.entry("name").or_insert(json!("t"));
    obj.entry("intervalMs").or_insert(json!(2000));
    obj.entry("timeoutMs").or_insert(json!(1000));
    let spec: ProbeSpec = serde_json::from_value(value).expect("spec parses");
    spec.validate().expect("spec is valid");
    spec
}

/// Resolves and probes once inside the hc namespace.
fn run(lab: &Lab, spec: ProbeSpec) -> (Option<Resolved>, ProbeResult) {
    lab.in_hc(move || async move { probe::run(&spec).await })
}

fn ok(lab: &Lab, value: Value) -> probe::ProbeSuccess {
    let what = value.to_string();
    match run(lab, spec(value)).1 {
        Ok(success) => success,
        Err(reason) => panic!("{what} failed: {reason}"),
    }
}

fn fails(lab: &Lab, value: Value) -> String {
    let what = value.to_string();
    match run(lab, spec(value)).1 {
        Ok(success) => panic!("{what} succeeded: {success:?}"),
        Err(reason) => reason,
    }
}

#[test]
fn icmp_v4_and_v6_healthy_then_unhealthy_when_peer_link_down() {
    let lab = Lab::new("icmp");
    let v4 = ok(&lab, json!({"protocol": "icmp", "target": PEER_V4}));
    assert!(v4.rtt.as_millis() < 1000);
    ok(&lab, json!({"protocol": "icmp", "target": PEER_V6}));
    // A peer that is up but not the target: nothing answers for .9.
    let reason = fails(
        &lab,
        json!({"protocol": "icmp", "target": "192.0.2.9", "timeoutMs": 300}),
    );
    assert!(reason.contains("192.0.2.9"), "{reason}");

    lab.peer_link(false);
    let reason = fails(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V4, "timeoutMs": 300}),
    );
    assert!(reason.contains(PEER_V4), "{reason}");
    fails(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V6, "timeoutMs": 300}),
    );

    lab.peer_link(true);
    lab.hc.wait_link_running("hc0", common::SETTLE);
    ok(&lab, json!({"protocol": "icmp", "target": PEER_V4}));
    ok(&lab, json!({"protocol": "icmp", "target": PEER_V6}));
}

#[test]
fn icmp_to_localhost_hostname_resolves_through_the_resolver() {
    let lab = Lab::new("host");
    let (resolved, result) = run(
        &lab,
        spec(json!({"protocol": "icmp", "target": "localhost", "addressFamily": "ipv4"})),
    );
    let resolved = resolved.expect("localhost resolves");
    assert_eq!(resolved.origin, TargetOrigin::Hostname);
    assert_eq!(resolved.addr.to_string(), "127.0.0.1");
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn tcp_and_http_against_python_http_server() {
    let lab = Lab::new("http");
    let docroot = tempfile::tempdir().unwrap();
    std::fs::write(docroot.path().join("healthz"), "ok\n").unwrap();
    let _server = lab.http_server(docroot.path());

    ok(
        &lab,
        json!({"protocol": "tcp", "target": PEER_V4, "port": 8080}),
    );
    ok(
        &lab,
        json!({"protocol": "tcp", "target": PEER_V6, "port": 8080}),
    );
    let refused = fails(
        &lab,
        json!({"protocol": "tcp", "target": PEER_V4, "port": 8081}),
    );
    assert!(refused.to_lowercase().contains("refused"), "{refused}");

    let http = ok(
        &lab,
        json!({"protocol": "http", "target": PEER_V4, "port": 8080, "path": "/healthz"}),
    );
    assert_eq!(http.detail.as_deref(), Some("HTTP 200"));
    ok(
        &lab,
        json!({"protocol": "http", "target": PEER_V6, "port": 8080}),
    );
    let missing = fails(
        &lab,
        json!({"protocol": "http", "target": PEER_V4, "port": 8080, "path": "/missing"}),
    );
    assert!(missing.contains("HTTP 404"), "{missing}");

    lab.peer_link(false);
    let down = fails(
        &lab,
        json!({"protocol": "http", "target": PEER_V4, "port": 8080, "timeoutMs": 300}),
    );
    assert!(down.contains("timed out"), "{down}");
}

#[test]
fn dns_against_dnsmasq() {
    let lab = Lab::new("dns");
    let tmp = tempfile::tempdir().unwrap();
    let _server = lab.dns_server(tmp.path());

    let answer = ok(
        &lab,
        json!({"protocol": "dns", "target": PEER_V4, "query": "example.test"}),
    );
    assert_eq!(answer.detail.as_deref(), Some("NOERROR"));
    ok(
        &lab,
        json!({"protocol": "dns", "target": PEER_V6, "query": "example.test"}),
    );
    // With no upstream, dnsmasq refuses what it is not authoritative for.
    let refused = fails(
        &lab,
        json!({"protocol": "dns", "target": PEER_V4, "query": "elsewhere.test"}),
    );
    assert!(
        refused.contains("REFUSED") || refused.contains("SERVFAIL"),
        "{refused}"
    );
    // Nobody on this port: ICMP port unreachable ends the probe early.
    let closed = fails(
        &lab,
        json!({"protocol": "dns", "target": PEER_V4, "port": 5353}),
    );
    assert!(closed.to_lowercase().contains("refused"), "{closed}");

    lab.peer_link(false);
    let down = fails(
        &lab,
        json!({"protocol": "dns", "target": PEER_V4, "query": "example.test", "timeoutMs": 300}),
    );
    assert!(down.contains("no DNS answer"), "{down}");
}

#[test]
fn source_interface_and_address_binding() {
    let lab = Lab::new("bind");
    // A second, unconnected interface: probes bound to it cannot reach the peer.
    lab.dead_end_interface();
    lab.hc.ip("addr add 192.0.2.11/32 dev hc0");

    ok(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V4, "sourceInterface": "hc0"}),
    );
    ok(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V4, "sourceAddress": "192.0.2.11"}),
    );
    fails(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V4, "sourceInterface": "dum0", "timeoutMs": 300}),
    );
    fails(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V6, "sourceInterface": "dum0", "timeoutMs": 300}),
    );

    let missing = fails(
        &lab,
        json!({"protocol": "tcp", "target": PEER_V4, "port": 1, "sourceInterface": "nope0"}),
    );
    assert!(missing.contains("bind to interface nope0"), "{missing}");
    let foreign = fails(
        &lab,
        json!({"protocol": "icmp", "target": PEER_V4, "sourceAddress": "198.51.100.1"}),
    );
    assert!(
        foreign.contains("bind to source address 198.51.100.1"),
        "{foreign}"
    );

    // The peer sees probes from the bound source address.
    let docroot = tempfile::tempdir().unwrap();
    let server = lab.http_server(docroot.path());
    ok(
        &lab,
        json!({"protocol": "http", "target": PEER_V4, "port": 8080, "sourceAddress": "192.0.2.11", "sourceInterface": "hc0"}),
    );
    routerd_lab::wait_until("the access log to name 192.0.2.11", common::SETTLE, || {
        server.stderr().contains("192.0.2.11").then_some(())
    });
    assert!(
        !server.stderr().contains(&format!("{HC_V4} ")),
        "{}",
        server.stderr()
    );
}

#[test]
fn default_gateway_is_read_from_the_kernel() {
    let lab = Lab::new("gw");
    let none = fails(&lab, json!({"protocol": "icmp"}));
    assert!(none.contains("no IPv4 default gateway"), "{none}");

    lab.hc.ip(&format!(
        "route add default via {PEER_V4} dev hc0 metric 100"
    ));
    // A worse route through a dead next hop must lose to the better one.
    lab.hc
        .ip("route add default via 192.0.2.99 dev hc0 metric 200");
    let (resolved, result) = run(
        &lab,
        spec(json!({"protocol": "icmp", "targetSource": "defaultGateway"})),
    );
    let resolved = resolved.expect("gateway resolves");
    assert_eq!(resolved.origin, TargetOrigin::DefaultGateway);
    assert_eq!(resolved.addr.to_string(), PEER_V4);
    assert!(result.is_ok(), "{result:?}");

    let link_local = lab.peer_link_local();
    lab.hc
        .ip(&format!("-6 route add default via {link_local} dev hc0"));
    let (resolved, result) = run(
        &lab,
        spec(json!({"protocol": "icmp", "addressFamily": "ipv6", "sourceInterface": "hc0"})),
    );
    let resolved = resolved.expect("IPv6 gateway resolves");
    assert_eq!(resolved.addr.to_string(), link_local);
    assert_ne!(
        resolved.scope_id, 0,
        "a link-local gateway needs its interface"
    );
    assert!(result.is_ok(), "{result:?}");

    lab.dead_end_interface();
    let elsewhere = fails(&lab, json!({"protocol": "icmp", "sourceInterface": "dum0"}));
    assert!(
        elsewhere.contains("no IPv4 default gateway on dum0"),
        "{elsewhere}"
    );
    let missing = fails(
        &lab,
        json!({"protocol": "icmp", "sourceInterface": "nope0"}),
    );
    assert!(missing.contains("nope0 does not exist"), "{missing}");
}
