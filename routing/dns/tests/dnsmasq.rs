//! Interop with Debian's dnsmasq as the upstream, in a two-namespace lab:
//!
//! ```text
//!   [router] wan0 2001:db8:ff::100/64 192.0.2.100/24 ── veth ── isp0 [isp]
//!            dum0 (a veth that leads nowhere)                   2001:db8:ff::53  dnsmasq "ISP resolver"
//!                                                               192.0.2.53       dnsmasq "public resolver"
//!                                                               2001:db8:ff::85  DoT responder (ours)
//! ```
//!
//! Forwarding runs on a tokio runtime inside the router namespace; nothing runs
//! in the machine's own namespace. Needs root (CI runs it as root).

#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use common::{Responder, TestPki, Zone};
use routerd_dns::{
    AnswerKind, ForwarderSpec, Forwarding, HealthSpec, Protocol, RecordType, UpstreamSpec,
};
use routerd_lab::{Netns, Process, require_command, require_privileges, veth, wait_until};

const ISP_DNS: &str = "2001:db8:ff::53";
const PUBLIC_DNS: &str = "192.0.2.53";
const DOT_ADDR: &str = "2001:db8:ff::85";
const SETTLE: Duration = Duration::from_secs(20);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Runs `make()`'s future on a current-thread runtime on a thread inside `ns`.
fn in_ns<F: Future>(ns: &Netns, make: impl FnOnce() -> F + Send) -> F::Output
where
    F::Output: Send,
{
    ns.in_netns(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(make())
    })
}

fn dnsmasq(ns: &Netns, pid_file: &std::path::Path, args: &[&str]) -> Process {
    let bin = require_command("dnsmasq");
    let pid = format!("--pid-file={}", pid_file.display());
    let mut argv = vec![
        bin.to_str().unwrap(),
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--log-queries",
        "--log-facility=-",
        // dnsmasq gives its own records a TTL of 0 unless told otherwise.
        "--local-ttl=60",
        &pid,
    ];
    argv.extend_from_slice(args);
    ns.spawn(&argv, &[])
}

fn upstream(name: &str, protocol: Protocol, address: &str) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        protocol,
        addresses: vec![ip(address)],
        ..UpstreamSpec::default()
    }
}

fn forwarder(name: &str, domain: &str, upstreams: &[&str]) -> ForwarderSpec {
    ForwarderSpec {
        name: name.into(),
        domains: vec![domain.into()],
        upstreams: upstreams
            .iter()
            .map(|u| format!("DNSUpstream/{u}"))
            .collect(),
        health: None,
    }
}

#[test]
fn forwarding_through_dnsmasq_upstreams() {
    require_privileges();
    let router = Netns::new("dns-router");
    let isp = Netns::new("dns-isp");
    veth(&router, "wan0", &isp, "isp0");
    router.ip("addr add 2001:db8:ff::100/64 dev wan0 nodad");
    router.ip("addr add 192.0.2.100/24 dev wan0");
    for addr in [ISP_DNS, DOT_ADDR] {
        isp.ip(&format!("addr add {addr}/64 dev isp0 nodad"));
    }
    isp.ip(&format!("addr add {PUBLIC_DNS}/24 dev isp0"));
    // An up interface that reaches nothing: sockets bound to it cannot get out.
    router.ip("link add dum0 type veth peer name dum1");
    router.ip("link set dum1 up");
    router.ip("link set dum0 up");
    router.wait_link_running("wan0", SETTLE);
    isp.wait_link_running("isp0", SETTLE);

    let tmp = tempfile::tempdir().unwrap();
    let isp_dns = dnsmasq(
        &isp,
        &tmp.path().join("isp.pid"),
        &[
            &format!("--listen-address={ISP_DNS}"),
            "--host-record=aftr.example.net,2001:db8::1",
            // An empty address: NXDOMAIN for the whole domain.
            "--address=/blocked.example/",
        ],
    );
    let public_dns = dnsmasq(
        &isp,
        &tmp.path().join("public.pid"),
        &[
            &format!("--listen-address={PUBLIC_DNS}"),
            "--host-record=www.example.org,192.0.2.80,2001:db8::80",
            // The DoT upstream's name, for its bootstrap.
            &format!("--host-record=dns.test,{DOT_ADDR}"),
        ],
    );
    wait_until("both dnsmasq instances listening", SETTLE, || {
        for p in [&isp_dns, &public_dns] {
            assert!(p.is_running(), "dnsmasq exited: {}", p.stderr());
        }
        let tcp = isp.run(&["ss", "-ltnH"]);
        (tcp.contains(&format!("[{ISP_DNS}]:53")) && tcp.contains(&format!("{PUBLIC_DNS}:53")))
            .then_some(())
    });

    let pki = TestPki::new();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        // Our DoT responder, inside the isp namespace, until the test is done.
        let pki = &pki;
        let isp = &isp;
        scope.spawn(move || {
            in_ns(isp, || async move {
                let zone = Zone::new("secure.example").a("www.secure.example", "192.0.2.85");
                let responder = Responder::dot_on(ip(DOT_ADDR), zone, pki).await;
                addr_tx.send(responder.addr).unwrap();
                let _ = stop_rx.await;
            })
        });
        let dot_port = addr_rx.recv_timeout(SETTLE).unwrap().port();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            in_ns(&router, || checks(dot_port, &pki.ca_pem))
        }));
        let _ = stop_tx.send(());
        if let Err(panic) = result {
            eprintln!("ISP dnsmasq:\n{}", isp_dns.stderr());
            eprintln!("public dnsmasq:\n{}", public_dns.stderr());
            std::panic::resume_unwind(panic);
        }
    });

    // Each query went where its forwarder sent it, and nowhere else.
    let isp_log = isp_dns.stderr();
    let public_log = public_dns.stderr();
    assert!(
        isp_log.contains("query[AAAA] aftr.example.net"),
        "{isp_log}"
    );
    assert!(isp_log.contains("x.blocked.example"), "{isp_log}");
    assert!(!public_log.contains("aftr.example.net"), "{public_log}");
    assert!(!public_log.contains("blocked.example"), "{public_log}");
    assert!(
        public_log.contains("query[A] www.example.org"),
        "{public_log}"
    );
    assert!(public_log.contains("dns.test"), "bootstrap: {public_log}");
}

