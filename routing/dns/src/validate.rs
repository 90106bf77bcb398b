//! Checking the specs before anything is built: every problem is reported with
//! the name of the `DNSUpstream` or `DNSForwarder` it belongs to.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use hickory_resolver::proto::rr::Name;
use rustls::pki_types::ServerName;

use crate::cause::ConnectCause;
use crate::domain;
use crate::error::{DnsError, ForwarderProblem, UpstreamProblem};
use crate::spec::{DEFAULT_DOH_PATH, ForwarderSpec, HealthSpec, Protocol, UpstreamSpec};
use crate::transport::BIND_DEVICE_SUPPORTED;

/// Longest Linux interface name (IFNAMSIZ 16 with the NUL).
const IFNAMSIZ_MAX: usize = 15;

/// A validated upstream, ready to be built.
#[derive(Debug)]
pub(crate) struct UpstreamPlan {
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    /// Static addresses; empty when `host` is to be resolved.
    pub(crate) addresses: Vec<IpAddr>,
    /// Host name to resolve through `bootstrap` (only when `addresses` is empty).
    pub(crate) host: Option<Name>,
    pub(crate) bootstrap: Vec<IpAddr>,
    pub(crate) port: u16,
    /// TLS server name (DoT/DoH): `tlsName`, else the host name.
    pub(crate) server_name: Option<Arc<str>>,
    pub(crate) path: Arc<str>,
    pub(crate) source_interface: Option<String>,
    /// TLS client configuration; hickory wants one even for plain DNS,
    /// which gets one without roots.
    pub(crate) tls: rustls::ClientConfig,
    /// Where the socket layer and the certificate verifier record why a
    /// connection failed.
    pub(crate) cause: Arc<ConnectCause>,
}

/// A validated forwarder; upstreams are indices into the upstream list.
#[derive(Debug, Clone)]
pub(crate) struct ForwarderPlan {
    pub(crate) name: String,
    pub(crate) domains: Vec<Name>,
    pub(crate) upstreams: Vec<usize>,
    pub(crate) health: Option<HealthSpec>,
}

/// Validates every upstream, then every forwarder against them.
pub(crate) fn plans(
    upstreams: &[UpstreamSpec],
    forwarders: &[ForwarderSpec],
) -> Result<(Vec<UpstreamPlan>, Vec<ForwarderPlan>), DnsError> {
    let mut by_name = HashMap::new();
    let mut ups = Vec::with_capacity(upstreams.len());
    for spec in upstreams {
        let invalid = |problem| DnsError::InvalidUpstream {
            upstream: spec.name.clone(),
            problem,
        };
        if by_name.insert(spec.name.as_str(), ups.len()).is_some() {
            return Err(invalid(UpstreamProblem::Duplicate));
        }
        ups.push(upstream(spec).map_err(invalid)?);
    }

    let mut names = HashSet::new();
    // Which forwarder already claimed a suffix (by its lower-case text).
    let mut claimed: HashMap<String, &str> = HashMap::new();
    let mut fwds = Vec::with_capacity(forwarders.len());
    for spec in forwarders {
        let invalid = |problem| DnsError::InvalidForwarder {
            forwarder: spec.name.clone(),
            problem,
        };
        if spec.name.is_empty() {
            return Err(invalid(ForwarderProblem::EmptyName));
        }
        if !names.insert(spec.name.as_str()) {
            return Err(invalid(ForwarderProblem::Duplicate));
        }
        let plan = forwarder(spec, &by_name).map_err(invalid)?;
        for (d, text) in plan.domains.iter().zip(&spec.domains) {
            if let Some(other) = claimed.insert(domain::key(d), &spec.name) {
                return Err(invalid(ForwarderProblem::DuplicateDomain {
                    domain: text.clone(),
                    other: other.to_string(),
                }));
            }
        }
        fwds.push(plan);
    }
    Ok((ups, fwds))
}

