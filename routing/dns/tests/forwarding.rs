//! Forwarding against in-process responders on 127.0.0.1: answers over UDP
//! and TCP, forwarder choice, failover, negative answers, health and cache.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Mode, Responder, Zone, closed_port, forwarder, thresholds, upstream};
use routerd_dns::{
    AnswerKind, DnsError, ForwarderSpec, Forwarding, ForwardingOptions, HealthSpec, Protocol,
    RData, RecordType, UpstreamError, UpstreamSpec,
};

/// Short, so that silent responders cost little.
const TIMEOUT: Duration = Duration::from_millis(300);

fn build(upstreams: &[UpstreamSpec], forwarders: &[ForwarderSpec]) -> Forwarding {
    let options = ForwardingOptions {
        query_timeout: TIMEOUT,
        ..ForwardingOptions::default()
    };
    Forwarding::with_options(upstreams, forwarders, options).unwrap()
}

fn zone() -> Zone {
    Zone::new("example.net")
        .a("host.example.net", "192.0.2.1")
        .aaaa("host.example.net", "2001:db8::1")
        .txt("host.example.net", "v=routerd")
}

fn upstream_status(fwd: &Forwarding, name: &str) -> routerd_dns::UpstreamStatus {
    fwd.status()
        .upstreams
        .into_iter()
        .find(|u| u.name == name)
        .unwrap()
}

