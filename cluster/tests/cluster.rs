//! A 3-node cluster on 127.0.0.1 inside a fresh network namespace: election,
//! forwarding, convergence, leader loss, restart and catch-up, leadership transfer,
//! and mutual TLS refusing strangers.

mod common;

use std::time::Duration;

use common::{Options, TestCluster};
use routerd_cluster::{Applied, Request, Response, Role};
use routerd_lab::{Netns, wait_until};

const LONG: Duration = Duration::from_secs(20);

fn put(n: u64) -> Request {
    Request::PutConfig {
        yaml: format!("generation-payload: {n}\n"),
        source: format!("test-{n}"),
    }
}

fn current_generation(c: &TestCluster, id: u64) -> u64 {
    c.node(id).node().with_state(|s| s.config.current)
}

#[test]
fn three_nodes_elect_forward_converge_survive_leader_loss_and_catch_up() {
    let ns = Netns::new("cluster3");
    ns.in_netns(|| {
        let mut c = TestCluster::start(3, 7100, Options::default());
        let leader = c.bootstrap();
        let follower = c.other_than(leader);

        // A write made on a follower is forwarded, and readable there on return.
        let mut events = c.node(follower).node().subscribe();
        let r = c
            .node(follower)
            .block_on(c.node(follower).node().propose(put(1)))
            .expect("forwarded write");
        assert_eq!(r, Response::Config { generation: 1 });
        assert_eq!(
            current_generation(&c, follower),
            1,
            "read-your-write on the follower"
        );
        match events.try_recv() {
            Ok(Applied::Entry {
                request, response, ..
            }) => {
                assert_eq!(request, put(1));
                assert_eq!(response, Response::Config { generation: 1 });
            }
            other => panic!("expected the applied entry event, got {other:?}"),
        }

        // Writes from every node; each answer is the next generation.
        let mut acked = vec![1u64];
        for i in 2..=30u64 {
            let id = (i % 3) + 1;
            let n = c.node(id);
            let r = n.block_on(n.node().propose(put(i))).expect("write");
            assert_eq!(r, Response::Config { generation: i });
            acked.push(i);
        }
        wait_until("all nodes at generation 30", LONG, || {
            c.running()
                .all(|n| n.node().with_state(|s| s.config.current) == 30)
                .then_some(())
        });
        let yaml_of = |id: u64| {
            c.node(id)
                .node()
                .with_state(|s| s.config.current().map(|g| g.yaml.clone()))
        };
        assert_eq!(yaml_of(1), yaml_of(2));
        assert_eq!(yaml_of(2), yaml_of(3));

        // Kill the leader: a new one is elected and serves; nothing acknowledged is lost.
        c.node_mut(leader).kill();
        let new_leader = c.wait_leader(LONG);
        assert_ne!(new_leader, leader);
        let survivor = c.other_than(new_leader);
        let n = c.node(survivor);
        let r = n
            .block_on(n.node().propose(put(31)))
            .expect("write after failover");
        assert_eq!(r, Response::Config { generation: 31 });
        acked.push(31);
        for n in c.running() {
            n.node().with_state(|s| {
                for g in &acked {
                    let kept = s.config.get(*g).expect("acknowledged generation present");
                    assert_eq!(kept.source, format!("test-{g}"));
                }
            });
        }

        // The killed node restarts from its data dir and catches up from the log.
        c.node_mut(leader).start();
        wait_until("restarted node catches up", LONG, || {
            (current_generation(&c, leader) == 31).then_some(())
        });
        let st = c.node(leader).status();
        assert_eq!(st.role, Role::Follower);
        assert_eq!(st.leader, Some(new_leader));

        // Hand leadership to the restarted node.
        let l = c.node(new_leader);
        l.block_on(l.node().transfer_leader(leader))
            .expect("transfer");
        wait_until("transfer visible everywhere", LONG, || {
            c.running()
                .all(|n| n.status().leader == Some(leader))
                .then_some(())
        });
        let n = c.node(new_leader);
        let r = n
            .block_on(n.node().propose(put(32)))
            .expect("write after transfer");
        assert_eq!(r, Response::Config { generation: 32 });

        // Status: the leader sees a quorum and every member; followers heard it.
        let st = wait_until("leader reports quorum", LONG, || {
            let st = c.node(leader).status();
            st.quorum.then_some(st)
        });
        assert_eq!(st.members.len(), 3);
        assert!(
            st.members
                .iter()
                .all(|m| m.voter && m.reachable == Some(true))
        );
        wait_until("followers report quorum", LONG, || {
            c.running()
                .all(|n| {
                    n.status().quorum
                        && n.status().millis_since_leader_heard.is_some() == (n.id != leader)
                })
                .then_some(())
        });
    });
}

#[test]
fn a_node_behind_the_snapshot_catches_up_from_it() {
    let ns = Netns::new("clustersnap");
    ns.in_netns(|| {
        let opts = Options {
            snapshot_every: 10,
            keep_logs_after_snapshot: 0,
            ..Options::default()
        };
        let mut c = TestCluster::start(3, 7200, opts);
        let leader = c.bootstrap();
        let lagging = c.other_than(leader);
        c.node_mut(lagging).stop();

        let l = c.node(leader);
        for i in 1..=60u64 {
            let r = l.block_on(l.node().propose(put(i))).expect("write");
            assert_eq!(r, Response::Config { generation: i });
        }
        // The leader compacted past everything the stopped node has.
        wait_until("leader purged its log", LONG, || {
            let st = c.node(leader).status();
            (st.purged_index.unwrap_or(0) > 20).then_some(())
        });

        c.node_mut(lagging).start();
        wait_until(
            "lagging node installed the snapshot and caught up",
            LONG,
            || (current_generation(&c, lagging) == 60).then_some(()),
        );
        let st = c.node(lagging).status();
        assert!(
            st.snapshot_index.is_some(),
            "caught up through a snapshot: {st:?}"
        );
        assert_eq!(st.members.len(), 3, "membership restored from the snapshot");
        // Still only the last 32 generations, identical to the leader's.
        let hist = |id: u64| c.node(id).node().with_state(|s| s.config.clone());
        assert_eq!(hist(lagging), hist(leader));
        assert_eq!(
            hist(lagging).generations.len(),
            routerd_cluster::CONFIG_HISTORY
        );

        // A restart rebuilds the state machine from snapshot + log.
        c.node_mut(lagging).kill();
        c.node_mut(lagging).start();
        wait_until("restarted node has its state back", LONG, || {
            (current_generation(&c, lagging) == 60).then_some(())
        });
    });
}
