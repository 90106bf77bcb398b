//! plan() against hand-built kernel states: no kernel needed.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;

use super::plan;
use crate::change::{Action, Change, Plan, RemovalReason, Transition};
use crate::sysctl::SysctlReader;
use crate::types::*;
use crate::{ROUTERD_PROTO, sysctl::canonical_key};

#[derive(Default)]
struct FakeSysctl(HashMap<String, String>);

impl FakeSysctl {
    fn with(pairs: &[(&str, &str)]) -> FakeSysctl {
        FakeSysctl(
            pairs
                .iter()
                .map(|(k, v)| (canonical_key(k), v.to_string()))
                .collect(),
        )
    }
}

impl SysctlReader for FakeSysctl {
    fn read(&self, key: &str) -> Result<Option<String>, io::Error> {
        if key.contains("unreadable") {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        }
        Ok(self.0.get(&canonical_key(key)).cloned())
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn link(index: u32, name: &str, up: bool, mtu: u32) -> Link {
    Link {
        index,
        name: name.to_string(),
        admin_up: up,
        oper_up: up,
        mtu,
        mac: None,
        kind: Some("veth".to_string()),
    }
}

fn obs_addr(ifname: &str, cidr: &str, protocol: u8) -> Address {
    let n = net(cidr);
    Address {
        ifindex: 2,
        ifname: ifname.to_string(),
        addr: n.addr(),
        prefix_len: n.prefix_len(),
        scope: "global".to_string(),
        flags: AddressFlags {
            permanent: true,
            ..Default::default()
        },
        protocol,
    }
}

fn obs_route(dst: &str, gw: Option<&str>, dev: Option<&str>, metric: u32, protocol: u8) -> Route {
    Route {
        table: MAIN_TABLE,
        destination: net(dst),
        gateway: gw.map(ip),
        oif: dev.map(|_| 2),
        ifname: dev.map(str::to_string),
        metric,
        protocol,
        kind: RouteKind::Unicast,
        pref_src: None,
    }
}

fn base_observed() -> Observed {
    Observed {
        links: vec![link(1, "lo", true, 65536), link(2, "eth1", true, 1500)],
        addresses: vec![obs_addr("eth1", "fe80::1/64", 0)],
        routes: vec![obs_route("fe80::/64", None, Some("eth1"), 256, 2)],
    }
}

fn no_sysctls() -> FakeSysctl {
    FakeSysctl::default()
}

/// Applies a plan to an Observed the way the kernel would, so idempotence can be
/// checked without one.
fn simulate(observed: &Observed, plan: &Plan) -> Observed {
    let mut o = observed.clone();
    for c in &plan.changes {
        match c {
            Change::SetLink {
                ifname,
                admin_up,
                mtu,
                ..
            } => {
                let l = o.links.iter_mut().find(|l| &l.name == ifname).unwrap();
                if let Some(t) = admin_up {
                    l.admin_up = t.to;
                }
                if let Some(t) = mtu {
                    l.mtu = t.to;
                }
            }
            Change::AddAddress {
                ifname,
                address,
                prefix_len,
                ..
            } => {
                let cidr = format!("{address}/{prefix_len}");
                o.addresses.push(obs_addr(ifname, &cidr, ROUTERD_PROTO));
            }
            Change::RemoveAddress {
                ifname,
                address,
                prefix_len,
                ..
            } => o.addresses.retain(|a| {
                !(&a.ifname == ifname && a.addr == *address && a.prefix_len == *prefix_len)
            }),
            Change::AddRoute { route, .. } | Change::ReplaceRoute { to: route, .. } => {
                o.routes.retain(|r| {
                    (r.table, r.destination, r.metric)
                        != (route.table, route.destination, route.metric)
                });
                o.routes.push(Route {
                    table: route.table,
                    destination: route.destination,
                    gateway: route.gateway,
                    oif: Some(2),
                    ifname: route.ifname.clone().or(Some("eth1".to_string())),
                    metric: route.metric,
                    protocol: ROUTERD_PROTO,
                    kind: route.kind,
                    pref_src: route.pref_src,
                });
            }
            Change::RemoveRoute { route, .. } => o.routes.retain(|r| r != route),
            Change::SetSysctl { .. } => {}
        }
    }
    o
}

#[test]
fn nothing_wanted_nothing_to_do() {
    let p = plan(&Desired::default(), &base_observed(), &no_sysctls());
    assert!(p.is_empty(), "{p}");
    assert_eq!(p.summary(), "0 to add, 0 to change, 0 to remove");
}

#[test]
fn missing_link_makes_everything_on_it_pending() {
    let desired = Desired {
        links: vec![LinkIntent {
            owner: "Interface/wan".into(),
            ifname: "eth9".into(),
            admin_up: Some(true),
            mtu: None,
        }],
        addresses: vec![AddressIntent::new(
            "IPv4StaticAddress/wan",
            "eth9",
            net("192.0.2.1/24"),
            false,
        )],
        routes: vec![RouteIntent::unicast(
            "StaticRoute/x",
            net("198.51.100.0/24"),
            None,
            Some("eth9"),
        )],
        sysctls: vec![],
    };
    let p = plan(&desired, &base_observed(), &no_sysctls());
    assert!(p.changes.is_empty(), "{p}");
    assert_eq!(p.pending.len(), 3);
    assert!(
        p.pending
            .iter()
            .all(|x| x.reason == "link eth9 does not exist"),
        "{p}"
    );
    assert_eq!(p.pending[1].subject, "address 192.0.2.1/24 on eth9");
    assert_eq!(p.pending[1].owner, "IPv4StaticAddress/wan");
}

#[test]
fn link_state_and_mtu() {
    let mut observed = base_observed();
    observed.links[1].admin_up = false;
    let desired = Desired {
        links: vec![LinkIntent {
            owner: "Interface/lan".into(),
            ifname: "eth1".into(),
            admin_up: Some(true),
            mtu: Some(9000),
        }],
        ..Default::default()
    };
    let p = plan(&desired, &observed, &no_sysctls());
    assert_eq!(
        p.changes,
        vec![Change::SetLink {
            owner: "Interface/lan".into(),
            ifname: "eth1".into(),
            admin_up: Some(Transition {
                from: false,
                to: true
            }),
            mtu: Some(Transition {
                from: 1500,
                to: 9000
            }),
        }]
    );
    assert_eq!(
        p.changes[0].to_string(),
        "~ link eth1: down → up, mtu 1500 → 9000  (Interface/lan)"
    );
    assert!(plan(&desired, &simulate(&observed, &p), &no_sysctls()).is_empty());
}

#[test]
fn conflicting_link_intents_are_pending() {
    let li = |owner: &str, mtu| LinkIntent {
        owner: owner.into(),
        ifname: "eth1".into(),
        admin_up: None,
        mtu: Some(mtu),
    };
    let desired = Desired {
        links: vec![li("A", 1500), li("B", 9000)],
        ..Default::default()
    };
    let p = plan(&desired, &base_observed(), &no_sysctls());
    assert!(p.changes.is_empty());
    assert_eq!(p.pending.len(), 1);
    assert_eq!(p.pending[0].owner, "B");
    assert!(p.pending[0].reason.contains("conflicts with A"));
}

#[test]
fn address_added_once() {
    let desired = Desired {
        addresses: vec![AddressIntent::new(
            "IPv4StaticAddress/lan-v4",
            "eth1",
            net("192.0.2.1/24"),
            false,
        )],
        ..Default::default()
    };
    let observed = base_observed();
    let p = plan(&desired, &observed, &no_sysctls());
    assert_eq!(p.changes.len(), 1);
    assert_eq!(
        p.changes[0].to_string(),
        "+ address 192.0.2.1/24 on eth1  (IPv4StaticAddress/lan-v4)"
    );
    let after = simulate(&observed, &p);
    assert!(plan(&desired, &after, &no_sysctls()).is_empty());
}

#[test]
fn same_address_other_prefix_is_replaced() {
    let mut observed = base_observed();
    observed
        .addresses
        .push(obs_addr("eth1", "2001:db8::1/48", 0));
    let desired = Desired {
        addresses: vec![AddressIntent::new(
            "A",
            "eth1",
            net("2001:db8::1/64"),
            false,
        )],
        ..Default::default()
    };
    let p = plan(&desired, &observed, &no_sysctls());
    assert!(matches!(
        &p.changes[0],
        Change::RemoveAddress {
            reason: RemovalReason::PrefixConflict,
            prefix_len: 48,
            ..
        }
    ));
    assert!(matches!(
        &p.changes[1],
        Change::AddAddress { prefix_len: 64, .. }
    ));
    assert!(plan(&desired, &simulate(&observed, &p), &no_sysctls()).is_empty());
}

#[test]
fn exclusive_removes_others_of_its_family_but_not_link_local() {
    let mut observed = base_observed();
    observed.addresses.extend([
        obs_addr("eth1", "192.0.2.9/24", 0),
        obs_addr("eth1", "192.0.2.1/24", 0),
        obs_addr("eth1", "2001:db8::9/64", 0),
        obs_addr("lo", "10.9.9.9/32", 0),
    ]);
    let desired = Desired {
        addresses: vec![
            AddressIntent::new("V4", "eth1", net("192.0.2.1/24"), true),
            AddressIntent::new("V6", "eth1", net("2001:db8::1/64"), true),
            AddressIntent::new("V4b", "eth1", net("198.51.100.1/24"), false),
        ],
        ..Default::default()
    };
    let p = plan(&desired, &observed, &no_sysctls());
    let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "- address 192.0.2.9/24 on eth1  (exclusive: V4)",
            "- address 2001:db8::9/64 on eth1  (exclusive: V6)",
            "+ address 198.51.100.1/24 on eth1  (V4b)",
            "+ address 2001:db8::1/64 on eth1  (V6)",
        ]
    );
    assert!(plan(&desired, &simulate(&observed, &p), &no_sysctls()).is_empty());
}

