use super::*;
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<ProbeSpec, String> {
    let spec: ProbeSpec = serde_json::from_value(value).map_err(|e| e.to_string())?;
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

fn rejects(value: serde_json::Value, needle: &str) {
    match parse(value) {
        Ok(spec) => panic!("accepted {spec:?}, wanted an error about {needle:?}"),
        Err(e) => assert!(
            e.contains(needle),
            "error {e:?} does not mention {needle:?}"
        ),
    }
}

#[test]
fn minimal_icmp_gets_defaults() {
    let spec = parse(json!({"name": "gw", "protocol": "icmp"})).unwrap();
    assert_eq!(spec.effective_target_source(), TargetSource::DefaultGateway);
    assert_eq!(spec.interval_ms, 10_000);
    assert_eq!(spec.timeout_ms, 2_000);
    assert_eq!(spec.healthy_threshold, 2);
    assert_eq!(spec.unhealthy_threshold, 3);
    assert!(spec.enabled);
    assert_eq!(spec.family(), None);
    assert_eq!(spec.effective_port(), None);
}

#[test]
fn full_http_spec_round_trips() {
    let value = json!({
        "name": "web-1", "protocol": "http", "target": "2001:db8::1",
        "targetSource": "static", "addressFamily": "ipv6", "port": 8080,
        "path": "/healthz", "intervalMs": 500, "timeoutMs": 200,
        "healthyThreshold": 1, "unhealthyThreshold": 5,
        "sourceInterface": "wan0", "sourceAddress": "2001:db8::2", "enabled": false
    });
    let spec = parse(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&spec).unwrap(), value);
    assert_eq!(spec.family(), Some(AddressFamily::Ipv6));
    assert_eq!(spec.http_path(), "/healthz");
}

#[test]
fn protocol_defaults() {
    let http = parse(json!({"name": "a", "protocol": "http", "target": "192.0.2.1"})).unwrap();
    assert_eq!(http.effective_port(), Some(80));
    assert_eq!(http.http_path(), "/");
    let dns = parse(json!({"name": "a", "protocol": "dns", "target": "192.0.2.1"})).unwrap();
    assert_eq!(dns.effective_port(), Some(53));
    assert_eq!(dns.dns_query(), ".");
    assert_eq!(dns.family(), Some(AddressFamily::Ipv4));
}

#[test]
fn unknown_fields_are_rejected() {
    rejects(
        json!({"name": "a", "protocol": "icmp", "intervall": 5}),
        "unknown field",
    );
}

#[test]
fn bad_values_are_rejected_with_the_field_named() {
    rejects(json!({"name": "", "protocol": "icmp"}), "name");
    rejects(json!({"name": "a.b", "protocol": "icmp"}), "name");
    rejects(
        json!({"name": "a", "protocol": "tcp", "target": "192.0.2.1"}),
        "tcp needs a port",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "192.0.2.1", "port": 1}),
        "port",
    );
    rejects(
        json!({"name": "a", "protocol": "http", "target": "192.0.2.1", "port": 0}),
        "port 0",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "intervalMs": 1000, "timeoutMs": 1000}),
        "timeoutMs (1000) must be less than intervalMs (1000)",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "intervalMs": 5}),
        "intervalMs",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "healthyThreshold": 0}),
        "healthyThreshold",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "targetSource": "static"}),
        "needs a target",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "targetSource": "defaultGateway", "target": "192.0.2.1"}),
        "takes no target",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "192.0.2.1", "addressFamily": "ipv6"}),
        "addressFamily",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "fe80::1"}),
        "sourceInterface",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "bad_-.host..x"}),
        "target",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "224.0.0.1"}),
        "unicast",
    );
    rejects(
        json!({"name": "a", "protocol": "http", "target": "h.test", "path": "x"}),
        "path",
    );
    rejects(
        json!({"name": "a", "protocol": "http", "target": "h.test", "path": "/a b"}),
        "whitespace",
    );
    rejects(
        json!({"name": "a", "protocol": "tcp", "port": 1, "path": "/"}),
        "path only",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "query": "x.test"}),
        "query only",
    );
    rejects(
        json!({"name": "a", "protocol": "dns", "query": "a..b"}),
        "query",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "sourceInterface": "much-too-long-name0"}),
        "sourceInterface",
    );
    rejects(
        json!({"name": "a", "protocol": "icmp", "target": "192.0.2.1", "sourceAddress": "2001:db8::1"}),
        "sourceAddress",
    );
}

#[test]
fn hostnames_and_link_local_with_interface_are_fine() {
    parse(json!({"name": "a", "protocol": "icmp", "target": "fe80::1", "sourceInterface": "eth0"}))
        .unwrap();
    let spec = parse(json!({"name": "a", "protocol": "dns", "target": "ns1.example.test.", "query": "example.test"}))
        .unwrap();
    assert_eq!(spec.family(), None);
}

#[test]
fn same_probe_ignores_timing_and_thresholds() {
    let a = parse(json!({"name": "a", "protocol": "icmp", "target": "192.0.2.1"})).unwrap();
    let mut b = a.clone();
    b.interval_ms = 500;
    b.timeout_ms = 100;
    b.healthy_threshold = 7;
    assert!(a.same_probe(&b));
    b.target = Some("192.0.2.2".into());
    assert!(!a.same_probe(&b));
}

#[test]
fn load_reports_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hc.json");
    let missing = ProbeSpec::load(&path).unwrap_err().to_string();
    assert!(missing.contains("cannot read config"), "{missing}");
    std::fs::write(&path, "{not json").unwrap();
    let garbled = ProbeSpec::load(&path).unwrap_err().to_string();
    assert!(garbled.contains("cannot parse config"), "{garbled}");
    std::fs::write(&path, r#"{"name":"x","protocol":"icmp"}"#).unwrap();
    assert_eq!(ProbeSpec::load(&path).unwrap().name, "x");
}
