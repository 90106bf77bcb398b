//! Every spec problem is refused with a typed error naming the resource.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use routerd_dns::{
    DnsError, ForwarderProblem, ForwarderSpec, Forwarding, ForwardingOptions, HealthSpec, Protocol,
    UpstreamProblem, UpstreamSpec,
};

fn udp(name: &str) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        protocol: Protocol::Udp,
        addresses: vec!["192.0.2.53".parse().unwrap()],
        ..UpstreamSpec::default()
    }
}

fn fwd(name: &str, domains: &[&str], upstreams: &[&str]) -> ForwarderSpec {
    ForwarderSpec {
        name: name.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        upstreams: upstreams.iter().map(|u| u.to_string()).collect(),
        health: None,
    }
}

/// A spec and a check of the problem it must produce.
type UpstreamCase = (UpstreamSpec, fn(&UpstreamProblem) -> bool);
/// Forwarders, the forwarder named in the error, and a check of the problem.
type ForwarderCase = (
    Vec<ForwarderSpec>,
    &'static str,
    fn(&ForwarderProblem) -> bool,
);

fn upstream_problem(spec: UpstreamSpec) -> UpstreamProblem {
    let name = spec.name.clone();
    match Forwarding::new(&[spec], &[]) {
        Err(DnsError::InvalidUpstream { upstream, problem }) => {
            assert_eq!(upstream, name);
            problem
        }
        Err(other) => panic!("expected an upstream problem, got {other}"),
        Ok(_) => panic!("{name} should not validate"),
    }
}

fn forwarder_problem(
    upstreams: &[UpstreamSpec],
    forwarders: &[ForwarderSpec],
) -> (String, ForwarderProblem) {
    match Forwarding::new(upstreams, forwarders) {
        Err(DnsError::InvalidForwarder { forwarder, problem }) => (forwarder, problem),
        Err(other) => panic!("expected a forwarder problem, got {other}"),
        Ok(_) => panic!("should not validate"),
    }
}

#[test]
fn good_specs_validate() {
    let doh = UpstreamSpec {
        name: "cloudflare-doh".into(),
        protocol: Protocol::Doh,
        host: Some("cloudflare-dns.com".into()),
        bootstrap: vec!["1.1.1.1".parse().unwrap()],
        path: Some("/dns-query".into()),
        ..UpstreamSpec::default()
    };
    let dot_by_ip = UpstreamSpec {
        name: "google-dot".into(),
        protocol: Protocol::Dot,
        addresses: vec!["8.8.8.8".parse().unwrap()],
        tls_name: Some("dns.google".into()),
        source_interface: Some("wan0".into()),
        ..UpstreamSpec::default()
    };
    let dot_by_ip_san = UpstreamSpec {
        name: "one-dot".into(),
        protocol: Protocol::Dot,
        addresses: vec!["1.1.1.1".parse().unwrap()],
        tls_name: Some("1.1.1.1".into()),
        ..UpstreamSpec::default()
    };
    let mut default = fwd(
        "default",
        &["."],
        &["DNSUpstream/cloudflare-doh", "google-dot", "one-dot"],
    );
    default.health = Some(HealthSpec {
        interval: Some(Duration::from_secs(15)),
        timeout: Some(Duration::from_secs(3)),
        fail_threshold: Some(3),
        pass_threshold: Some(2),
        probe_name: None,
    });
    let fwd = Forwarding::new(
        &[doh, dot_by_ip, dot_by_ip_san, udp("transix-a")],
        &[default, fwd("aftr", &["gw.transix.jp"], &["transix-a"])],
    )
    .unwrap();
    let status = fwd.status();
    assert_eq!(status.upstreams.len(), 4);
    assert_eq!(
        status.upstreams[0].host.as_deref(),
        Some("cloudflare-dns.com")
    );
    assert!(
        status.upstreams[0].addresses.is_empty(),
        "resolved on first use"
    );
    assert_eq!(status.forwarders[1].domains, ["gw.transix.jp."]);
}