#[test]
fn secondaries_lost_with_their_primary_are_added_again() {
    let mut observed = base_observed();
    observed
        .addresses
        .push(obs_addr("eth1", "192.0.2.99/24", 0));
    let mut secondary = obs_addr("eth1", "192.0.2.1/24", 0);
    secondary.flags.secondary = true;
    observed.addresses.push(secondary);
    let desired = Desired {
        addresses: vec![AddressIntent::new("V4", "eth1", net("192.0.2.1/24"), true)],
        ..Default::default()
    };
    let p = plan(&desired, &observed, &no_sysctls());
    let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "- address 192.0.2.99/24 on eth1  (exclusive: V4)",
            "+ address 192.0.2.1/24 on eth1  (V4)"
        ]
    );
    let after = simulate(&observed, &p);
    assert!(plan(&desired, &after, &no_sysctls()).is_empty());
}

#[test]
fn orphaned_routerd_addresses_go_foreign_ones_stay() {
    let mut observed = base_observed();
    observed
        .addresses
        .push(obs_addr("eth1", "192.0.2.7/24", ROUTERD_PROTO));
    observed.addresses.push(obs_addr("eth1", "192.0.2.8/24", 0));
    let p = plan(&Desired::default(), &observed, &no_sysctls());
    assert_eq!(p.changes.len(), 1);
    assert_eq!(
        p.changes[0].to_string(),
        "- address 192.0.2.7/24 on eth1  (orphaned routerd address)"
    );
    assert_eq!(p.changes[0].owner(), None);
}

