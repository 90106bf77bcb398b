//! observe → plan → apply against a real kernel, inside lab namespaces.

mod common;

use std::time::Duration;

use common::{Lab, addresses, ip, net, routerd_routes, set};
use routerd_kernel::{
    AddressIntent, Change, Desired, Kernel, LinkIntent, Notification, ProcSysctl, RemovalReason,
    RouteIntent, SysctlIntent, plan,
};

fn desired() -> Desired {
    let mut in_table_100 = RouteIntent::unicast(
        "StaticRoute/t100",
        net("10.50.0.0/16"),
        Some(ip("192.0.2.2")),
        None,
    );
    in_table_100.table = 100;
    Desired {
        links: vec![LinkIntent {
            owner: "Interface/lan".into(),
            ifname: "eth1".into(),
            admin_up: Some(true),
            mtu: Some(1400),
        }],
        addresses: vec![
            AddressIntent::new(
                "IPv4StaticAddress/lan-v4",
                "eth1",
                net("192.0.2.1/24"),
                true,
            ),
            AddressIntent::new(
                "IPv6StaticAddress/lan-v6",
                "eth1",
                net("2001:db8:1::1/64"),
                false,
            ),
        ],
        routes: vec![
            RouteIntent::unicast(
                "StaticRoute/v4",
                net("198.51.100.0/24"),
                Some(ip("192.0.2.2")),
                None,
            ),
            RouteIntent::unicast(
                "StaticRoute/v6",
                net("2001:db8:100::/48"),
                Some(ip("2001:db8:1::2")),
                Some("eth1"),
            ),
            RouteIntent::blackhole("StaticRoute/sink", net("203.0.113.0/24")),
            in_table_100,
        ],
        sysctls: vec![SysctlIntent::exact(
            "Router/main",
            "net.ipv4.ip_forward",
            "1",
        )],
    }
}

