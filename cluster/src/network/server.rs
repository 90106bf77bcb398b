//! The cluster gRPC service: Raft RPCs into openraft, forwarded writes, status and
//! TimeoutNow. Reached only over mutual TLS (see `tls`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};
use routerd_proto::v1::cluster_server::Cluster;
use routerd_proto::v1::{
    Applied, ForwardRequest, ForwardResponse, LeaderHint, MemberStatus, PreVoteRequest,
    PreVoteResponse, RaftPayload, StatusRequest, StatusResponse, TimeoutNowRequest,
    TimeoutNowResponse, forward_response,
};
use tonic::{Request, Response, Status};

use super::codec::{decode, encode, join_trace};
use crate::node::Shared;
use crate::types::{NodeId, TypeConfig};

/// How long a forwarded write may take on the leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The service of one node.
pub(crate) struct Service {
    shared: Arc<Shared>,
}

impl Service {
    pub(crate) fn new(shared: Arc<Shared>) -> Service {
        Service { shared }
    }
}

#[tonic::async_trait]
impl Cluster for Service {
    #[tracing::instrument(level = "debug", skip_all, name = "raft.append_entries")]
    async fn append_entries(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        join_trace(&req);
        let rpc: AppendEntriesRequest<TypeConfig> = decode(req.get_ref())?;
        let result = self.shared.raft.append_entries(rpc).await;
        if matches!(
            result,
            Ok(AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_))
        ) {
            self.shared.heard_leader();
        }
        Ok(Response::new(encode(&result)?))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "raft.vote")]
    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        join_trace(&req);
        let rpc: VoteRequest<NodeId> = decode(req.get_ref())?;
        let result = self.shared.raft.vote(rpc).await;
        Ok(Response::new(encode(&result)?))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "raft.install_snapshot")]
    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        join_trace(&req);
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req.get_ref())?;
        let result = self.shared.raft.install_snapshot(rpc).await;
        if result.is_ok() {
            self.shared.heard_leader();
        }
        Ok(Response::new(encode(&result)?))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "cluster.forward")]
    async fn forward(
        &self,
        req: Request<ForwardRequest>,
    ) -> Result<Response<ForwardResponse>, Status> {
        join_trace(&req);
        let request = serde_json::from_slice(&req.get_ref().request)
            .map_err(|e| Status::invalid_argument(format!("request: {e}")))?;
        let outcome = match self
            .shared
            .write_local(request, Instant::now() + FORWARD_TIMEOUT)
            .await
        {
            Ok(Ok((log_index, response))) => forward_response::Outcome::Applied(Applied {
                log_index,
                response: serde_json::to_vec(&response)
                    .map_err(|e| Status::internal(e.to_string()))?,
            }),
            // Not forwarded again: the caller retries with the hint, which avoids loops.
            Ok(Err(hint)) => forward_response::Outcome::NotLeader(LeaderHint {
                leader_id: hint.as_ref().map(|(id, _)| *id),
                leader_addr: hint.map(|(_, n)| n.addr).unwrap_or_default(),
            }),
            Err(e) => forward_response::Outcome::Error(e.to_string()),
        };
        Ok(Response::new(ForwardResponse {
            outcome: Some(outcome),
        }))
    }

    async fn status(
        &self,
        _req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let m = self.shared.raft.metrics().borrow().clone();
        let s = self.shared.compute_status(&m);
        Ok(Response::new(StatusResponse {
            id: s.id,
            name: s.name,
            role: s.role.as_str().to_string(),
            term: s.term,
            leader: s.leader,
            last_log_index: s.last_log_index,
            committed_index: s.committed_index,
            applied_index: s.applied_index,
            members: s
                .members
                .into_iter()
                .map(|m| MemberStatus {
                    id: m.id,
                    name: m.name,
                    addr: m.addr,
                    voter: m.voter,
                    witness: m.witness,
                    matched_index: m.matched_index,
                })
                .collect(),
            quorum: s.quorum,
            millis_since_quorum_ack: s.millis_since_quorum_ack,
            millis_since_leader_heard: s.millis_since_leader_heard,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "cluster.timeout_now")]
    async fn timeout_now(
        &self,
        req: Request<TimeoutNowRequest>,
    ) -> Result<Response<TimeoutNowResponse>, Status> {
        join_trace(&req);
        let reply = match crate::transfer::campaign(&self.shared, req.get_ref()).await {
            Ok(()) => TimeoutNowResponse {
                elected: true,
                error: String::new(),
            },
            Err(error) => TimeoutNowResponse {
                elected: false,
                error,
            },
        };
        Ok(Response::new(reply))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "cluster.pre_vote")]
    async fn pre_vote(
        &self,
        req: Request<PreVoteRequest>,
    ) -> Result<Response<PreVoteResponse>, Status> {
        join_trace(&req);
        Ok(Response::new(
            crate::election::answer(&self.shared, req.get_ref()).await,
        ))
    }
}