#[test]
fn routes_add_replace_keep_and_orphan() {
    let mut observed = base_observed();
    observed.routes.extend([
        // Same key as an intent, other gateway: replaced.
        obs_route("0.0.0.0/0", Some("192.0.2.254"), Some("eth1"), 0, 16),
        // Same as an intent but someone else's: satisfies it, left alone.
        obs_route("198.51.100.0/24", Some("192.0.2.2"), Some("eth1"), 0, 4),
        // Ours, no longer wanted: orphan.
        obs_route(
            "203.0.113.0/24",
            Some("192.0.2.2"),
            Some("eth1"),
            0,
            ROUTERD_PROTO,
        ),
        // Someone else's, not wanted: left alone.
        obs_route("10.0.0.0/8", Some("192.0.2.3"), Some("eth1"), 0, 4),
    ]);
    let desired = Desired {
        routes: vec![
            RouteIntent::unicast("R/default", net("0.0.0.0/0"), Some(ip("192.0.2.1")), None),
            RouteIntent::unicast("R/b", net("198.51.100.0/24"), Some(ip("192.0.2.2")), None),
            RouteIntent::unicast(
                "R/c",
                net("2001:db8:1::/48"),
                Some(ip("fe80::2")),
                Some("eth1"),
            ),
            RouteIntent::blackhole("R/d", net("192.0.2.128/25")),
        ],
        ..Default::default()
    };
    let p = plan(&desired, &observed, &no_sysctls());
    let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "- route 203.0.113.0/24 via 192.0.2.2 dev eth1 metric 0 proto routerd  (orphaned routerd route)",
            "~ route 0.0.0.0/0 via 192.0.2.254 dev eth1 metric 0 proto dhcp → 0.0.0.0/0 via 192.0.2.1 metric 0  (R/default)",
            "+ route blackhole 192.0.2.128/25 metric 0  (R/d)",
            "+ route 2001:db8:1::/48 via fe80::2 dev eth1 metric 1024  (R/c)",
        ]
    );
    assert_eq!(p.summary(), "2 to add, 1 to change, 1 to remove");
    assert!(plan(&desired, &simulate(&observed, &p), &no_sysctls()).is_empty());
}

