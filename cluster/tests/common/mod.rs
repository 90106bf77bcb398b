//! An in-process cluster for tests and the bench: every node on its own tokio
//! runtime (so "kill" drops the runtime and every task of that node mid-flight),
//! addresses on 127.0.0.1 inside the caller's network namespace.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use routerd_cluster::pki::{self, NodeSpec};
use routerd_cluster::{ClusterConfig, ClusterNode, ClusterStatus, Member, Role, TlsFiles};
use tokio::runtime::Runtime;

/// One node and the runtime it lives on.
pub struct TestNode {
    pub id: u64,
    pub cfg: ClusterConfig,
    rt: Option<Runtime>,
    node: Option<ClusterNode>,
}

impl TestNode {
    pub fn node(&self) -> &ClusterNode {
        self.node.as_ref().expect("node is running")
    }

    pub fn is_running(&self) -> bool {
        self.node.is_some()
    }

    /// Runs a future of this node on its runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().expect("node is running").block_on(f)
    }

    pub fn status(&self) -> ClusterStatus {
        self.node().status()
    }

    /// Simulates a crash: every task of the node is dropped wherever it is.
    pub fn kill(&mut self) {
        self.node = None;
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    /// Graceful stop (the data dir stays).
    pub fn stop(&mut self) {
        if let (Some(rt), Some(node)) = (&self.rt, &self.node) {
            rt.block_on(node.shutdown());
        }
        self.kill();
    }

    /// Starts (again) from the data dir. Retries briefly: a killed node's blocking
    /// storage job may still hold the database for a moment.
    pub fn start(&mut self) {
        assert!(self.node.is_none(), "node {} already running", self.id);
        let rt = runtime();
        let cfg = self.cfg.clone();
        let node = routerd_lab::wait_until(
            &format!("node {} to start", self.id),
            Duration::from_secs(10),
            || match rt.block_on(ClusterNode::start(cfg.clone())) {
                Ok(n) => Some(n),
                Err(e) => {
                    eprintln!("node {} start: {e}", self.id);
                    None
                }
            },
        );
        self.rt = Some(rt);
        self.node = Some(node);
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Cluster-wide knobs a test may change.
#[derive(Clone)]
pub struct Options {
    pub snapshot_every: u64,
    pub keep_logs_after_snapshot: u64,
    /// None: the library default (150..300 ms).
    pub election_timeout: Option<(Duration, Duration)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            snapshot_every: 1000,
            keep_logs_after_snapshot: 1000,
            election_timeout: None,
        }
    }
}

/// A cluster of `n` voters, n1..nN on 127.0.0.1:(base+id).
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<TestNode>,
}

pub fn addr(base: u16, id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], base + id as u16))
}

pub fn pki_dir(dir: &Path) -> PathBuf {
    dir.join("pki")
}

impl TestCluster {
    /// Writes the PKI and starts every node (not yet bootstrapped).
    pub fn start(n: u64, base: u16, opts: Options) -> TestCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = pki_dir(dir.path());
        let specs: Vec<NodeSpec> = (1..=n)
            .map(|id| NodeSpec {
                name: format!("n{id}"),
                ips: vec![addr(base, id).ip()],
            })
            .collect();
        pki::init_cluster(&pki, &specs).expect("pki");
        let members: Vec<Member> = (1..=n)
            .map(|id| Member {
                id,
                name: format!("n{id}"),
                addr: addr(base, id).to_string(),
                witness: false,
            })
            .collect();
        let nodes = (1..=n)
            .map(|id| {
                let name = format!("n{id}");
                let files = pki::node_files(&pki, &name);
                let mut cfg = ClusterConfig::new(
                    id,
                    &name,
                    addr(base, id),
                    members.clone(),
                    dir.path().join(&name),
                    TlsFiles {
                        ca: pki.join(pki::CA_CERT),
                        cert: files.cert,
                        key: files.key,
                    },
                );
                cfg.snapshot_every = opts.snapshot_every;
                cfg.keep_logs_after_snapshot = opts.keep_logs_after_snapshot;
                if let Some(t) = opts.election_timeout {
                    cfg.election_timeout = t;
                }
                let mut t = TestNode {
                    id,
                    cfg,
                    rt: None,
                    node: None,
                };
                t.start();
                t
            })
            .collect();
        TestCluster { dir, nodes }
    }

    /// Bootstraps (every node may call it; only the lowest id acts) and waits for
    /// a leader every running node agrees on.
    pub fn bootstrap(&self) -> u64 {
        for n in &self.nodes {
            n.block_on(n.node().bootstrap()).expect("bootstrap");
        }
        self.wait_leader(Duration::from_secs(10))
    }

    pub fn node(&self, id: u64) -> &TestNode {
        &self.nodes[(id - 1) as usize]
    }

    pub fn node_mut(&mut self, id: u64) -> &mut TestNode {
        &mut self.nodes[(id - 1) as usize]
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// Waits until one running node is leader and every running node names it.
    pub fn wait_leader(&self, timeout: Duration) -> u64 {
        routerd_lab::wait_until("a leader all running nodes agree on", timeout, || {
            let leaders: Vec<Option<u64>> = self.running().map(|n| n.status().leader).collect();
            let first = *leaders.first()?;
            let leader = first?;
            let leads = self
                .running()
                .any(|n| n.id == leader && n.status().role == Role::Leader);
            (leads && leaders.iter().all(|l| *l == Some(leader))).then_some(leader)
        })
    }

    /// Some running node other than `not`.
    pub fn other_than(&self, not: u64) -> u64 {
        self.running()
            .map(|n| n.id)
            .find(|id| *id != not)
            .expect("another running node")
    }
}
