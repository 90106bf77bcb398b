//! One lazily connected gRPC channel per peer, shared by Raft replication, forwarded
//! writes and leadership transfer. tonic reconnects a channel by itself after a
//! failure; a channel is rebuilt only when the peer's address or name changes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use routerd_proto::v1::cluster_client::ClusterClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::error::ClusterError;
use crate::types::{Node, NodeId};

/// How long dialling a peer may take before the RPC fails as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

struct Peer {
    node: Node,
    client: ClusterClient<Channel>,
    /// When an RPC to this peer last succeeded (the leader's view of reachability).
    last_ok: Option<Instant>,
}

/// The peer channels of one node.
pub(crate) struct Peers {
    tls: ClientTlsConfig,
    peers: Mutex<HashMap<NodeId, Peer>>,
}

impl Peers {
    pub(crate) fn new(tls: ClientTlsConfig) -> Peers {
        Peers {
            tls,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// A client for `id` at `node` (cheap: clones share the channel).
    pub(crate) fn client(
        &self,
        id: NodeId,
        node: &Node,
    ) -> Result<ClusterClient<Channel>, ClusterError> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = peers.get(&id)
            && p.node.addr == node.addr
            && p.node.name == node.name
        {
            return Ok(p.client.clone());
        }
        let endpoint = Endpoint::from_shared(format!("https://{}", node.addr))
            .map_err(|e| ClusterError::Config(format!("peer {id} address {:?}: {e}", node.addr)))?
            .tls_config(self.tls.clone().domain_name(node.name.clone()))
            .map_err(|e| ClusterError::Tls(format!("peer {id}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5));
        let client = ClusterClient::new(endpoint.connect_lazy());
        peers.insert(
            id,
            Peer {
                node: node.clone(),
                client: client.clone(),
                last_ok: None,
            },
        );
        Ok(client)
    }

    pub(crate) fn mark_ok(&self, id: NodeId) {
        if let Some(p) = self
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&id)
        {
            p.last_ok = Some(Instant::now());
        }
    }

    pub(crate) fn last_ok(&self, id: NodeId) -> Option<Instant> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .and_then(|p| p.last_ok)
    }
}
