//! openraft's outgoing RPCs over the peer channels.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use routerd_proto::v1::RaftPayload;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Peers;
use super::codec::{decode, encode, traced};
use crate::types::{Node, NodeId, TypeConfig};

/// Hands openraft one [`PeerLink`] per replication target.
pub(crate) struct Network {
    pub(crate) peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerLink {
        PeerLink {
            target,
            node: node.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// openraft's connection to one peer.
pub(crate) struct PeerLink {
    target: NodeId,
    node: Node,
    peers: Arc<Peers>,
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl PeerLink {
    /// Sends one openraft request and decodes the peer's `Result<Resp, RaftError<E>>`.
    async fn call<Req, Resp, E>(&self, rpc: Rpc, req: &Req, ttl: Duration) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let network = |e: &dyn std::fmt::Display| {
            RPCError::Network(NetworkError::new(&std::io::Error::other(e.to_string())))
        };
        let mut client = self
            .peers
            .client(self.target, &self.node)
            .map_err(|e| network(&e))?;
        let payload = encode(req).map_err(|e| network(&e))?;
        let mut request = traced(payload);
        request.set_timeout(ttl);
        let reply: Result<tonic::Response<RaftPayload>, tonic::Status> = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|status| match status.code() {
            // The peer is down, refusing us (TLS) or too slow: openraft backs off.
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                RPCError::Unreachable(Unreachable::new(&status))
            }
            _ => RPCError::Network(NetworkError::new(&status)),
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            decode(reply.get_ref()).map_err(|e| network(&e))?;
        self.peers.mark_ok(self.target);
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(Rpc::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(Rpc::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(Rpc::Vote, &rpc, option.hard_ttl()).await
    }
}
