//! Cluster timing on this machine: write latency (propose -> committed and applied),
//! leader re-election after a kill, and the raw cost of a durable redb commit.
//!
//! Runs a 3-node cluster on 127.0.0.1 inside a fresh network namespace (needs root):
//!
//!     cargo run --release -p routerd-cluster --example bench [-- WRITES KILLS]
//!
//! The data dirs live under $TMPDIR (fsync cost depends on that filesystem).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Options, TestCluster};
use routerd_cluster::{Request, Role};

fn main() {
    let mut args = std::env::args().skip(1);
    let writes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let kills: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);

    // BENCH_ELECTION_MS=100,200 tries another election timeout range.
    let election_timeout = std::env::var("BENCH_ELECTION_MS").ok().and_then(|v| {
        let (lo, hi) = v.split_once(',')?;
        Some((
            Duration::from_millis(lo.trim().parse().ok()?),
            Duration::from_millis(hi.trim().parse().ok()?),
        ))
    });
    if let Some((lo, hi)) = election_timeout {
        println!("election timeout {lo:?}..{hi:?}");
    }

    redb_commit_cost(500);

    let ns = routerd_lab::Netns::new("clusterbench");
    ns.in_netns(|| {
        let opts = Options {
            election_timeout,
            ..Options::default()
        };
        let mut c = TestCluster::start(3, 7400, opts);
        let leader = c.bootstrap();
        let follower = c.other_than(leader);

        let on_leader = latencies(&c, leader, writes, 0);
        report(
            &format!("propose on the leader ({writes} sequential writes)"),
            on_leader,
        );
        let forwarded = latencies(&c, follower, writes / 4, writes);
        report(
            &format!("propose on a follower, forwarded ({} writes)", writes / 4),
            forwarded,
        );

        let mut elect = Vec::new();
        let mut serve = Vec::new();
        for round in 0..kills {
            let old = c.wait_leader(Duration::from_secs(10));
            // Let heartbeats settle so the kill lands at a random point of the period.
            std::thread::sleep(Duration::from_millis(200 + 37 * round as u64));
            let t0 = Instant::now();
            c.node_mut(old).kill();
            let mut seen = std::collections::BTreeSet::new();
            let new = routerd_lab::wait_until("new leader", Duration::from_secs(10), || {
                if std::env::var_os("BENCH_TRACE").is_some() {
                    for n in c.running() {
                        let st = n.status();
                        if seen.insert((n.id, st.role.as_str(), st.term)) {
                            eprintln!(
                                "{:?} node {} {} term {}",
                                t0.elapsed(),
                                n.id,
                                st.role.as_str(),
                                st.term
                            );
                        }
                    }
                }
                c.running()
                    .find(|n| n.status().role == Role::Leader)
                    .map(|n| n.id)
            });
            elect.push(t0.elapsed());
            let n = c.node(new);
            n.block_on(n.node().propose(put(1_000_000 + round as u64)))
                .expect("write after failover");
            serve.push(t0.elapsed());
            c.node_mut(old).start();
            let leader = c.wait_leader(Duration::from_secs(10));
            let target = c.node(leader).status().last_log_index;
            routerd_lab::wait_until("restarted node caught up", Duration::from_secs(10), || {
                (c.node(old).status().applied_index >= target).then_some(())
            });
        }
        report(
            &format!("leader killed -> new leader elected ({kills} kills)"),
            elect,
        );
        report(
            "leader killed -> first write committed on the new leader",
            serve,
        );
    });
}

fn put(i: u64) -> Request {
    Request::PutConfig {
        yaml: format!("bench: {i}\npadding: {}\n", "x".repeat(200)),
        source: "bench".into(),
    }
}

fn latencies(c: &TestCluster, id: u64, n: usize, offset: usize) -> Vec<Duration> {
    let node = c.node(id);
    (0..n)
        .map(|i| {
            let t0 = Instant::now();
            node.block_on(node.node().propose(put((offset + i) as u64)))
                .expect("write");
            t0.elapsed()
        })
        .collect()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        pick(1.0).as_secs_f64() * 1e3,
    );
}

/// One durable redb commit of one ~300-byte row, as an append of one entry does.
fn redb_commit_cost(n: usize) {
    const T: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("t");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = redb::Database::create(dir.path().join("bench.redb")).expect("redb");
    let row = vec![7u8; 300];
    let samples = (0..n as u64)
        .map(|i| {
            let t0 = Instant::now();
            let tx = db.begin_write().expect("tx");
            tx.open_table(T)
                .expect("table")
                .insert(i, row.as_slice())
                .expect("insert");
            tx.commit().expect("commit");
            t0.elapsed()
        })
        .collect();
    report(
        &format!("redb durable commit, 1 row ({n} commits)"),
        samples,
    );
}
