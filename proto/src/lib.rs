//! The cluster's gRPC contract (Raft RPCs, forward-to-leader, status) as generated
//! tonic/prost code, plus W3C trace-context propagation through gRPC metadata.

/// Generated messages, `cluster_client::ClusterClient` and `cluster_server::ClusterServer`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("routerd.cluster.v1");
}

pub mod trace;
