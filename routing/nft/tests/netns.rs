//! The table applied for real in network namespaces: what `nft list` shows,
//! and where a client's connections to the virtual address end up.
//!
//! Topology: client `c` — router `r` (holds the VIPs, forwards) — backends
//! `b1` and `b2`, each running a server that answers with its name on port
//! 8080 (IPv4 and IPv6).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use routerd_lab::echo::{ask, connect, fetch_name, name_server};
use routerd_lab::{Netns, Process, veth, wait_until};
use routerd_nft::{Backend, L4, NoBackend, Selection, Service, render};

struct Lab {
    r: Netns,
    c: Netns,
    _backends: Vec<(Netns, Process)>,
}

const VIP4: &str = "192.0.2.10";
const VIP6: &str = "2001:db8:c::10";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let r = Netns::new(&format!("{tag}-r"));
        let c = Netns::new(&format!("{tag}-c"));
        veth(&r, "eth-c", &c, "eth0");
        r.ip("addr add 192.0.2.1/24 dev eth-c");
        r.ip("addr add 2001:db8:c::1/64 dev eth-c");
        r.ip(&format!("addr add {VIP4}/32 dev eth-c"));
        r.ip(&format!("addr add {VIP6}/128 dev eth-c"));
        r.set_sysctl("net.ipv4.ip_forward", "1");
        r.set_sysctl("net.ipv6.conf.all.forwarding", "1");
        c.ip("addr add 192.0.2.2/24 dev eth0");
        c.ip("addr add 2001:db8:c::2/64 dev eth0");
        c.ip("route add default via 192.0.2.1");
        c.ip("-6 route add default via 2001:db8:c::1");
        let mut backends = Vec::new();
        for i in 1..=2 {
            let b = Netns::new(&format!("{tag}-b{i}"));
            veth(&r, &format!("eth-b{i}"), &b, "eth0");
            r.ip(&format!("addr add 10.0.{i}.1/24 dev eth-b{i}"));
            r.ip(&format!("addr add fd00:{i}::1/64 dev eth-b{i}"));
            b.ip(&format!("addr add 10.0.{i}.2/24 dev eth0"));
            b.ip(&format!("addr add fd00:{i}::2/64 dev eth0"));
            b.ip(&format!("route add default via 10.0.{i}.1"));
            b.ip(&format!("-6 route add default via fd00:{i}::1"));
            // "::" with v6only off takes IPv4 too.
            let server = name_server(&b, ip("::"), 8080, &format!("b{i}"));
            let name = format!("b{i}");
            wait_until(&format!("{name}'s server"), Duration::from_secs(10), || {
                fetch_name(&b, ip(&format!("10.0.{i}.2")), 8080)
                    .ok()
                    .filter(|n| *n == name)
            });
            backends.push((b, server));
        }
        Lab {
            r,
            c,
            _backends: backends,
        }
    }

    fn apply(&self, services: &[Service]) -> u32 {
        let table = render(services);
        self.r
            .in_netns(|| routerd_nft::apply(&table))
            .unwrap_or_else(|e| panic!("apply failed: {e}\n{table}"))
    }

    fn listing(&self) -> String {
        self.r.run(&["nft", "list", "table", "inet", "routerd"])
    }

    /// Names that answer `n` fresh connections from the client to `vip`.
    fn answers(&self, vip: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| fetch_name(&self.c, ip(vip), 80).unwrap())
            .collect()
    }
}

fn backend(i: u32, v6: bool, weight: u32) -> Backend {
    Backend {
        name: format!("b{i}"),
        address: if v6 {
            ip(&format!("fd00:{i}::2"))
        } else {
            ip(&format!("10.0.{i}.2"))
        },
        port: 8080,
        weight,
    }
}

fn service(vip: &str, selection: Selection, backends: Vec<Backend>) -> Service {
    Service {
        name: "web".into(),
        address: ip(vip),
        protocol: L4::Tcp,
        port: 80,
        selection,
        backends,
        no_backend: NoBackend::Reject,
        hairpin: None,
    }
}

