//! Listen-port collisions across kinds: an IngressService's VIP:port against
//! other IngressServices and against the ports routerd's own daemons listen
//! on (DHCP clients and servers, BGP, the cluster's RPCs).
//!
//! An IngressService DNATs new connections to its address and port before
//! anything local sees them, so a service on a port a routerd daemon needs
//! would silently take that daemon's traffic away. Each collision is one
//! error on the IngressService, naming both sides: `Kind/name` and field.

use std::net::IpAddr;

use crate::kinds::bgp::BGPRouter;
use crate::kinds::ingress::{IngressService, ListenProtocol};
use crate::kinds::{
    DHCPv4Client, DHCPv6Information, DHCPv6PrefixDelegation, DHCPv6Server, RouterdCluster,
};
use crate::{Kind, Resource};

/// Where a listener accepts connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// One address (on a known `Interface`, when the kind says which).
    Address(IpAddr, Option<String>),
    /// Any address of one `Interface` (by resource name).
    Link(String),
    /// Every address of the router.
    Any,
}

impl Bind {
    fn overlaps(&self, other: &Bind) -> bool {
        match (self, other) {
            (Bind::Any, _) | (_, Bind::Any) => true,
            (Bind::Address(a, _), Bind::Address(b, _)) => a == b,
            (Bind::Address(_, Some(i)), Bind::Link(l))
            | (Bind::Link(l), Bind::Address(_, Some(i))) => i == l,
            (Bind::Address(_, None), Bind::Link(_)) | (Bind::Link(_), Bind::Address(_, None)) => {
                true
            }
            (Bind::Link(a), Bind::Link(b)) => a == b,
        }
    }

    fn describe(&self) -> String {
        match self {
            Bind::Address(a, _) => a.to_string(),
            Bind::Link(l) => format!("interface {l}"),
            Bind::Any => "every address".into(),
        }
    }
}

/// A port some resource listens on.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The resource.
    pub resource: &'a Resource,
    /// The field that sets (or implies) the port.
    pub path: String,
    /// `tcp` or `udp`.
    pub protocol: ListenProtocol,
    /// The port.
    pub port: u16,
    /// Where.
    pub bind: Bind,
    /// Who listens there, for the message.
    pub listener: &'static str,
}

/// One collision, to report on `resource` at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// `Kind/name` of the IngressService reported on.
    pub resource: String,
    /// Its field.
    pub path: String,
    /// What collides with what.
    pub message: String,
}

fn claim<'a>(
    resource: &'a Resource,
    path: &str,
    protocol: ListenProtocol,
    port: u16,
    bind: Bind,
    listener: &'static str,
) -> Claim<'a> {
    Claim {
        resource,
        path: path.to_string(),
        protocol,
        port,
        bind,
        listener,
    }
}

/// Every listen port claimed by `resources` (one node's view).
pub fn claims<'a>(resources: &[&'a Resource]) -> Vec<Claim<'a>> {
    use ListenProtocol::{Tcp, Udp};
    let mut out = Vec::new();
    for r in resources {
        if let Some(s) = r.spec_as::<IngressService>() {
            let bind = match s.listen_address() {
                Some(a) => Bind::Address(a, Some(s.listen.interface.clone())),
                // Not known before routerd reads it: the whole link, to be safe.
                None => Bind::Link(s.listen.interface.clone()),
            };
            out.push(claim(
                r,
                "spec.listen.port",
                s.listen.protocol,
                s.listen.port,
                bind,
                "the IngressService",
            ));
        }
        if let Some(s) = r.spec_as::<DHCPv6Server>()
            && s.serves()
        {
            for (i, link) in s.interface.iter().chain(&s.listen_interfaces).enumerate() {
                let path = if i == 0 && s.interface.is_some() {
                    "spec.interface".to_string()
                } else {
                    format!(
                        "spec.listenInterfaces[{}]",
                        i - usize::from(s.interface.is_some())
                    )
                };
                out.push(claim(
                    r,
                    &path,
                    Udp,
                    547,
                    Bind::Link(link.clone()),
                    "the DHCPv6 server",
                ));
            }
        }
        if let Some(s) = r.spec_as::<DHCPv6PrefixDelegation>() {
            out.push(claim(
                r,
                "spec.interface",
                Udp,
                546,
                Bind::Link(s.interface.clone()),
                "the DHCPv6 client",
            ));
        }
        if let Some(s) = r.spec_as::<DHCPv6Information>() {
            out.push(claim(
                r,
                "spec.interface",
                Udp,
                546,
                Bind::Link(s.interface.clone()),
                "the DHCPv6 client",
            ));
        }
        if let Some(s) = r.spec_as::<DHCPv4Client>() {
            out.push(claim(
                r,
                "spec.interface",
                Udp,
                68,
                Bind::Link(s.interface.clone()),
                "the DHCPv4 client",
            ));
        }
        if let Some(s) = r.spec_as::<BGPRouter>() {
            let listen = s.listen.as_ref();
            let port = listen.and_then(|l| l.port).unwrap_or(179);
            let bind = listen
                .and_then(|l| l.address.as_deref())
                .and_then(|a| a.parse().ok())
                .map_or(Bind::Any, |a| Bind::Address(a, None));
            let path = if listen.is_some_and(|l| l.port.is_some()) {
                "spec.listen.port"
            } else {
                "spec.listen (default tcp/179)"
            };
            out.push(claim(r, path, Tcp, port, bind, "routerd-bgp"));
        }
        if let Some(s) = r.spec_as::<RouterdCluster>() {
            for (i, m) in s.members().iter().enumerate() {
                let Some((host, port)) = m.address.rsplit_once(':') else {
                    continue;
                };
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let bind = host.parse().map_or(Bind::Any, |a| Bind::Address(a, None));
                out.push(claim(
                    r,
                    &format!("spec.peers[{i}]"),
                    Tcp,
                    port,
                    bind,
                    "the cluster's RPC listener",
                ));
            }
        }
        out.extend(not_built_yet(r));
    }
    out
}

/// Listeners of kinds this build does not implement yet: a `DNSResolver`'s
/// listen ports and a `LocalServiceRedirect`'s redirect ports belong here
/// once those kinds exist (their resources do not load until then, so
/// nothing can collide with them today).
fn not_built_yet(_resource: &Resource) -> Vec<Claim<'_>> {
    Vec::new()
}

/// The collisions among `resources` that involve an IngressService.
pub fn collisions(resources: &[&Resource]) -> Vec<Collision> {
    let all = claims(resources);
    let mut out = Vec::new();
    for (i, a) in all.iter().enumerate() {
        if a.resource.kind != IngressService::KIND {
            continue;
        }
        for (j, b) in all.iter().enumerate() {
            if i == j || std::ptr::eq(a.resource, b.resource) {
                continue;
            }
            // Two services: report once, on the later one.
            if b.resource.kind == IngressService::KIND && j > i {
                continue;
            }
            if a.protocol != b.protocol || a.port != b.port || !a.bind.overlaps(&b.bind) {
                continue;
            }
            out.push(Collision {
                resource: a.resource.id(),
                path: a.path.clone(),
                message: format!(
                    "{}/{} on {} collides with {} {} ({} listens on {}/{} on {})",
                    a.protocol.as_str(),
                    a.port,
                    a.bind.describe(),
                    b.resource.id(),
                    b.path,
                    b.listener,
                    b.protocol.as_str(),
                    b.port,
                    b.bind.describe()
                ),
            });
        }
    }
    out
}
