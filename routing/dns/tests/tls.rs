//! DoT and DoH upstreams against rustls responders with a test CA: the CA
//! comes in as the upstream's extra trust anchor; without it, or with the
//! wrong name, the certificate check fails and the forwarder fails over.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Responder, TestPki, Zone, forwarder, upstream};
use routerd_dns::{
    AnswerKind, DnsError, Forwarding, ForwardingOptions, Protocol, UpstreamError, UpstreamSpec,
};

fn zone() -> Zone {
    Zone::new("example.net").aaaa("aftr.example.net", "2001:db8::1")
}

fn options() -> ForwardingOptions {
    ForwardingOptions {
        query_timeout: Duration::from_secs(2),
        ..ForwardingOptions::default()
    }
}

fn secure(name: &str, protocol: Protocol, r: &Responder, pki: &TestPki) -> UpstreamSpec {
    UpstreamSpec {
        tls_name: Some("dns.test".into()),
        ca_pem: Some(pki.ca_pem.clone()),
        ..upstream(name, protocol, r.addr)
    }
}

fn only_error(err: DnsError) -> UpstreamError {
    match err {
        DnsError::AllUpstreamsFailed { mut attempts, .. } if attempts.len() == 1 => {
            attempts.remove(0).error
        }
        other => panic!("expected one failed attempt, got {other}"),
    }
}

#[tokio::test]
async fn dot_with_a_private_ca() {
    let pki = TestPki::new();
    let r = Responder::dot(zone(), &pki).await;
    let fwd = Forwarding::with_options(
        &[secure("dot", Protocol::Dot, &r, &pki)],
        &[forwarder("all", &["."], &["dot"])],
        options(),
    )
    .unwrap();
    let a = fwd.lookup_ipv6("aftr.example.net").await.unwrap();
    assert_eq!(a.upstream, "dot");
    assert_eq!(
        a.ipv6().map(|v| v.to_string()).collect::<Vec<_>>(),
        ["2001:db8::1"]
    );
    // The connection is kept: a second exchange goes over it.
    let nx = fwd.lookup_ipv6("gone.example.net").await.unwrap();
    assert_eq!(nx.kind, AnswerKind::NxDomain);
    assert_eq!(r.queries(), 2);
}

#[tokio::test]
async fn dot_verifies_against_an_ip_address_name() {
    let pki = TestPki::new();
    let r = Responder::dot(zone(), &pki).await;
    let spec = UpstreamSpec {
        tls_name: Some("127.0.0.1".into()),
        ..secure("dot", Protocol::Dot, &r, &pki)
    };
    let fwd = Forwarding::with_options(&[spec], &[forwarder("all", &["."], &["dot"])], options())
        .unwrap();
    assert!(fwd.lookup_ipv6("aftr.example.net").await.is_ok());
}

#[tokio::test]
async fn dot_without_the_ca_or_with_the_wrong_name_fails_the_certificate_check() {
    let pki = TestPki::new();
    let r = Responder::dot(zone(), &pki).await;

    let untrusted = UpstreamSpec {
        ca_pem: None,
        ..secure("dot", Protocol::Dot, &r, &pki)
    };
    let fwd = Forwarding::with_options(
        &[untrusted],
        &[forwarder("all", &["."], &["dot"])],
        options(),
    )
    .unwrap();
    let err = only_error(fwd.lookup_ipv6("aftr.example.net").await.unwrap_err());
    assert!(
        matches!(&err, UpstreamError::Tls(m) if m.contains("certificate")),
        "{err}"
    );

    let wrong_name = UpstreamSpec {
        tls_name: Some("other.test".into()),
        ..secure("dot", Protocol::Dot, &r, &pki)
    };
    let fwd = Forwarding::with_options(
        &[wrong_name],
        &[forwarder("all", &["."], &["dot"])],
        options(),
    )
    .unwrap();
    let err = only_error(fwd.lookup_ipv6("aftr.example.net").await.unwrap_err());
    assert!(
        matches!(&err, UpstreamError::Tls(m) if m.contains("other.test")),
        "{err}"
    );
    assert_eq!(
        r.queries(),
        0,
        "no query may cross an unverified connection"
    );
}