#[test]
fn converges_repairs_drift_and_removes_orphans() {
    let lab = Lab::new("conv");
    let r = &lab.r;
    r.ip("link set eth1 down");
    // Someone else's addresses: the IPv4 one falls to the exclusive intent, the
    // IPv6 one stays (that intent is not exclusive).
    r.ip("addr add 192.0.2.99/24 dev eth1");
    r.ip("addr add 2001:db8:9::9/64 dev eth1");
    let root_forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();

    let desired = desired();
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let observed = kernel.observe().await.unwrap();
        let p = plan(&desired, &observed, &ProcSysctl);
        println!("{p}");
        assert!(p.pending.is_empty(), "{p}");
        assert_eq!(p.summary(), "6 to add, 2 to change, 1 to remove");
        let report = kernel.apply(&p).await;
        assert!(report.is_ok(), "{:?}", report.failed);
        assert_eq!(report.applied.len(), p.changes.len());
    });

    // The kernel holds exactly that.
    let link = &r.ip_json("link show dev eth1")[0];
    assert!(
        link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{link}"
    );
    assert_eq!(link["mtu"], 1400);
    assert_eq!(addresses(r, "eth1", Some("inet")), set(&["192.0.2.1/24"]));
    let v6 = addresses(r, "eth1", Some("inet6"));
    assert!(
        v6.contains("2001:db8:1::1/64") && v6.contains("2001:db8:9::9/64"),
        "{v6:?}"
    );
    assert_eq!(
        routerd_routes(r),
        set(&[
            "10.50.0.0/16 via 192.0.2.2 dev eth1 table 100 metric 0",
            "198.51.100.0/24 via 192.0.2.2 dev eth1 table main metric 0",
            "2001:db8:100::/48 via 2001:db8:1::2 dev eth1 table main metric 1024",
            "blackhole 203.0.113.0/24 table main metric 0",
        ])
    );
    assert_eq!(r.sysctl("net.ipv4.ip_forward"), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        root_forwarding,
        "the root namespace must not change"
    );

    // Our addresses carry our IFA_PROTO; planning again finds nothing to do.
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let observed = kernel.observe().await.unwrap();
        let ours: Vec<_> = observed
            .addresses
            .iter()
            .filter(|a| a.protocol == routerd_kernel::ROUTERD_PROTO)
            .map(|a| format!("{}/{}", a.addr, a.prefix_len))
            .collect();
        assert_eq!(ours, vec!["192.0.2.1/24", "2001:db8:1::1/64"]);
        let p = plan(&desired, &observed, &ProcSysctl);
        assert!(p.is_empty(), "second plan is not empty:\n{p}");
    });

    // Drift: an address deleted by hand comes back, and only it.
    r.ip("addr del 2001:db8:1::1/64 dev eth1");
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
        assert_eq!(
            p.changes,
            vec![Change::AddAddress {
                owner: "IPv6StaticAddress/lan-v6".into(),
                ifname: "eth1".into(),
                address: ip("2001:db8:1::1"),
                prefix_len: 64,
            }]
        );
        assert!(kernel.apply(&p).await.is_ok());
        assert!(plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl).is_empty());
    });
    assert!(addresses(r, "eth1", Some("inet6")).contains("2001:db8:1::1/64"));

    // Removing the last IPv4 address also flushes the routes through it: both return.
    r.ip("addr del 192.0.2.1/24 dev eth1");
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
        let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "+ address 192.0.2.1/24 on eth1  (IPv4StaticAddress/lan-v4)",
                "+ route 10.50.0.0/16 via 192.0.2.2 metric 0 table 100  (StaticRoute/t100)",
                "+ route 198.51.100.0/24 via 192.0.2.2 metric 0  (StaticRoute/v4)",
            ]
        );
        assert!(kernel.apply(&p).await.is_ok());
        assert!(plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl).is_empty());
    });

    // Intents removed from config: routerd's entries go, a hand-made route stays.
    r.ip("route add 10.77.0.0/16 via 192.0.2.2");
    let mut smaller = desired.clone();
    smaller
        .routes
        .retain(|ri| ri.owner != "StaticRoute/v4" && ri.owner != "StaticRoute/t100");
    smaller
        .addresses
        .retain(|ai| ai.owner != "IPv6StaticAddress/lan-v6");
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let p = plan(&smaller, &kernel.observe().await.unwrap(), &ProcSysctl);
        let lines: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "- address 2001:db8:1::1/64 on eth1  (orphaned routerd address)",
                "- route 10.50.0.0/16 via 192.0.2.2 dev eth1 metric 0 table 100 proto routerd  (orphaned routerd route)",
                "- route 198.51.100.0/24 via 192.0.2.2 dev eth1 metric 0 proto routerd  (orphaned routerd route)",
            ]
        );
        assert!(p.changes.iter().all(|c| matches!(
            c,
            Change::RemoveAddress { reason: RemovalReason::Orphaned, .. }
                | Change::RemoveRoute { reason: RemovalReason::Orphaned, .. }
        )));
        assert!(kernel.apply(&p).await.is_ok());
        assert!(plan(&smaller, &kernel.observe().await.unwrap(), &ProcSysctl).is_empty());
    });
    assert_eq!(
        routerd_routes(r),
        set(&[
            "2001:db8:100::/48 via 2001:db8:1::2 dev eth1 table main metric 1024",
            "blackhole 203.0.113.0/24 table main metric 0",
        ])
    );
    let main = r.ip_json("route show 10.77.0.0/16");
    assert_eq!(
        main.as_array().unwrap().len(),
        1,
        "the hand-made route must survive: {main}"
    );
    assert!(!addresses(r, "eth1", Some("inet6")).contains("2001:db8:1::1/64"));
}