#[test]
fn upstream_problems() {
    let base = udp("u");
    let cases: Vec<UpstreamCase> = vec![
        (
            UpstreamSpec {
                name: String::new(),
                ..base.clone()
            },
            |p| *p == UpstreamProblem::EmptyName,
        ),
        (
            UpstreamSpec {
                addresses: vec![],
                ..base.clone()
            },
            |p| *p == UpstreamProblem::NoAddress,
        ),
        (
            UpstreamSpec {
                addresses: vec![],
                host: Some("dns.example".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::HostNameForPlainDns { host } if host == "dns.example"),
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Dot,
                addresses: vec![],
                host: Some("dns.example".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::NoBootstrap { host } if host == "dns.example"),
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Doh,
                addresses: vec![],
                host: Some("dns..example".into()),
                bootstrap: vec!["192.0.2.1".parse().unwrap()],
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidHost { .. }),
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Doh,
                ..base.clone()
            },
            |p| {
                *p == UpstreamProblem::NoTlsName {
                    protocol: Protocol::Doh,
                }
            },
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Dot,
                tls_name: Some("not a name".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidTlsName { .. }),
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Doh,
                tls_name: Some("dns.example".into()),
                path: Some("dns-query".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidPath { path } if path == "dns-query"),
        ),
        (
            UpstreamSpec {
                port: Some(0),
                ..base.clone()
            },
            |p| *p == UpstreamProblem::PortZero,
        ),
        (
            UpstreamSpec {
                protocol: Protocol::Dot,
                tls_name: Some("dns.example".into()),
                ca_pem: Some("garbage".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidCa { .. }),
        ),
        (
            UpstreamSpec {
                source_interface: Some("much-too-long-ifname".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidInterface { .. }),
        ),
        (
            UpstreamSpec {
                source_interface: Some("eth0:1".into()),
                ..base.clone()
            },
            |p| matches!(p, UpstreamProblem::InvalidInterface { .. }),
        ),
    ];
    for (spec, expected) in cases {
        let problem = upstream_problem(spec.clone());
        assert!(expected(&problem), "{spec:?} gave {problem:?}");
        // The message names the resource.
        let message = DnsError::InvalidUpstream {
            upstream: spec.name.clone(),
            problem,
        }
        .to_string();
        assert!(
            message.starts_with(&format!("DNSUpstream/{}:", spec.name)),
            "{message}"
        );
    }

    let dup = Forwarding::new(&[udp("u"), udp("u")], &[]).err().unwrap();
    assert_eq!(
        dup,
        DnsError::InvalidUpstream {
            upstream: "u".into(),
            problem: UpstreamProblem::Duplicate
        }
    );
}

#[test]
fn an_ip_in_the_host_field_is_an_address() {
    let spec = UpstreamSpec {
        name: "u".into(),
        host: Some("2001:db8::53".into()),
        ..UpstreamSpec::default()
    };
    let fwd = Forwarding::new(&[spec], &[]).unwrap();
    assert_eq!(fwd.status().upstreams[0].addresses, ["2001:db8::53"]);
}

#[test]
fn forwarder_problems() {
    let ups = [udp("a"), udp("b")];
    let cases: Vec<ForwarderCase> = vec![
        (vec![fwd("", &["."], &["a"])], "", |p| {
            *p == ForwarderProblem::EmptyName
        }),
        (
            vec![fwd("f", &["."], &["a"]), fwd("f", &["x"], &["a"])],
            "f",
            |p| *p == ForwarderProblem::Duplicate,
        ),
        (vec![fwd("f", &[], &["a"])], "f", |p| {
            *p == ForwarderProblem::NoDomains
        }),
        (
            vec![fwd("f", &["bad domain"], &["a"])],
            "f",
            |p| matches!(p, ForwarderProblem::InvalidDomain { domain, .. } if domain == "bad domain"),
        ),
        (
            vec![
                fwd("one", &["example.net"], &["a"]),
                fwd("two", &["EXAMPLE.net."], &["b"]),
            ],
            "two",
            |p| matches!(p, ForwarderProblem::DuplicateDomain { other, .. } if other == "one"),
        ),
        (vec![fwd("f", &["."], &["DNSResolver/a"])], "f", |p| {
            matches!(p, ForwarderProblem::WrongKind { .. })
        }),
        (
            vec![fwd("f", &["."], &["DNSUpstream/nope"])],
            "f",
            |p| matches!(p, ForwarderProblem::UnknownUpstream { upstream } if upstream == "nope"),
        ),
        (
            vec![fwd("f", &["."], &["a", "DNSUpstream/a"])],
            "f",
            |p| matches!(p, ForwarderProblem::RepeatedUpstream { upstream } if upstream == "a"),
        ),
    ];
    for (forwarders, name, expected) in cases {
        let (forwarder, problem) = forwarder_problem(&ups, &forwarders);
        assert_eq!(forwarder, name);
        assert!(expected(&problem), "{forwarders:?} gave {problem:?}");
    }

    for health in [
        HealthSpec {
            fail_threshold: Some(0),
            ..HealthSpec::default()
        },
        HealthSpec {
            pass_threshold: Some(0),
            ..HealthSpec::default()
        },
        HealthSpec {
            interval: Some(Duration::ZERO),
            ..HealthSpec::default()
        },
        HealthSpec {
            timeout: Some(Duration::ZERO),
            ..HealthSpec::default()
        },
        HealthSpec {
            probe_name: Some("a b".into()),
            ..HealthSpec::default()
        },
    ] {
        let mut f = fwd("f", &["."], &["a"]);
        f.health = Some(health.clone());
        let (_, problem) = forwarder_problem(&ups, &[f]);
        assert!(
            matches!(problem, ForwarderProblem::InvalidHealth { .. }),
            "{health:?}"
        );
    }
}

#[test]
fn options_are_checked() {
    let zero = ForwardingOptions {
        query_timeout: Duration::ZERO,
        ..ForwardingOptions::default()
    };
    assert!(matches!(
        Forwarding::with_options(&[], &[], zero),
        Err(DnsError::InvalidOptions(_))
    ));
}
