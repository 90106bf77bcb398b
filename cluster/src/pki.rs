//! The cluster's own certificate authority: one CA per cluster, one ECDSA P-256
//! certificate per node, usable both as TLS server and client (mutual TLS).
//!
//! Layout of a PKI directory: `ca.pem`, `ca.key`, and `NODE.pem` / `NODE.key` per
//! node. Keys are written mode 0600. A node's certificate names the node (DNS SAN =
//! node name, which peers use as the TLS server name) plus optional IP SANs.
//!
//! `ca.key` is needed only to issue certificates; an operator may move it off the
//! routers after `routerctl cluster init`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

/// The CA certificate's file name.
pub const CA_CERT: &str = "ca.pem";
/// The CA key's file name.
pub const CA_KEY: &str = "ca.key";

/// Why creating the PKI failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already exists; refusing to replace a cluster CA (remove it to start over)")]
    CaExists(PathBuf),
    #[error(
        "invalid node name {0:?}: use letters, digits, '-' and '.', starting with a letter or digit"
    )]
    BadName(String),
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
}

/// Where one node's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A node to issue a certificate for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub ips: Vec<IpAddr>,
}

/// Creates a new cluster CA in `dir` (`ca.pem`, `ca.key`). Refuses to overwrite one.
pub fn init_ca(dir: &Path) -> Result<PathBuf, PkiError> {
    let key_path = dir.join(CA_KEY);
    if key_path.exists() {
        return Err(PkiError::CaExists(key_path));
    }
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "routerd cluster CA");
    // Only node certificates hang off this CA, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    let cert_path = dir.join(CA_CERT);
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(cert_path)
}

/// Issues `NODE.pem` / `NODE.key` in `dir`, signed by the CA found there.
pub fn issue_node(dir: &Path, node_name: &str, ip_sans: &[IpAddr]) -> Result<NodeFiles, PkiError> {
    check_name(node_name)?;
    let ca_cert = read(&dir.join(CA_CERT))?;
    let ca_key = KeyPair::from_pem(&read(&dir.join(CA_KEY))?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![node_name.to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, node_name);
    params
        .subject_alt_names
        .extend(ip_sans.iter().map(|ip| SanType::IpAddress(*ip)));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Every node both serves and dials its peers.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &issuer)?;
    let files = node_files(dir, node_name);
    write_file(&files.cert, cert.pem().as_bytes(), 0o644)?;
    write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

/// `routerctl cluster init`: a new CA and a certificate for every node.
pub fn init_cluster(dir: &Path, nodes: &[NodeSpec]) -> Result<Vec<NodeFiles>, PkiError> {
    // Validate every name first so a typo does not leave a half-made directory.
    for n in nodes {
        check_name(&n.name)?;
    }
    init_ca(dir)?;
    nodes
        .iter()
        .map(|n| issue_node(dir, &n.name, &n.ips))
        .collect()
}

/// Where a node's files are (or will be) in a PKI directory.
pub fn node_files(dir: &Path, node_name: &str) -> NodeFiles {
    NodeFiles {
        cert: dir.join(format!("{node_name}.pem")),
        key: dir.join(format!("{node_name}.key")),
    }
}

fn check_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(PkiError::BadName(name.to_string()))
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes through a temporary file and a rename, with the mode set at creation so a
/// key is never readable by others, not even for an instant.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn init_writes_a_ca_and_one_pair_per_node_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = ["r1", "r2", "w"].map(|n| NodeSpec {
            name: n.into(),
            ips: vec!["10.0.0.1".parse().unwrap()],
        });
        let files = init_cluster(dir.path(), &nodes).unwrap();
        assert_eq!(files.len(), 3);
        for f in files
            .iter()
            .map(|f| &f.key)
            .chain([&dir.path().join(CA_KEY)])
        {
            let mode = fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        let pem = fs::read_to_string(&files[0].cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // A second init must not replace the CA that signed the existing certificates.
        assert!(matches!(
            init_cluster(dir.path(), &nodes),
            Err(PkiError::CaExists(_))
        ));
    }

    #[test]
    fn bad_node_names_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = [NodeSpec {
            name: "../evil".into(),
            ips: vec![],
        }];
        assert!(matches!(
            init_cluster(dir.path(), &nodes),
            Err(PkiError::BadName(_))
        ));
        assert!(!dir.path().join(CA_KEY).exists());
    }
}
