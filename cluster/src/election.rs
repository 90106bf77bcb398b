//! When to campaign, with a pre-vote first (Raft thesis §9.6).
//!
//! openraft 0.9 has no pre-vote: a follower that hears no leader raises its term
//! and campaigns. A node that was cut off keeps doing that, and when it returns
//! its higher term deposes the working leader (the leader's next AppendEntries is
//! answered with the higher vote and it steps down); the cluster then spends
//! elections catching up with the inflated term, committing nothing, and every
//! ownership lease lapses. Measured in the lab: a witness cut for 1.5 s cost the
//! LAN its gateway for 0.35 s after the cut healed.
//!
//! So openraft's own election timer is off (`enable_elect: false`) and this loop
//! decides: a voter that heard no leader for the lease asks the other voters
//! first whether they would vote for it. A voter says yes only when it heard no
//! leader within the election timeout's lower bound either and the candidate's
//! log is at least as up to date as its own. Only with a majority of yes does the
//! node ask openraft for a real election. An isolated node never gets a
//! majority, so its term stays where it was.
//!
//! Timing: a follower asks once the leader has been silent for the lease (the
//! election-timeout maximum, within which openraft's voters refuse anyway),
//! staggered by rank among the other voters (lowest id first) plus any campaign
//! delay the application asked for (an owner of VRRP groups lets others lead), so
//! survivors do not split the vote. After a failed attempt it waits a random time
//! within the election timeout. Raft's safety never depends on any of this; only
//! who wins and how fast.

use std::sync::Weak;
use std::time::{Duration, Instant};

use openraft::LogId;
use openraft::storage::RaftLogStorage;
use routerd_proto::v1::{PreVoteRequest, PreVoteResponse};

use crate::network::traced;
use crate::node::Shared;
use crate::status::Role;
use crate::types::NodeId;

/// Between the voters' first attempts, by rank.
const STAGGER: Duration = Duration::from_millis(40);
/// How often the loop looks.
const TICK: Duration = Duration::from_millis(10);

/// Runs until the node is dropped.
pub(crate) async fn election_loop(shared: Weak<Shared>, started: Instant) {
    let mut last_attempt: Option<Instant> = None;
    let mut retry_after = Duration::ZERO;
    let mut jitter = match shared.upgrade() {
        Some(s) => Jitter::new(s.id),
        None => return,
    };
    loop {
        tokio::time::sleep(TICK).await;
        let Some(s) = shared.upgrade() else { return };
        let m = s.raft.metrics().borrow().clone();
        let role = Role::from(m.state);
        if !matches!(role, Role::Follower | Role::Candidate) || s.is_transferring() {
            continue;
        }
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        if !voters.contains(&s.id) {
            continue;
        }
        let heard = s.leader_heard().unwrap_or(started);
        let silent_leader = m.current_leader;
        let rank = voters
            .iter()
            .filter(|v| Some(**v) != silent_leader && **v < s.id)
            .count();
        let due = heard
            + s.lease()
            + STAGGER * u32::try_from(rank).unwrap_or(u32::MAX)
            + s.campaign_delay();
        let now = Instant::now();
        if now < due || last_attempt.is_some_and(|t| now < t + retry_after) {
            continue;
        }
        last_attempt = Some(now);
        let (min, max) = s.cfg.election_timeout;
        retry_after = min + jitter.below(max.saturating_sub(min));
        if !pre_vote(&s, &voters, m.current_term).await {
            continue;
        }
        tracing::debug!(leader = ?silent_leader, term = m.current_term, "pre-vote won; campaigning");
        if let Err(e) = s.raft.trigger().elect().await {
            tracing::debug!(error = %e, "election trigger failed");
        }
    }
}

/// Asks every other voter; true when a majority (this node included) would vote.
async fn pre_vote(s: &Shared, voters: &[NodeId], term: u64) -> bool {
    if voters.len() == 1 {
        return true;
    }
    let Ok(last) = last_log_id(s).await else {
        return false;
    };
    let Ok(last_json) = serde_json::to_vec(&last) else {
        return false;
    };
    let membership = s.raft.metrics().borrow().membership_config.clone();
    let timeout = s.cfg.election_timeout.0;
    let asks = voters.iter().filter(|v| **v != s.id).filter_map(|v| {
        let node = membership.membership().get_node(v)?.clone();
        let mut client = s.peers.client(*v, &node).ok()?;
        let mut req = traced(PreVoteRequest {
            candidate_id: s.id,
            term,
            last_log_id: last_json.clone(),
        });
        req.set_timeout(timeout);
        let id = *v;
        Some(async move {
            match tokio::time::timeout(timeout, client.pre_vote(req)).await {
                Ok(Ok(reply)) => {
                    let r = reply.into_inner();
                    if !r.granted {
                        tracing::debug!(peer = id, reason = %r.reason, "pre-vote refused");
                    }
                    r.granted
                }
                _ => false,
            }
        })
    });
    let yes = futures::future::join_all(asks)
        .await
        .into_iter()
        .filter(|g| *g)
        .count()
        + 1;
    yes * 2 > voters.len()
}

async fn last_log_id(s: &Shared) -> Result<Option<LogId<NodeId>>, String> {
    let mut log = s.log.clone();
    log.get_log_state()
        .await
        .map(|st| st.last_log_id)
        .map_err(|e| e.to_string())
}

/// The receiving side of a pre-vote.
pub(crate) async fn answer(s: &Shared, req: &PreVoteRequest) -> PreVoteResponse {
    let m = s.raft.metrics().borrow().clone();
    let refuse = |reason: String| PreVoteResponse {
        granted: false,
        term: m.current_term,
        reason,
    };
    if Role::from(m.state) == Role::Leader {
        return refuse("this node leads".into());
    }
    if let Some(heard) = s.leader_heard() {
        let ago = heard.elapsed();
        if ago < s.cfg.election_timeout.0 {
            return refuse(format!("heard the leader {} ms ago", ago.as_millis()));
        }
    }
    let theirs: Option<LogId<NodeId>> = if req.last_log_id.is_empty() {
        None
    } else {
        match serde_json::from_slice(&req.last_log_id) {
            Ok(l) => l,
            Err(e) => return refuse(format!("unreadable last log id: {e}")),
        }
    };
    let mine = match last_log_id(s).await {
        Ok(l) => l,
        Err(e) => return refuse(format!("log unreadable: {e}")),
    };
    if theirs < mine {
        return refuse(format!(
            "its log ({theirs:?}) is behind this node's ({mine:?})"
        ));
    }
    PreVoteResponse {
        granted: true,
        term: m.current_term,
        reason: String::new(),
    }
}

/// A small xorshift for retry jitter (no RNG crate for this).
struct Jitter(u64);

impl Jitter {
    fn new(id: NodeId) -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(1));
        Jitter((nanos ^ id.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, d: Duration) -> Duration {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let ms = u64::try_from(d.as_millis()).unwrap_or(0);
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(x.wrapping_mul(0x2545_f491_4f6c_dd1d) % ms)
    }
}