#[test]
fn kernel_defaults_are_normalised() {
    let mut observed = base_observed();
    let mut bh = obs_route("2001:db8::/32", None, Some("lo"), 1024, ROUTERD_PROTO);
    bh.kind = RouteKind::Blackhole;
    observed.routes.push(bh);
    observed.routes.push(obs_route(
        "10.1.0.0/16",
        Some("192.0.2.1"),
        Some("eth1"),
        0,
        ROUTERD_PROTO,
    ));
    let desired = Desired {
        routes: vec![
            // IPv6 without metric is 1024; the kernel reports lo as the device.
            RouteIntent::blackhole("A", net("2001:db8::/32")),
            // Host bits are ignored, IPv4 default metric is 0.
            RouteIntent::unicast("B", net("10.1.2.3/16"), Some(ip("192.0.2.1")), None),
        ],
        ..Default::default()
    };
    assert!(plan(&desired, &observed, &no_sysctls()).is_empty());

    // An explicit metric is another key: a new route, and the old one is an orphan.
    let mut d2 = desired.clone();
    d2.routes[1].metric = Some(100);
    let p = plan(&d2, &observed, &no_sysctls());
    let actions: Vec<Action> = p.changes.iter().map(Change::action).collect();
    assert_eq!(actions, vec![Action::Remove, Action::Add]);
}

#[test]
fn device_is_compared_only_when_the_intent_names_one() {
    let mut observed = base_observed();
    observed.links.push(link(3, "eth2", true, 1500));
    observed.routes.push(obs_route(
        "10.2.0.0/16",
        Some("192.0.2.1"),
        Some("eth1"),
        0,
        ROUTERD_PROTO,
    ));
    let mut desired = Desired {
        routes: vec![RouteIntent::unicast(
            "A",
            net("10.2.0.0/16"),
            Some(ip("192.0.2.1")),
            None,
        )],
        ..Default::default()
    };
    assert!(plan(&desired, &observed, &no_sysctls()).is_empty());
    desired.routes[0].ifname = Some("eth2".into());
    let p = plan(&desired, &observed, &no_sysctls());
    assert!(
        matches!(&p.changes[..], [Change::ReplaceRoute { .. }]),
        "{p}"
    );
}

