//! What can go wrong writing the table.

/// An nftables write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// A name (table, chain, map, comment) that nftables cannot carry.
    #[error("`{0}` cannot be used as an nftables name or comment")]
    Name(String),
    /// The netlink socket could not be opened or used.
    #[error("nftables netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The kernel refused part of the batch; nothing of it was applied.
    #[error("the kernel refused {what}: {source}")]
    Refused {
        /// The message it refused.
        what: String,
        /// Its errno.
        #[source]
        source: std::io::Error,
    },
    /// The kernel did not acknowledge the batch in time.
    #[error("no answer from nftables within {0:?}")]
    Timeout(std::time::Duration),
}
