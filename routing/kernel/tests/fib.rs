//! Bulk writes of a routing protocol's routes against a real kernel:
//! thousands of replaces (single and ECMP next hops), what `ip route`
//! then shows, deletes, a flush by protocol, and routes of another
//! protocol left alone.

mod common;

use common::{Lab, net};
use routerd_kernel::{BGP_PROTO, FibOp, FibRoute, Kernel, NextHop};

const ROUTES: u32 = 20_000;

fn prefix(i: u32) -> ipnet::IpNet {
    // 10.64.0.0/10 carved into /24s: 16k of them, then /25s beyond.
    let base = 0x0a40_0000u32 + (i << 8);
    net(&format!("{}/24", std::net::Ipv4Addr::from(base)))
}

#[test]
fn thousands_of_routes_with_ecmp_are_written_replaced_and_flushed_by_protocol() {
    let lab = Lab::new("fib");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    // A second gateway on the same link for ECMP.
    lab.p.ip("addr add 192.0.2.3/24 dev peer1");
    // Someone else's route, which must survive the flush.
    lab.r
        .ip("route add 198.18.0.0/15 via 192.0.2.2 proto static");
    let count = |what: &str| -> usize {
        lab.r
            .ip_json(&format!("route show {what}"))
            .as_array()
            .map_or(0, Vec::len)
    };
    let report = lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        let gw2 = "192.0.2.2".parse().expect("ip");
        let gw3 = "192.0.2.3".parse().expect("ip");
        let ops: Vec<FibOp> = (0..ROUTES)
            .map(|i| {
                let nexthops = if i % 10 == 0 {
                    vec![NextHop::via(gw2), NextHop::via(gw3)]
                } else {
                    vec![NextHop::via(gw2)]
                };
                FibOp::Replace(FibRoute {
                    destination: prefix(i),
                    nexthops,
                    metric: 20,
                    table: 254,
                })
            })
            .collect();
        let first = k.fib_write(BGP_PROTO, &ops).await;
        assert!(first.failed.is_empty(), "{:?}", first.failed.first());
        assert_eq!(first.done, ROUTES as usize);
        // The same set again: replaces, not errors.
        let again = k.fib_write(BGP_PROTO, &ops).await;
        assert!(again.failed.is_empty(), "{:?}", again.failed.first());
        let dumped = k.fib_routes(BGP_PROTO).await.expect("dump");
        assert_eq!(dumped.len(), ROUTES as usize);
        let ecmp = dumped
            .iter()
            .find(|r| r.destination == prefix(10))
            .expect("the ECMP route");
        assert_eq!(ecmp.nexthops.len(), 2, "{ecmp:?}");
        first.elapsed
    });
    eprintln!(
        "fib: {ROUTES} routes replaced in {} ms ({:.1} µs each)",
        report.as_millis(),
        report.as_secs_f64() * 1e6 / f64::from(ROUTES)
    );
    assert_eq!(count("proto bgp"), ROUTES as usize);
    let ecmp = lab.r.ip(&format!("route show {}", prefix(10)));
    assert!(
        ecmp.contains("nexthop via 192.0.2.2") && ecmp.contains("nexthop via 192.0.2.3"),
        "{ecmp}"
    );

    // Deletes, then a flush of the rest; the static route stays.
    lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        let some: Vec<FibOp> = (0..100)
            .map(|i| FibOp::Delete {
                destination: prefix(i),
                metric: 20,
                table: 254,
            })
            .collect();
        let r = k.fib_write(BGP_PROTO, &some).await;
        assert!(r.failed.is_empty() && r.done == 100, "{r:?}");
        // Deleting what is already gone is not a failure.
        let r = k.fib_write(BGP_PROTO, &some).await;
        assert!(r.failed.is_empty(), "{:?}", r.failed.first());
        let flushed = k.fib_flush(BGP_PROTO).await.expect("flush");
        assert_eq!(flushed, ROUTES as usize - 100);
    });
    assert_eq!(count("proto bgp"), 0);
    assert!(
        lab.r
            .ip("route show 198.18.0.0/15")
            .contains("via 192.0.2.2")
    );
}