#[test]
fn invalid_and_conflicting_routes_are_pending() {
    let mut bad_gw = RouteIntent::unicast("C", net("10.3.0.0/16"), Some(ip("2001:db8::1")), None);
    bad_gw.metric = Some(5);
    let desired = Desired {
        routes: vec![
            RouteIntent::unicast("A", net("10.3.0.0/16"), None, None),
            RouteIntent::unicast("B", net("10.4.0.0/16"), Some(ip("192.0.2.1")), None),
            RouteIntent::unicast("B2", net("10.4.0.0/16"), Some(ip("192.0.2.9")), None),
            bad_gw,
        ],
        ..Default::default()
    };
    let p = plan(&desired, &base_observed(), &no_sysctls());
    let reasons: Vec<(&str, &str)> = p
        .pending
        .iter()
        .map(|x| (x.owner.as_str(), x.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("A", "a unicast route needs a gateway or an interface"),
            (
                "B2",
                "conflicts with B (same table, destination and metric)"
            ),
            ("C", "gateway 2001:db8::1 is not an IPv4 address"),
        ]
    );
    assert_eq!(p.changes.len(), 1);
}

#[test]
fn sysctls() {
    let reader = FakeSysctl::with(&[
        ("net.ipv4.ip_forward", "0\n"),
        ("net.core.rmem_max", "4194304\n"),
        ("net.core.wmem_max", "1024\n"),
        ("net.ipv4.ip_local_port_range", "32768\t60999\n"),
        ("net/ipv6/conf/eth1.100/forwarding", "1\n"),
    ]);
    let at_least = |k: &str, v: &str| SysctlIntent {
        compare: SysctlCompare::AtLeast,
        ..SysctlIntent::exact("Tuning/x", k, v)
    };
    let desired = Desired {
        sysctls: vec![
            SysctlIntent::exact("Router/main", "net.ipv4.ip_forward", "1"),
            at_least("net.core.rmem_max", "1048576"),
            at_least("net.core.wmem_max", "1048576"),
            SysctlIntent::exact("T", "net.ipv4.ip_local_port_range", "32768 60999"),
            SysctlIntent::exact("T", "net/ipv6/conf/eth1.100/forwarding", "1"),
            SysctlIntent {
                optional: true,
                ..SysctlIntent::exact("T", "net.nf_conntrack_max", "1")
            },
            SysctlIntent::exact("T", "net.ipv4.no_such_key", "1"),
            at_least("net.ipv4.ip_forward", "x"),
            SysctlIntent::exact("T", "net.unreadable", "1"),
            SysctlIntent::exact("Other", "net/ipv4/ip_forward", "0"),
        ],
        ..Default::default()
    };
    let p = plan(&desired, &base_observed(), &reader);
    let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "~ sysctl net.core.wmem_max: 1024 → 1048576  (Tuning/x)",
            "~ sysctl net.ipv4.ip_forward: 0 → 1  (Router/main)",
        ]
    );
    let pending: Vec<String> = p.pending.iter().map(|x| x.to_string()).collect();
    assert_eq!(
        pending,
        vec![
            "! sysctl net.ipv4.no_such_key: sysctl key net.ipv4.no_such_key does not exist  (T)",
            "! sysctl net.ipv4.ip_forward: conflicts with Router/main  (Tuning/x)",
            "! sysctl net.unreadable: cannot read it: denied  (T)",
            "! sysctl net/ipv4/ip_forward: conflicts with Router/main  (Other)",
        ]
    );
}

