//! 1,000 routes: applied in one pipelined burst, then observed and planned as unchanged.

mod common;

use std::time::{Duration, Instant};

use common::{Lab, ip, net, routerd_routes};
use routerd_kernel::{Desired, Kernel, ProcSysctl, RouteIntent, plan};

const ROUTES: u32 = 1000;

/// Unoptimised builds are slower; these bounds catch a lost pipeline (one round
/// trip per route), not a few percent. The release goal is 200 ms for the apply.
const APPLY_LIMIT: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(3)
} else {
    Duration::from_millis(200)
};
const OBSERVE_PLAN_LIMIT: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(500)
} else {
    Duration::from_millis(50)
};

#[test]
fn thousand_routes_apply_fast_and_plan_empty() {
    let lab = Lab::new("scale");
    lab.r.ip("addr add 192.0.2.1/24 dev eth1");
    let desired = Desired {
        routes: (0..ROUTES)
            .map(|i| {
                let dst = net(&format!("10.{}.{}.0/24", i / 256, i % 256));
                RouteIntent::unicast("StaticRoutes/bulk", dst, Some(ip("192.0.2.2")), None)
            })
            .collect(),
        ..Default::default()
    };

    let (apply_time, observe_plan_time, remove_time) = lab.block(|| async {
        let kernel = Kernel::connect().unwrap();
        let p = plan(&desired, &kernel.observe().await.unwrap(), &ProcSysctl);
        assert_eq!(p.changes.len(), ROUTES as usize);

        let start = Instant::now();
        let report = kernel.apply(&p).await;
        let apply_time = start.elapsed();
        assert!(report.is_ok(), "{:?}", report.failed.first());

        let start = Instant::now();
        let observed = kernel.observe().await.unwrap();
        let again = plan(&desired, &observed, &ProcSysctl);
        let observe_plan_time = start.elapsed();
        assert!(again.is_empty(), "{}", again.summary());

        let cleanup = plan(&Desired::default(), &observed, &ProcSysctl);
        assert_eq!(
            cleanup.summary(),
            format!("0 to add, 0 to change, {ROUTES} to remove")
        );
        let start = Instant::now();
        assert!(kernel.apply(&cleanup).await.is_ok());
        (apply_time, observe_plan_time, start.elapsed())
    });
    println!(
        "{ROUTES} routes: apply {apply_time:?}, observe+plan (no changes) {observe_plan_time:?}, \
         remove {remove_time:?}"
    );
    assert!(apply_time < APPLY_LIMIT, "apply took {apply_time:?}");
    assert!(
        observe_plan_time < OBSERVE_PLAN_LIMIT,
        "observe+plan took {observe_plan_time:?}"
    );
    assert!(routerd_routes(&lab.r).is_empty());
}
