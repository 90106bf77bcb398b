//! The rustls client configuration of a DoT/DoH upstream: the public webpki
//! roots (no system CA store: routerd must not depend on the host's files),
//! plus the upstream's own CA certificates when it names some.

use std::sync::Arc;

use hickory_resolver::net::tls::default_provider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Builds the client configuration; `ca_pem` holds extra trust anchors.
pub(crate) fn client_config(ca_pem: Option<&str>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("cannot read PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("not a usable CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no CERTIFICATE block found in the PEM text".to_string());
        }
    }
    // hickory's provider (ring, as its features select) keeps one crypto
    // backend in the binary.
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The configuration hickory's pool context requires even for plain DNS,
/// which never uses it: no roots, so nothing is parsed or kept.
pub(crate) fn unused_config() -> Result<ClientConfig, String> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_roots_alone_work() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn garbage_ca_text_is_refused() {
        let err = client_config(Some("not pem")).unwrap_err();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        let err = client_config(Some(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ))
        .unwrap_err();
        assert!(err.contains("not a usable CA"), "{err}");
    }
}