#[test]
fn a_sysctl_the_kernel_normalises_is_compared_with_the_expected_value() {
    let reader = FakeSysctl::with(&[("net.ipv4.conf.all.arp_ignore", "2\n")]);
    let with_expected = |expected: &str| Desired {
        sysctls: vec![SysctlIntent {
            expected: Some(expected.to_string()),
            ..SysctlIntent::exact("S", "net.ipv4.conf.all.arp_ignore", "0x2")
        }],
        ..Default::default()
    };
    assert!(
        plan(&with_expected("2"), &base_observed(), &reader)
            .changes
            .is_empty()
    );
    let p = plan(&with_expected("1"), &base_observed(), &reader);
    let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec!["~ sysctl net.ipv4.conf.all.arp_ignore: 2 → 0x2  (S)"]
    );
}

#[test]
fn changes_come_in_phase_order() {
    let mut observed = base_observed();
    observed.links[1].mtu = 1400;
    observed
        .addresses
        .push(obs_addr("eth1", "192.0.2.7/24", ROUTERD_PROTO));
    observed.routes.push(obs_route(
        "203.0.113.0/24",
        Some("192.0.2.2"),
        None,
        0,
        ROUTERD_PROTO,
    ));
    let desired = Desired {
        sysctls: vec![SysctlIntent::exact("S", "net.ipv4.ip_forward", "1")],
        routes: vec![RouteIntent::unicast(
            "R",
            net("198.51.100.0/24"),
            Some(ip("192.0.2.2")),
            None,
        )],
        addresses: vec![AddressIntent::new("A", "eth1", net("192.0.2.1/24"), false)],
        links: vec![LinkIntent {
            owner: "L".into(),
            ifname: "eth1".into(),
            admin_up: None,
            mtu: Some(1500),
        }],
    };
    let p = plan(
        &desired,
        &observed,
        &FakeSysctl::with(&[("net.ipv4.ip_forward", "0")]),
    );
    let ops: Vec<&str> = p
        .changes
        .iter()
        .map(|c| match c {
            Change::SetLink { .. } => "link",
            Change::RemoveAddress { .. } => "-addr",
            Change::AddAddress { .. } => "+addr",
            Change::RemoveRoute { .. } => "-route",
            Change::ReplaceRoute { .. } => "~route",
            Change::AddRoute { .. } => "+route",
            Change::SetSysctl { .. } => "sysctl",
        })
        .collect();
    assert_eq!(
        ops,
        vec!["link", "-addr", "+addr", "-route", "+route", "sysctl"]
    );
}

#[test]
fn plan_serialises_to_stable_json() {
    let desired = Desired {
        addresses: vec![AddressIntent::new("A", "eth9", net("192.0.2.1/24"), false)],
        routes: vec![RouteIntent::blackhole("B", net("203.0.113.0/24"))],
        ..Default::default()
    };
    let p = plan(&desired, &base_observed(), &no_sysctls());
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "changes": [{
                "op": "addRoute",
                "owner": "B",
                "route": {
                    "table": 254, "destination": "203.0.113.0/24", "gateway": null,
                    "ifname": null, "metric": 0, "kind": "blackhole", "prefSrc": null
                }
            }],
            "pending": [{
                "owner": "A",
                "subject": "address 192.0.2.1/24 on eth9",
                "reason": "link eth9 does not exist"
            }]
        })
    );
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}

#[test]
fn thousand_unchanged_routes_plan_quickly() {
    let mut observed = base_observed();
    let mut desired = Desired::default();
    for i in 0..1000u32 {
        let dst = format!("10.{}.{}.0/24", i / 256, i % 256);
        observed.routes.push(obs_route(
            &dst,
            Some("192.0.2.1"),
            Some("eth1"),
            0,
            ROUTERD_PROTO,
        ));
        desired.routes.push(RouteIntent::unicast(
            "R",
            net(&dst),
            Some(ip("192.0.2.1")),
            None,
        ));
    }
    let start = std::time::Instant::now();
    let p = plan(&desired, &observed, &no_sysctls());
    let took = start.elapsed();
    assert!(p.is_empty());
    // Generous for unoptimised builds; release takes well under a millisecond.
    assert!(
        took < std::time::Duration::from_millis(200),
        "plan took {took:?}"
    );
}