#[test]
fn failover_moves_new_connections_and_conntrack_keeps_the_old_one() {
    let lab = Lab::new("nft-fo");
    lab.r.run(&["nft", "add", "table", "inet", "someone-else"]);
    let both = vec![backend(1, false, 1), backend(2, false, 1)];
    lab.apply(&[service(VIP4, Selection::Failover, both)]);
    let listing = lab.listing();
    assert!(
        listing.contains("ip daddr 192.0.2.10 fib daddr type local tcp dport 80 dnat ip to 10.0.1.2:8080 comment \"IngressService/web\""),
        "{listing}"
    );
    assert!(
        listing.contains("ip daddr 192.0.2.10 tcp dport 80 ct state new reject with tcp reset comment \"IngressService/web\""),
        "{listing}"
    );
    assert_eq!(lab.answers(VIP4, 3), ["b1", "b1", "b1"]);
    let mut held = connect(&lab.c, ip(VIP4), 80).unwrap();
    assert_eq!(routerd_lab::echo::read_name(&mut held).unwrap(), "b1");
    assert_eq!(ask(&mut held).unwrap(), "b1", "asked again");

    // b1 out (unhealthy or drained): new connections go to b2, the open
    // one stays on b1 through its conntrack entry.
    lab.apply(&[service(
        VIP4,
        Selection::Failover,
        vec![backend(2, false, 1)],
    )]);
    assert_eq!(lab.answers(VIP4, 3), ["b2", "b2", "b2"]);
    assert_eq!(ask(&mut held).unwrap(), "b1");

    // Nothing eligible: refused at once with a reset, not left to time out.
    lab.apply(&[service(VIP4, Selection::Failover, vec![])]);
    assert_eq!(
        ask(&mut held).unwrap(),
        "b1",
        "no DNAT rule left, still translated"
    );
    let err = fetch_name(&lab.c, ip(VIP4), 80).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(ask(&mut held).unwrap(), "b1", "still flowing");

    // Another program's table is never touched; an empty set of services
    // removes routerd's table.
    lab.apply(&[]);
    let tables = lab.r.run(&["nft", "list", "tables"]);
    assert!(tables.contains("table inet someone-else"), "{tables}");
    assert!(!tables.contains("table inet routerd"), "{tables}");
    // Applying "nothing" again is fine too (the delete is made valid).
    lab.apply(&[]);
}

#[test]
fn source_hash_keeps_a_client_on_one_backend_and_random_spreads() {
    let lab = Lab::new("nft-sh");
    let both = vec![backend(1, false, 1), backend(2, false, 1)];
    let s = service(VIP4, Selection::SourceHash, both.clone());
    let generation = lab.apply(std::slice::from_ref(&s));
    let listing = lab.listing();
    assert!(
        listing.contains(&format!(
            "dnat ip to jhash ip saddr mod 2 seed {:#x} map {{ 0 : 10.0.1.2 . 8080, 1 : 10.0.2.2 . 8080 }}",
            s.seed()
        )),
        "{listing}"
    );
    let seen: BTreeSet<String> = lab.answers(VIP4, 12).into_iter().collect();
    assert_eq!(seen.len(), 1, "one client, one backend: {seen:?}");
    // Re-rendering the same set keeps the client where it was.
    lab.apply(std::slice::from_ref(&s));
    let again: BTreeSet<String> = lab.answers(VIP4, 4).into_iter().collect();
    assert_eq!(again, seen);

    // The generation moves when anyone changes nftables.
    let now = lab.r.in_netns(routerd_nft::generation).unwrap();
    assert_ne!(now, generation, "re-applied since");
    lab.r.run(&["nft", "add", "table", "ip", "drift"]);
    assert_ne!(lab.r.in_netns(routerd_nft::generation).unwrap(), now);

    lab.apply(&[service(VIP4, Selection::Random, both)]);
    let listing = lab.listing();
    assert!(
        listing.contains(
            "dnat ip to numgen random mod 2 map { 0 : 10.0.1.2 . 8080, 1 : 10.0.2.2 . 8080 }"
        ),
        "{listing}"
    );
    let spread: BTreeSet<String> = lab.answers(VIP4, 40).into_iter().collect();
    assert_eq!(spread.len(), 2, "40 random picks reach both: {spread:?}");
}

#[test]
fn ipv6_services_dnat_through_maps_and_weights_repeat_slots() {
    let lab = Lab::new("nft-v6");
    let weighted = vec![backend(1, true, 3), backend(2, true, 1)];
    lab.apply(&[service(VIP6, Selection::Random, weighted.clone())]);
    let listing = lab.listing();
    assert!(
        listing.contains("dnat ip6 to numgen random mod 4 map { 0 : fd00:1::2 . 8080, 1 : fd00:1::2 . 8080, 2 : fd00:1::2 . 8080, 3 : fd00:2::2 . 8080 }"),
        "{listing}"
    );
    let names = lab.answers(VIP6, 40);
    let b1 = names.iter().filter(|n| *n == "b1").count();
    assert!(
        b1 > 20 && b1 < 40,
        "b1 has 3 of 4 slots: {b1} of 40 connections"
    );
    lab.apply(&[service(VIP6, Selection::SourceHash, weighted)]);
    let seen: BTreeSet<String> = lab.answers(VIP6, 8).into_iter().collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    lab.apply(&[service(
        VIP6,
        Selection::Failover,
        vec![backend(2, true, 1)],
    )]);
    assert_eq!(lab.answers(VIP6, 2), ["b2", "b2"]);
}