#[tokio::test]
async fn doh_with_a_private_ca_and_its_path() {
    let pki = TestPki::new();
    let default_path = Responder::doh(zone(), &pki, "/dns-query").await;
    let custom_path = Responder::doh(zone(), &pki, "/resolve").await;
    let fwd = Forwarding::with_options(
        &[
            secure("doh", Protocol::Doh, &default_path, &pki),
            UpstreamSpec {
                path: Some("/resolve".into()),
                ..secure("doh-custom", Protocol::Doh, &custom_path, &pki)
            },
            // The wrong path gets a 404: a failure, so the next upstream answers.
            secure("doh-wrong-path", Protocol::Doh, &custom_path, &pki),
        ],
        &[
            forwarder("net", &["example.net"], &["doh"]),
            forwarder("org", &["example.org"], &["doh-wrong-path", "doh-custom"]),
        ],
        options(),
    )
    .unwrap();
    let a = fwd.lookup_ipv6("aftr.example.net").await.unwrap();
    assert_eq!(a.upstream, "doh");
    assert_eq!(a.addresses.len(), 1);

    let nx = fwd.lookup_ipv6("x.example.org").await.unwrap();
    assert_eq!(
        (nx.upstream.as_str(), nx.kind),
        ("doh-custom", AnswerKind::NxDomain)
    );
    let wrong = fwd
        .status()
        .upstreams
        .into_iter()
        .find(|u| u.name == "doh-wrong-path")
        .unwrap();
    assert_eq!(wrong.failures, 1);
    assert!(wrong.last_error.is_some());
}

#[tokio::test]
async fn a_host_name_address_is_resolved_through_bootstrap() {
    let pki = TestPki::new();
    let dot = Responder::dot(zone(), &pki).await;
    let doh = Responder::doh(zone(), &pki, "/dns-query").await;
    // The bootstrap server knows where dns.test is; the DoT/DoH servers do not
    // need to (and must not be asked).
    let bootstrap = Responder::udp_tcp(Zone::new("test").a("dns.test", "127.0.0.1")).await;
    let by_name = |name: &str, protocol: Protocol, port: u16| UpstreamSpec {
        name: name.into(),
        protocol,
        host: Some("dns.test".into()),
        port: Some(port),
        bootstrap: vec![bootstrap.addr.ip()],
        ca_pem: Some(pki.ca_pem.clone()),
        ..UpstreamSpec::default()
    };
    let fwd = Forwarding::with_options(
        &[
            by_name("dot", Protocol::Dot, dot.addr.port()),
            by_name("doh", Protocol::Doh, doh.addr.port()),
        ],
        &[
            forwarder("net", &["example.net"], &["dot"]),
            forwarder("all", &["."], &["doh"]),
        ],
        ForwardingOptions {
            bootstrap_port: bootstrap.addr.port(),
            ..options()
        },
    )
    .unwrap();

    let a = fwd.lookup_ipv6("aftr.example.net").await.unwrap();
    assert_eq!(a.upstream, "dot");
    assert_eq!(a.server.to_string(), "127.0.0.1");
    let b = fwd.lookup_ipv6("aftr.example.org").await.unwrap();
    assert_eq!((b.upstream.as_str(), b.kind), ("doh", AnswerKind::NxDomain));
    // AAAA and A of dns.test, once per upstream; then the TTL holds.
    assert_eq!(bootstrap.queries(), 4);
    fwd.clear_cache();
    fwd.lookup_ipv6("aftr.example.net").await.unwrap();
    assert_eq!(bootstrap.queries(), 4);

    let status = fwd.status();
    assert_eq!(status.upstreams[0].host.as_deref(), Some("dns.test"));
    assert_eq!(status.upstreams[0].addresses, ["127.0.0.1"]);
}

#[tokio::test]
async fn a_host_name_that_does_not_resolve_is_a_bootstrap_failure() {
    let pki = TestPki::new();
    let bootstrap = Responder::udp_tcp(Zone::new("test")).await;
    let spec = UpstreamSpec {
        name: "dot".into(),
        protocol: Protocol::Dot,
        host: Some("nowhere.test".into()),
        bootstrap: vec![bootstrap.addr.ip()],
        ca_pem: Some(pki.ca_pem.clone()),
        ..UpstreamSpec::default()
    };
    let fwd = Forwarding::with_options(
        &[spec],
        &[forwarder("all", &["."], &["dot"])],
        ForwardingOptions {
            bootstrap_port: bootstrap.addr.port(),
            ..options()
        },
    )
    .unwrap();
    let err = only_error(fwd.lookup_ipv6("aftr.example.net").await.unwrap_err());
    assert!(
        matches!(&err, UpstreamError::Bootstrap(m) if m.contains("nowhere.test")),
        "{err}"
    );
}
