//! The cluster's gRPC contract (Raft RPCs, forward-to-leader, status) as generated tonic/prost code
