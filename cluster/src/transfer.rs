//! Leadership transfer for openraft 0.9, which has none built in: the leader makes
//! sure the target holds its whole log, pauses heartbeats and new writes, and sends
//! it TimeoutNow; the target campaigns until it wins or the deadline passes. The
//! pause (no commits at all) lasts about one leader lease and at most
//! [`pause_limit`]: callers holding leases shorter than that extend them first.
//!
//! Why this works with openraft's leader lease: a follower refuses to vote while it
//! heard a leader within the lease (the election-timeout maximum). With heartbeats
//! paused the lease runs out on every follower within that time; the target asks
//! again every few milliseconds, so it is first to ask once the lease ends, and as
//! it holds the whole log every voter grants. The other followers campaign on
//! their own (after a pre-vote, see `election`) only once the lease has run out
//! plus their rank's stagger, later than the target. The old leader itself grants at once: its vote was last touched when it
//! was elected. Raft's safety never depends on any of this; only who wins does.

use std::time::{Duration, Instant};

use routerd_proto::v1::TimeoutNowRequest;

use crate::error::ClusterError;
use crate::network::traced;
use crate::node::Shared;
use crate::types::NodeId;

/// How long the target may take to catch up (writes still flow meanwhile).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest commits stop during a transfer: heartbeats and writes are held
/// until the target wins, which takes the followers' leader lease (the
/// election-timeout maximum) plus a few retries; after twice that the old
/// leader gives up and resumes.
pub(crate) fn pause_limit(shared: &Shared) -> Duration {
    shared.cfg.election_timeout.1 * 2
}

pub(crate) async fn transfer_leader(shared: &Shared, to: NodeId) -> Result<(), ClusterError> {
    shared.require_leader()?;
    if to == shared.id {
        return Ok(());
    }
    let metrics = shared.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    if !membership.voter_ids().any(|v| v == to) {
        return Err(ClusterError::Transfer(format!("{to} is not a voter")));
    }
    let node = membership
        .get_node(&to)
        .cloned()
        .ok_or(ClusterError::UnknownMember(to))?;
    // Nearly caught up first, with writes flowing, so the pause stays short.
    let last = shared.raft.metrics().borrow().last_log_index;
    shared
        .raft
        .wait(Some(CATCH_UP_TIMEOUT))
        .metrics(
            |m| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&to).cloned().flatten())
                    .map(|l| l.index)
                    >= last
            },
            "transfer target caught up",
        )
        .await
        .map_err(|e| ClusterError::Transfer(format!("target did not catch up: {e}")))?;

    shared.set_transferring(true);
    let deadline = Instant::now() + pause_limit(shared);
    let outcome = async {
        // With writes held, the log stops growing: wait until the target has all of it.
        let last = shared.raft.metrics().borrow().last_log_index;
        shared
            .raft
            .wait(Some(deadline.saturating_duration_since(Instant::now())))
            .metrics(
                |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&to).cloned().flatten())
                        .map(|l| l.index)
                        >= last
                },
                "transfer target caught up",
            )
            .await
            .map_err(|e| ClusterError::Transfer(format!("target did not catch up: {e}")))?;
        shared.raft.runtime_config().heartbeat(false);
        let mut client = shared.peers.client(to, &node)?;
        let mut req = traced(TimeoutNowRequest {
            leader_id: shared.id,
            last_log_index: last.unwrap_or(0),
            deadline_ms: u64::try_from(
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
        });
        req.set_timeout(deadline.saturating_duration_since(Instant::now()));
        let reply = client
            .timeout_now(req)
            .await
            .map_err(|s| ClusterError::Transfer(format!("TimeoutNow to {}: {s}", node.name)))?
            .into_inner();
        if !reply.elected {
            return Err(ClusterError::Transfer(format!(
                "{} did not win the election: {}",
                node.name, reply.error
            )));
        }
        // The old leader learns of the new term from the new leader's first heartbeat.
        shared
            .raft
            .wait(Some(deadline.saturating_duration_since(Instant::now())))
            .current_leader(to, "new leader seen")
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Transfer(e.to_string()))
    }
    .await;
    shared.raft.runtime_config().heartbeat(true);
    shared.set_transferring(false);
    outcome
}

/// The target's side of TimeoutNow: catch up, then campaign until elected or the
/// deadline passes.
pub(crate) async fn campaign(shared: &Shared, req: &TimeoutNowRequest) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_millis(req.deadline_ms.min(10_000));
    let left = || Some(deadline.saturating_duration_since(Instant::now()));
    shared
        .raft
        .wait(left())
        .metrics(
            |m| m.last_log_index >= Some(req.last_log_index),
            "log caught up before campaigning",
        )
        .await
        .map_err(|e| format!("log not caught up: {e}"))?;
    let retry = (shared.cfg.election_timeout.0 / 8).max(Duration::from_millis(5));
    while Instant::now() < deadline {
        shared
            .raft
            .trigger()
            .elect()
            .await
            .map_err(|e| e.to_string())?;
        let won = shared
            .raft
            .wait(Some(
                retry.min(deadline.saturating_duration_since(Instant::now())),
            ))
            .current_leader(shared.id, "elected")
            .await;
        if won.is_ok() {
            return Ok(());
        }
    }
    Err("deadline passed".into())
}