#[tokio::test]
async fn udp_and_tcp_upstreams_answer_a_aaaa_and_other_types() {
    let r = Responder::udp_tcp(zone()).await;
    let fwd = build(
        &[
            upstream("over-udp", Protocol::Udp, r.addr),
            upstream("over-tcp", Protocol::Tcp, r.addr),
        ],
        &[
            forwarder("net", &["example.net"], &["over-udp"]),
            forwarder("all", &["."], &["over-tcp"]),
        ],
    );

    let a = fwd.lookup_ipv4("HOST.example.net.").await.unwrap();
    assert_eq!(a.kind, AnswerKind::Records);
    assert_eq!(
        a.addresses,
        vec!["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        (a.forwarder.as_str(), a.upstream.as_str()),
        ("net", "over-udp")
    );
    assert_eq!(a.server, r.addr.ip());
    assert_eq!(a.ttl, common::TTL);
    assert!(!a.cached);
    assert_eq!(a.name, "host.example.net.");

    let aaaa = fwd.lookup_ipv6("host.example.net").await.unwrap();
    assert_eq!(
        aaaa.ipv6().map(|v| v.to_string()).collect::<Vec<_>>(),
        ["2001:db8::1"]
    );

    let txt = fwd
        .lookup("host.example.net", RecordType::TXT)
        .await
        .unwrap();
    assert!(txt.addresses.is_empty());
    assert_eq!(txt.records.len(), 1);
    assert!(matches!(&txt.records[0].data, RData::TXT(_)));
    assert_eq!(txt.records[0].data.to_string(), "v=routerd");

    let both = fwd.lookup_ip("host.example.net").await.unwrap();
    assert_eq!(
        both.addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["2001:db8::1", "192.0.2.1"]
    );

    // The "." forwarder goes over TCP; the responder answers there too.
    let r2 =
        Responder::udp_tcp(Zone::new("example.org").aaaa("h.example.org", "2001:db8::2")).await;
    let fwd = build(
        &[upstream("over-tcp", Protocol::Tcp, r2.addr)],
        &[forwarder("all", &["."], &["over-tcp"])],
    );
    let aaaa = fwd.lookup_ipv6("h.example.org").await.unwrap();
    assert_eq!(aaaa.upstream, "over-tcp");
    assert_eq!(
        aaaa.ipv6().map(|v| v.to_string()).collect::<Vec<_>>(),
        ["2001:db8::2"]
    );
}

#[tokio::test]
async fn the_longest_match_suffix_picks_the_forwarder() {
    let root = Responder::udp_tcp(Zone::any_a([192, 0, 2, 10])).await;
    let net = Responder::udp_tcp(Zone::any_a([192, 0, 2, 20])).await;
    let sub = Responder::udp_tcp(Zone::any_a([192, 0, 2, 30])).await;
    let fwd = build(
        &[
            upstream("root", Protocol::Udp, root.addr),
            upstream("net", Protocol::Udp, net.addr),
            upstream("sub", Protocol::Udp, sub.addr),
        ],
        &[
            forwarder("everything", &["."], &["root"]),
            forwarder("example-net", &["example.net"], &["net"]),
            forwarder("a-example-net", &["a.example.net", "other.test"], &["sub"]),
        ],
    );
    for (name, forwarder, upstream) in [
        ("x.a.example.net", "a-example-net", "sub"),
        ("a.example.net", "a-example-net", "sub"),
        ("www.other.test", "a-example-net", "sub"),
        ("b.example.net", "example-net", "net"),
        ("example.net", "example-net", "net"),
        ("aexample.net", "everything", "root"),
        ("example.org", "everything", "root"),
    ] {
        let a = fwd.lookup_ipv4(name).await.unwrap();
        assert_eq!(
            (a.forwarder.as_str(), a.upstream.as_str()),
            (forwarder, upstream),
            "{name}"
        );
    }
}

#[tokio::test]
async fn failover_passes_dead_silent_servfail_and_refused_upstreams() {
    let dead = closed_port().await;
    let silent = Responder::udp_tcp(zone()).await;
    silent.set_mode(Mode::Silent);
    let servfail = Responder::udp_tcp(zone()).await;
    servfail.set_mode(Mode::ServFail);
    let refused = Responder::udp_tcp(zone()).await;
    refused.set_mode(Mode::Refused);
    let good = Responder::udp_tcp(zone()).await;

    let upstreams = [
        upstream("dead", Protocol::Tcp, dead),
        upstream("silent", Protocol::Udp, silent.addr),
        upstream("servfail", Protocol::Udp, servfail.addr),
        upstream("refused", Protocol::Udp, refused.addr),
        upstream("good", Protocol::Udp, good.addr),
    ];
    let fwd = build(
        &upstreams,
        &[
            forwarder(
                "all",
                &["."],
                &["dead", "silent", "servfail", "refused", "good"],
            ),
            forwarder(
                "bad",
                &["bad.test"],
                &["dead", "silent", "servfail", "refused"],
            ),
        ],
    );

    let a = fwd.lookup_ipv4("host.example.net").await.unwrap();
    assert_eq!(a.upstream, "good");
    for name in ["dead", "silent", "servfail", "refused"] {
        let s = upstream_status(&fwd, name);
        assert_eq!((s.queries, s.failures), (1, 1), "{name}");
        assert!(s.healthy, "one failure is below the default threshold of 3");
    }
    assert!(
        upstream_status(&fwd, "servfail")
            .last_error
            .unwrap()
            .contains("SERVFAIL")
    );

    let err = fwd.lookup_ipv4("x.bad.test").await.unwrap_err();
    let DnsError::AllUpstreamsFailed {
        forwarder,
        attempts,
        ..
    } = err
    else {
        panic!("expected every upstream to fail, got {err}");
    };
    assert_eq!(forwarder, "bad");
    let errors: Vec<_> = attempts
        .iter()
        .map(|a| (a.upstream.as_str(), a.error.clone()))
        .collect();
    // hickory itself only says "no connections available"; the cause comes
    // from our socket layer.
    assert!(
        matches!(&errors[0], ("dead", UpstreamError::Connect(m)) if m.contains("refused")),
        "{errors:?}"
    );
    assert_eq!(errors[1], ("silent", UpstreamError::Timeout));
    assert_eq!(errors[2], ("servfail", UpstreamError::ServFail));
    assert_eq!(errors[3], ("refused", UpstreamError::Refused));
}

#[tokio::test]
async fn nxdomain_and_nodata_are_answers_and_do_not_fail_over() {
    let first = Responder::udp_tcp(zone()).await;
    let second = Responder::udp_tcp(Zone::any_a([192, 0, 2, 99])).await;
    let fwd = build(
        &[
            upstream("first", Protocol::Udp, first.addr),
            upstream("second", Protocol::Udp, second.addr),
        ],
        &[forwarder("all", &["."], &["first", "second"])],
    );

    let nx = fwd.lookup_ipv4("missing.example.net").await.unwrap();
    assert_eq!(nx.kind, AnswerKind::NxDomain);
    assert_eq!(nx.upstream, "first");
    assert_eq!(nx.ttl, common::NEGATIVE_TTL, "the SOA's negative TTL");
    assert!(nx.addresses.is_empty());

    let nodata = fwd
        .lookup("host.example.net", RecordType::MX)
        .await
        .unwrap();
    assert_eq!(nodata.kind, AnswerKind::NoData);

    // lookup_ip of a name that does not exist: both families answered, no addresses.
    let ip = fwd.lookup_ip("missing2.example.net").await.unwrap();
    assert!(ip.addresses.is_empty());
    assert_eq!(ip.ipv6.map(|a| a.kind), Some(AnswerKind::NxDomain));

    assert_eq!(second.queries(), 0, "negative answers must not fail over");
    let s = upstream_status(&fwd, "first");
    assert_eq!(s.failures, 0);
}

#[tokio::test]
async fn truncated_udp_answers_are_asked_again_over_tcp() {
    let r = Responder::udp_tcp(zone()).await;
    r.set_mode(Mode::Truncate);
    let fwd = build(
        &[upstream("u", Protocol::Udp, r.addr)],
        &[forwarder("all", &["."], &["u"])],
    );
    let a = fwd.lookup_ipv4("host.example.net").await.unwrap();
    assert_eq!(a.addresses.len(), 1);
    assert_eq!(r.queries(), 2, "once over UDP (truncated), once over TCP");
}

#[tokio::test]
async fn an_upstream_address_that_fails_is_passed_and_the_answering_one_preferred() {
    let good = Responder::udp_tcp(zone()).await;
    // Two addresses on the responder's port: 127.0.0.2, where nothing listens
    // (over UDP that is a timeout), then 127.0.0.1, the responder.
    let spec = UpstreamSpec {
        name: "two".into(),
        protocol: Protocol::Udp,
        addresses: vec!["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        port: Some(good.addr.port()),
        ..UpstreamSpec::default()
    };
    let fwd = build(&[spec], &[forwarder("all", &["."], &["two"])]);
    let started = tokio::time::Instant::now();
    let a = fwd.lookup_ipv4("host.example.net").await.unwrap();
    assert!(
        started.elapsed() >= TIMEOUT,
        "the first address had to time out"
    );
    assert_eq!(a.server.to_string(), "127.0.0.1");
    let s = upstream_status(&fwd, "two");
    assert_eq!(
        (s.queries, s.failures),
        (1, 0),
        "one upstream attempt, answered"
    );

    // The next lookup starts with the address that answered.
    let started = tokio::time::Instant::now();
    let b = fwd.lookup_ipv4("other.example.net").await.unwrap();
    assert!(started.elapsed() < TIMEOUT);
    assert_eq!(b.kind, AnswerKind::NxDomain);
    assert_eq!(good.queries(), 2);
}

#[tokio::test]
async fn unhealthy_upstreams_are_tried_last_and_probes_bring_them_back() {
    let flaky = Responder::udp_tcp(zone()).await;
    flaky.set_mode(Mode::ServFail);
    let steady = Responder::udp_tcp(zone()).await;
    let mut all = forwarder("all", &["."], &["flaky", "steady"]);
    all.health = Some(HealthSpec {
        fail_threshold: Some(2),
        pass_threshold: Some(1),
        probe_name: Some("host.example.net".into()),
        ..HealthSpec::default()
    });
    let fwd = build(
        &[
            upstream("flaky", Protocol::Udp, flaky.addr),
            upstream("steady", Protocol::Udp, steady.addr),
        ],
        &[all],
    );

    // Distinct names: the cache must not answer.
    for i in 0..2 {
        let a = fwd.lookup_ipv4(&format!("n{i}.example.net")).await.unwrap();
        assert_eq!(a.upstream, "steady");
    }
    let s = upstream_status(&fwd, "flaky");
    assert!(!s.healthy);
    assert_eq!(s.consecutive_failures, 2);
    let order = &fwd.status().forwarders[0].effective_order;
    assert_eq!(order, &["steady", "flaky"]);

    // Unhealthy: asked after steady, so not asked at all while steady answers.
    let before = flaky.queries();
    fwd.lookup_ipv4("n3.example.net").await.unwrap();
    assert_eq!(flaky.queries(), before);

    // It recovers; a probe (passThreshold 1) makes it healthy and first again.
    flaky.set_mode(Mode::Answer);
    let outcomes = fwd.probe_upstreams().await;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let s = upstream_status(&fwd, "flaky");
    assert!(s.healthy);
    assert_eq!(s.probes, 1);
    assert_eq!(s.last_error.as_deref(), Some("server failure (SERVFAIL)"));
    let a = fwd.lookup_ipv4("n4.example.net").await.unwrap();
    assert_eq!(a.upstream, "flaky");
}

#[tokio::test]
async fn a_lone_unhealthy_upstream_is_still_asked() {
    let r = Responder::udp_tcp(zone()).await;
    r.set_mode(Mode::Refused);
    let mut all = forwarder("all", &["."], &["only"]);
    all.health = thresholds(1, 2);
    let fwd = build(&[upstream("only", Protocol::Udp, r.addr)], &[all]);
    assert!(fwd.lookup_ipv4("host.example.net").await.is_err());
    assert!(!upstream_status(&fwd, "only").healthy);
    r.set_mode(Mode::Answer);
    let a = fwd.lookup_ipv4("host.example.net").await.unwrap();
    assert_eq!(a.upstream, "only");
    // One success is below passThreshold 2.
    assert!(!upstream_status(&fwd, "only").healthy);
}

#[tokio::test]
async fn answers_are_cached_for_their_ttl_and_the_cache_can_be_cleared() {
    let r = Responder::udp_tcp(zone()).await;
    let fwd = build(
        &[upstream("u", Protocol::Udp, r.addr)],
        &[forwarder("all", &["."], &["u"])],
    );
    let first = fwd.lookup_ipv4("host.example.net").await.unwrap();
    let second = fwd.lookup_ipv4("Host.Example.Net").await.unwrap();
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(second.upstream, "u");
    assert!(second.ttl <= first.ttl && second.ttl > 0);
    // Negative answers are cached too (they carry an SOA).
    fwd.lookup_ipv4("missing.example.net").await.unwrap();
    assert!(fwd.lookup_ipv4("missing.example.net").await.unwrap().cached);
    assert_eq!(r.queries(), 2);
    assert_eq!(
        upstream_status(&fwd, "u").queries,
        2,
        "cache hits are not exchanges"
    );

    fwd.clear_cache();
    assert!(!fwd.lookup_ipv4("host.example.net").await.unwrap().cached);
    assert_eq!(r.queries(), 3);
}

#[tokio::test]
async fn health_checks_run_on_their_interval() {
    let r = Responder::udp_tcp(zone()).await;
    let mut all = forwarder("all", &["."], &["u"]);
    all.health = Some(HealthSpec {
        interval: Some(Duration::from_millis(50)),
        timeout: Some(Duration::from_millis(200)),
        probe_name: Some("host.example.net".into()),
        ..HealthSpec::default()
    });
    let fwd = Arc::new(build(&[upstream("u", Protocol::Udp, r.addr)], &[all]));
    let checks = tokio::spawn({
        let fwd = fwd.clone();
        async move { fwd.run_health_checks().await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while upstream_status(&fwd, "u").probes < 3 {
        assert!(tokio::time::Instant::now() < deadline, "probes did not run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    checks.abort();
    let s = upstream_status(&fwd, "u");
    assert!(s.last_rtt_ms.is_some());
    assert_eq!(s.failures, 0);

    // Without an interval there is nothing to run: it returns at once.
    let passive = build(
        &[upstream("u", Protocol::Udp, r.addr)],
        &[forwarder("all", &["."], &["u"])],
    );
    tokio::time::timeout(Duration::from_secs(1), passive.run_health_checks())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_probe_that_outlives_its_timeout_is_a_failure() {
    let r = Responder::udp_tcp(zone()).await;
    r.set_mode(Mode::Silent);
    let mut all = forwarder("all", &["."], &["u"]);
    all.health = Some(HealthSpec {
        timeout: Some(Duration::from_millis(50)),
        ..HealthSpec::default()
    });
    let fwd = build(&[upstream("u", Protocol::Udp, r.addr)], &[all]);
    let started = tokio::time::Instant::now();
    let outcome = fwd.probe_upstreams().await;
    assert!(
        started.elapsed() < TIMEOUT,
        "the probe timeout is shorter than the query timeout"
    );
    assert_eq!(outcome[0].result, Err(UpstreamError::Timeout));
    assert_eq!(upstream_status(&fwd, "u").failures, 1);
}

#[tokio::test]
async fn status_serialises_in_camel_case() {
    let r = Responder::udp_tcp(zone()).await;
    let fwd = build(
        &[upstream("u", Protocol::Udp, r.addr)],
        &[forwarder("all", &[".", "Example.NET"], &["u"])],
    );
    fwd.lookup_ipv4("host.example.net").await.unwrap();
    let json = serde_json::to_value(fwd.status()).unwrap();
    let up = &json["upstreams"][0];
    assert_eq!(up["name"], "u");
    assert_eq!(up["protocol"], "udp");
    assert_eq!(up["healthy"], true);
    assert_eq!(up["addresses"][0], "127.0.0.1");
    assert_eq!(up["queries"], 1);
    assert_eq!(up["failures"], 0);
    assert!(up["lastRttMs"].is_number());
    assert!(up.get("lastError").is_none());
    let f = &json["forwarders"][0];
    assert_eq!(f["domains"], serde_json::json!([".", "example.net."]));
    assert_eq!(f["upstreams"], serde_json::json!(["u"]));
    assert_eq!(f["effectiveOrder"], serde_json::json!(["u"]));
}

#[tokio::test]
async fn names_without_a_forwarder_or_upstreams_are_errors() {
    let r = Responder::udp_tcp(zone()).await;
    let mut local = forwarder("local", &["lan.example"], &[]);
    local.upstreams.clear();
    let fwd = build(
        &[upstream("u", Protocol::Udp, r.addr)],
        &[forwarder("net", &["example.net"], &["u"]), local],
    );
    assert!(matches!(
        fwd.lookup_ipv4("example.org").await,
        Err(DnsError::NoForwarder { name }) if name == "example.org."
    ));
    assert!(matches!(
        fwd.lookup_ipv4("pc.lan.example").await,
        Err(DnsError::NoUpstreams { forwarder, .. }) if forwarder == "local"
    ));
    assert!(matches!(
        fwd.lookup_ipv4("bad..name").await,
        Err(DnsError::InvalidName { .. })
    ));
    assert!(fwd.lookup_ip("example.org").await.is_err());
}