fn upstream(spec: &UpstreamSpec) -> Result<UpstreamPlan, UpstreamProblem> {
    if spec.name.is_empty() {
        return Err(UpstreamProblem::EmptyName);
    }
    let mut addresses = spec.addresses.clone();
    let mut host = None;
    if let Some(text) = spec
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if let Ok(ip) = text.parse::<IpAddr>() {
            // An IP in the host field is still just an address.
            if !addresses.contains(&ip) {
                addresses.insert(0, ip);
            }
        } else {
            if !spec.protocol.is_encrypted() {
                return Err(UpstreamProblem::HostNameForPlainDns {
                    host: text.to_string(),
                });
            }
            let invalid = |reason| UpstreamProblem::InvalidHost {
                host: text.to_string(),
                reason,
            };
            let name = match domain::parse(text) {
                Ok(n) if n.is_root() => return Err(invalid("the root is not a host".into())),
                Ok(n) => n,
                Err(reason) => return Err(invalid(reason)),
            };
            host = Some((text.trim_end_matches('.').to_string(), name));
        }
    }
    if addresses.is_empty() {
        match &host {
            None => return Err(UpstreamProblem::NoAddress),
            Some((text, _)) if spec.bootstrap.is_empty() => {
                return Err(UpstreamProblem::NoBootstrap { host: text.clone() });
            }
            Some(_) => {}
        }
    }
    if spec.port == Some(0) {
        return Err(UpstreamProblem::PortZero);
    }

    let mut server_name = None;
    let cause = Arc::new(ConnectCause::default());
    let tls;
    if spec.protocol.is_encrypted() {
        let name = match (spec.tls_name.as_deref().map(str::trim), &host) {
            (Some(n), _) if !n.is_empty() => n.trim_end_matches('.').to_string(),
            (_, Some((text, _))) => text.clone(),
            _ => {
                return Err(UpstreamProblem::NoTlsName {
                    protocol: spec.protocol,
                });
            }
        };
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(UpstreamProblem::InvalidTlsName { name });
        }
        server_name = Some(Arc::from(name));
        tls = crate::tls::client_config(spec.ca_pem.as_deref(), cause.clone())
            .map_err(|reason| UpstreamProblem::InvalidCa { reason })?;
    } else {
        tls = crate::tls::unused_config().map_err(|reason| UpstreamProblem::Tls { reason })?;
    }

    let path = spec.path.as_deref().unwrap_or(DEFAULT_DOH_PATH);
    if spec.protocol == Protocol::Doh && !path.starts_with('/') {
        return Err(UpstreamProblem::InvalidPath {
            path: path.to_string(),
        });
    }

    if let Some(dev) = &spec.source_interface {
        if dev.is_empty()
            || dev.len() > IFNAMSIZ_MAX
            || dev
                .chars()
                .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
        {
            return Err(UpstreamProblem::InvalidInterface { name: dev.clone() });
        }
        if !BIND_DEVICE_SUPPORTED {
            return Err(UpstreamProblem::InterfaceUnsupported);
        }
    }

    Ok(UpstreamPlan {
        name: spec.name.clone(),
        protocol: spec.protocol,
        host: if addresses.is_empty() {
            host.map(|(_, name)| name)
        } else {
            None
        },
        addresses,
        bootstrap: spec.bootstrap.clone(),
        port: spec.port.unwrap_or(spec.protocol.default_port()),
        server_name,
        path: Arc::from(path),
        source_interface: spec.source_interface.clone(),
        tls,
        cause,
    })
}

fn forwarder(
    spec: &ForwarderSpec,
    upstreams: &HashMap<&str, usize>,
) -> Result<ForwarderPlan, ForwarderProblem> {
    if spec.domains.is_empty() {
        return Err(ForwarderProblem::NoDomains);
    }
    let mut domains = Vec::with_capacity(spec.domains.len());
    for text in &spec.domains {
        let name = domain::parse(text).map_err(|reason| ForwarderProblem::InvalidDomain {
            domain: text.clone(),
            reason,
        })?;
        domains.push(name);
    }

    let mut indices = Vec::with_capacity(spec.upstreams.len());
    for reference in &spec.upstreams {
        let name = match reference.split_once('/') {
            None => reference.as_str(),
            Some(("DNSUpstream", name)) => name,
            Some(_) => {
                return Err(ForwarderProblem::WrongKind {
                    reference: reference.clone(),
                });
            }
        };
        let &index = upstreams
            .get(name)
            .ok_or_else(|| ForwarderProblem::UnknownUpstream {
                upstream: name.to_string(),
            })?;
        if indices.contains(&index) {
            return Err(ForwarderProblem::RepeatedUpstream {
                upstream: name.to_string(),
            });
        }
        indices.push(index);
    }

    if let Some(h) = &spec.health {
        let zero = |what: &str| ForwarderProblem::InvalidHealth {
            reason: format!("{what} must be greater than zero"),
        };
        if h.fail_threshold == Some(0) {
            return Err(zero("failThreshold"));
        }
        if h.pass_threshold == Some(0) {
            return Err(zero("passThreshold"));
        }
        if h.interval.is_some_and(|d| d.is_zero()) {
            return Err(zero("interval"));
        }
        if h.timeout.is_some_and(|d| d.is_zero()) {
            return Err(zero("timeout"));
        }
        if let Some(probe) = &h.probe_name {
            domain::parse(probe).map_err(|reason| ForwarderProblem::InvalidHealth {
                reason: format!("probe name {probe:?}: {reason}"),
            })?;
        }
    }

    Ok(ForwarderPlan {
        name: spec.name.clone(),
        domains,
        upstreams: indices,
        health: spec.health.clone(),
    })
}
