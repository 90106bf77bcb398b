//! The Raft node: on-disk log and snapshots, the replicated state machine (config generations, ownership), the mTLS tonic network
