//! Mutual TLS from the cluster's PEM files: the server demands a client certificate
//! signed by the cluster CA; a client checks the server's certificate against the
//! same CA, under the peer's node name.

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::TlsFiles;
use crate::error::ClusterError;

/// Both halves of a node's TLS setup.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) server: ServerTlsConfig,
    /// Without a server name yet: each peer's channel adds its node name.
    pub(crate) client: ClientTlsConfig,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ClusterError> {
    std::fs::read(path).map_err(|e| ClusterError::Tls(format!("{}: {e}", path.display())))
}

/// Loads the CA, certificate and key.
pub(crate) fn load(files: &TlsFiles) -> Result<Tls, ClusterError> {
    let ca = Certificate::from_pem(read(&files.ca)?);
    let identity = Identity::from_pem(read(&files.cert)?, read(&files.key)?);
    Ok(Tls {
        // A client certificate is required, not optional: without one (or with one from
        // another CA) the handshake fails and no RPC reaches Raft.
        server: ServerTlsConfig::new()
            .identity(identity.clone())
            .client_ca_root(ca.clone()),
        client: ClientTlsConfig::new().ca_certificate(ca).identity(identity),
    })
}
