//! Bulk FIB writes go in batches on a socket of their own: a write the
//! kernel refuses in the middle of a batch is reported with the kernel's
//! reason, and the writes around it still land.

mod common;

use common::{Lab, net};
use routerd_kernel::{BGP_PROTO, FibOp, FibRoute, Kernel, NextHop};

#[test]
fn a_refused_route_in_a_batch_is_reported_and_the_others_land() {
    let lab = Lab::new("fibb");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    let report = lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        let good = "192.0.2.2".parse().expect("ip");
        // 203.0.113.9 is on no link: the kernel refuses that next hop.
        let bad = "203.0.113.9".parse().expect("ip");
        let ops: Vec<FibOp> = (0..3000u32)
            .map(|i| {
                let gw = if i == 1500 { bad } else { good };
                FibOp::Replace(FibRoute {
                    destination: net(&format!(
                        "{}/24",
                        std::net::Ipv4Addr::from(0x0a50_0000u32 + (i << 8))
                    )),
                    nexthops: vec![NextHop::via(gw)],
                    metric: 20,
                    table: 254,
                })
            })
            .collect();
        k.fib_write(BGP_PROTO, &ops).await
    });
    assert_eq!(report.done, 2999, "{:?}", report.failed);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let (dest, why) = &report.failed[0];
    assert_eq!(
        *dest,
        net(&format!(
            "{}/24",
            std::net::Ipv4Addr::from(0x0a50_0000u32 + (1500 << 8))
        ))
    );
    assert!(
        why.contains("unreachable") || why.contains("gateway"),
        "the kernel's reason: {why}"
    );
    let shown = lab.r.ip_json("route show proto bgp");
    assert_eq!(shown.as_array().map_or(0, Vec::len), 2999);
}

#[test]
fn a_few_writes_go_one_by_one_and_report_the_same_way() {
    let lab = Lab::new("fibs");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    let report = lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        let ok = FibOp::Replace(FibRoute {
            destination: net("10.81.0.0/24"),
            nexthops: vec![NextHop::via("192.0.2.2".parse().expect("ip"))],
            metric: 20,
            table: 254,
        });
        let refused = FibOp::Replace(FibRoute {
            destination: net("10.81.1.0/24"),
            nexthops: vec![NextHop::via("203.0.113.9".parse().expect("ip"))],
            metric: 20,
            table: 254,
        });
        let gone = FibOp::Delete {
            destination: net("10.81.2.0/24"),
            metric: 20,
            table: 254,
        };
        k.fib_write(BGP_PROTO, &[ok, refused, gone]).await
    });
    assert_eq!(report.done, 2, "{:?}", report.failed);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, net("10.81.1.0/24"));
}

#[test]
fn a_batch_the_kernel_refuses_whole_is_reported_whole() {
    let lab = Lab::new("fibr");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    let report = lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        // Every next hop on no link: one error answer per request, more
        // than a 64 KiB batch's answers fit in the socket's buffer.
        let bad = "203.0.113.9".parse().expect("ip");
        let ops: Vec<FibOp> = (0..3000u32)
            .map(|i| {
                FibOp::Replace(FibRoute {
                    destination: net(&format!(
                        "{}/24",
                        std::net::Ipv4Addr::from(0x0a60_0000u32 + (i << 8))
                    )),
                    nexthops: vec![NextHop::via(bad)],
                    metric: 20,
                    table: 254,
                })
            })
            .collect();
        k.fib_write(BGP_PROTO, &ops).await
    });
    assert_eq!(report.done, 0);
    assert_eq!(report.failed.len(), 3000);
    eprintln!(
        "3000 refused in {} ms; first: {:?}",
        report.elapsed.as_millis(),
        report.failed.first()
    );
}