async fn checks(dot_port: u16, ca_pem: &str) {
    let upstreams = [
        // The ISP's resolver over UDP, its sockets bound to the WAN.
        UpstreamSpec {
            source_interface: Some("wan0".into()),
            ..upstream("isp", Protocol::Udp, ISP_DNS)
        },
        upstream("isp-tcp", Protocol::Tcp, ISP_DNS),
        upstream("public", Protocol::Tcp, PUBLIC_DNS),
        // Bound to an interface that leads nowhere. With no route through
        // it, Linux takes the server as on-link there and ARPs in vain: the
        // connection times out, where the same address through wan0 answers.
        UpstreamSpec {
            source_interface: Some("dum0".into()),
            ..upstream("wrong-interface", Protocol::Tcp, PUBLIC_DNS)
        },
        // DoT by host name, resolved through the public dnsmasq.
        UpstreamSpec {
            name: "dot".into(),
            protocol: Protocol::Dot,
            host: Some("dns.test".into()),
            port: Some(dot_port),
            bootstrap: vec![ip(PUBLIC_DNS)],
            ca_pem: Some(ca_pem.to_string()),
            ..UpstreamSpec::default()
        },
    ];
    let mut aftr = forwarder("aftr", "example.net", &["isp"]);
    aftr.health = Some(HealthSpec {
        // NXDOMAIN is an answer, so a healthy one. (dnsmasq refuses `. NS`
        // and the A record of an AAAA-only host when it has no upstreams.)
        probe_name: Some("probe.blocked.example".into()),
        ..HealthSpec::default()
    });
    let forwarders = [
        aftr,
        forwarder("blocked", "blocked.example", &["isp-tcp"]),
        forwarder("secure", "secure.example", &["dot"]),
        // The ISP's dnsmasq refuses what it does not know: the public one answers.
        forwarder("default", ".", &["wrong-interface", "isp-tcp", "public"]),
    ];
    let fwd = Forwarding::new(&upstreams, &forwarders).unwrap();

    let aftr = fwd.lookup_ipv6("aftr.example.net").await.unwrap();
    assert_eq!(
        (aftr.forwarder.as_str(), aftr.upstream.as_str()),
        ("aftr", "isp")
    );
    assert_eq!(aftr.server, ip(ISP_DNS));
    assert_eq!(aftr.addresses, vec![ip("2001:db8::1")]);
    assert_eq!(aftr.ttl, 60);
    // The same over TCP.
    let over_tcp = Forwarding::new(
        &upstreams,
        &[forwarder("aftr", "example.net", &["isp-tcp"])],
    )
    .unwrap()
    .lookup_ipv6("aftr.example.net")
    .await
    .unwrap();
    assert_eq!(over_tcp.upstream, "isp-tcp");
    assert_eq!(over_tcp.addresses, vec![ip("2001:db8::1")]);

    let www = fwd.lookup_ip("www.example.org").await.unwrap();
    assert_eq!(www.addresses, vec![ip("2001:db8::80"), ip("192.0.2.80")]);
    let v4 = www.ipv4.unwrap();
    assert_eq!(
        (v4.forwarder.as_str(), v4.upstream.as_str()),
        ("default", "public")
    );

    let blocked = fwd
        .lookup("x.blocked.example", RecordType::A)
        .await
        .unwrap();
    assert_eq!(blocked.kind, AnswerKind::NxDomain);
    assert_eq!(blocked.upstream, "isp-tcp");

    let secure = fwd.lookup_ipv4("www.secure.example").await.unwrap();
    assert_eq!(
        (secure.upstream.as_str(), secure.server),
        ("dot", ip(DOT_ADDR))
    );
    assert_eq!(secure.addresses, vec![ip("192.0.2.85")]);

    let probes = fwd.probe_upstreams().await;
    let isp_probe = probes.iter().find(|p| p.upstream == "isp").unwrap();
    assert!(isp_probe.result.is_ok(), "{probes:?}");

    let status = fwd.status();
    let up = |name: &str| status.upstreams.iter().find(|u| u.name == name).unwrap();
    let wrong = up("wrong-interface");
    assert_eq!(wrong.last_error.as_deref(), Some("timed out"), "{wrong:?}");
    assert_eq!(wrong.queries, wrong.failures);
    assert_eq!(
        up("isp-tcp").last_error.as_deref(),
        Some("refused (REFUSED)"),
        "dnsmasq without upstreams refuses www.example.org"
    );
    assert_eq!(up("dot").addresses, [DOT_ADDR]);
    assert_eq!(up("isp").failures, 0);
    assert_eq!(up("isp").probes, 1);
}
