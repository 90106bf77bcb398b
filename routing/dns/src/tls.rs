//! The rustls client configuration of a DoT/DoH upstream: the public webpki
//! roots (no system CA store: routerd must not depend on the host's files),
//! plus the upstream's own CA certificates when it names some.

use std::sync::Arc;

use hickory_resolver::net::tls::default_provider;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::cause::ConnectCause;
use crate::error::UpstreamError;

/// Builds the client configuration; `ca_pem` holds extra trust anchors, and
/// certificate failures are recorded in `cause`.
pub(crate) fn client_config(
    ca_pem: Option<&str>,
    cause: Arc<ConnectCause>,
) -> Result<ClientConfig, String> {
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
    let provider = Arc::new(default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            inner: verifier,
            cause,
        }))
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

/// webpki's verifier, unchanged, except that a certificate it refuses is
/// also recorded as the upstream's connection failure (see [`crate::cause`]).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    cause: Arc<ConnectCause>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .inspect_err(|e| {
                self.cause.record(UpstreamError::Tls(format!(
                    "certificate for {}: {e}",
                    server_name.to_str()
                )));
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_roots_alone_work() {
        assert!(client_config(None, Arc::default()).is_ok());
    }

    #[test]
    fn garbage_ca_text_is_refused() {
        let err = client_config(Some("not pem"), Arc::default()).unwrap_err();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        let err = client_config(
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Arc::default(),
        )
        .unwrap_err();
        assert!(err.contains("not a usable CA"), "{err}");
    }
}