#[test]
fn watch_reports_a_link_set_down_by_hand() {
    let lab = Lab::new("watch");
    let desired = Desired {
        links: vec![LinkIntent {
            owner: "Interface/lan".into(),
            ifname: "eth1".into(),
            admin_up: Some(true),
            mtu: None,
        }],
        ..Default::default()
    };
    let r = &lab.r;
    lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let mut events = kernel.watch().await.unwrap();
        r.ip("link set eth1 down");
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(n) = events.recv().await {
                if let Notification::LinkChanged { ifname, admin_up: false, .. } = &n
                    && ifname == "eth1"
                {
                    return n;
                }
            }
            panic!("the watch channel closed");
        })
        .await
        .expect("a LinkChanged notification within 10 s");
        assert!(matches!(seen, Notification::LinkChanged { oper_up: false, .. }));

        let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].to_string(), "~ link eth1: down → up  (Interface/lan)");
        assert!(kernel.apply(&p).await.is_ok());

        // Our own repair is seen too.
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(n) = events.recv().await {
                if matches!(&n, Notification::LinkChanged { ifname, admin_up: true, .. } if ifname == "eth1") {
                    return;
                }
            }
        })
        .await
        .expect("a LinkChanged (up) notification within 10 s");
    });
}

#[test]
fn apply_records_each_failure_and_goes_on() {
    let lab = Lab::new("fail");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    let desired = Desired {
        routes: vec![
            // Not on-link: the kernel refuses it.
            RouteIntent::unicast(
                "Bad/route",
                net("10.1.0.0/16"),
                Some(ip("10.200.0.1")),
                None,
            ),
            RouteIntent::unicast(
                "Good/route",
                net("10.2.0.0/16"),
                Some(ip("192.0.2.2")),
                None,
            ),
        ],
        sysctls: vec![SysctlIntent::exact(
            "Bad/sysctl",
            "net.ipv4.conf.all.forwarding",
            "not-a-number",
        )],
        ..Default::default()
    };
    let report = lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
        kernel.apply(&p).await
    });
    let failed: Vec<(Option<&str>, &str)> = report
        .failed
        .iter()
        .map(|(c, e)| (c.owner(), e.as_str()))
        .collect();
    println!("{failed:?}");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, Some("Bad/route"));
    assert!(
        failed[0].1.contains("unreachable") || failed[0].1.contains("gateway"),
        "{failed:?}"
    );
    assert_eq!(failed[1].0, Some("Bad/sysctl"));
    assert_eq!(report.applied.len(), 1);
    assert_eq!(report.applied[0].owner(), Some("Good/route"));
    assert_eq!(
        routerd_routes(&lab.r),
        set(&["10.2.0.0/16 via 192.0.2.2 dev eth1 table main metric 0"])
    );
}

#[test]
fn exclusive_keeps_a_wanted_secondary_whatever_promote_secondaries_says() {
    for promote in ["0", "1"] {
        let lab = Lab::new(&format!("sec{promote}"));
        let r = &lab.r;
        r.set_sysctl("net.ipv4.conf.all.promote_secondaries", promote);
        r.set_sysctl("net.ipv4.conf.eth1.promote_secondaries", promote);
        r.ip("addr add 192.0.2.99/24 dev eth1");
        r.ip("addr add 192.0.2.1/24 dev eth1");
        let desired = Desired {
            addresses: vec![AddressIntent::new("V4", "eth1", net("192.0.2.1/24"), true)],
            ..Default::default()
        };
        lab.block(|| async {
            let kernel = Kernel::connect().unwrap();
            let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
            assert_eq!(p.summary(), "1 to add, 0 to change, 1 to remove", "{p}");
            let report = kernel.apply(&p).await;
            assert!(
                report.is_ok(),
                "promote_secondaries={promote}: {:?}",
                report.failed
            );
            let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
            assert!(p.is_empty(), "promote_secondaries={promote}: {p}");
        });
        assert_eq!(addresses(r, "eth1", Some("inet")), set(&["192.0.2.1/24"]));
    }
}

#[test]
fn concurrent_observers_sharing_one_handle_do_not_collide() {
    routerd_lab::require_privileges();
    let lab = Lab::new("kdump");
    let results = lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        // Many controllers observe at once through clones of one handle;
        // the kernel refuses a second dump on a busy socket with EBUSY.
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let k = kernel.clone();
                tokio::spawn(async move { k.observe().await.map(|o| o.links.len()) })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for r in results {
        assert!(r.as_ref().is_ok_and(|n| *n >= 2), "{r:?}");
    }
}
