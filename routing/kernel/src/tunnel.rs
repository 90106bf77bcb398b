//! Tunnel links routerd creates itself: the ip6tnl (IPv4-in-IPv6, "ipip6")
//! softwire of a DS-Lite B4 (RFC 6333).
//!
//! The request is built by a pure function so its attributes are checked
//! in unit tests on any kernel; [`Kernel::ensure_ip6tnl`] creates, updates
//! (the kernel's changelink) or leaves alone the link so that repeated
//! reconciles are idempotent.

use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_route::IpProtocol;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, Ip6TunnelFlags, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use serde::{Deserialize, Serialize};

use crate::netlink::{ack, dump};
use crate::{Kernel, KernelError};

/// An ip6tnl link carrying IPv4 over IPv6 (`ip link add NAME type ip6tnl
/// mode ipip6 local L remote R dev D encaplimit E`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ip6TnlIntent {
    /// Resource that wants it, for display.
    pub owner: String,
    /// The link's name.
    pub name: String,
    /// Our end (the B4 address).
    pub local: Ipv6Addr,
    /// The far end (the AFTR).
    pub remote: Ipv6Addr,
    /// The underlying link's index (`dev`), if bound to one.
    pub link: Option<u32>,
    /// Tunnel encapsulation limit (RFC 2473); `None`: no limit option.
    pub encap_limit: Option<u8>,
    /// MTU of the tunnel link.
    pub mtu: u32,
}

/// What [`Kernel::ensure_ip6tnl`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TunnelChange {
    /// It was there as wanted.
    Unchanged,
    /// It was created.
    Created,
    /// It existed with other parameters, which were changed.
    Updated,
}

/// The tunnel parameters the kernel reports for an existing link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelState {
    /// Link index.
    pub index: u32,
    /// Link kind (`ip6tnl` for ours).
    pub kind: Option<String>,
    /// Local address.
    pub local: Option<Ipv6Addr>,
    /// Remote address.
    pub remote: Option<Ipv6Addr>,
    /// Underlying link.
    pub link: Option<u32>,
    /// Encapsulation limit attribute.
    pub encap_limit: Option<u8>,
    /// The "ignore encapsulation limit" flag.
    pub ignore_encap_limit: bool,
    /// Inner protocol (4 for IPv4-in-IPv6).
    pub protocol: Option<u8>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Link name.
    pub name: String,
    /// The owning resource, from routerd's alias mark.
    pub owner: Option<String>,
}

impl TunnelState {
    /// Whether the link already is what `want` asks for.
    pub fn matches(&self, want: &Ip6TnlIntent) -> bool {
        let limit_ok = match want.encap_limit {
            Some(l) => !self.ignore_encap_limit && self.encap_limit.unwrap_or(4) == l,
            None => self.ignore_encap_limit,
        };
        self.kind.as_deref() == Some("ip6tnl")
            && self.owner.as_deref() == Some(want.owner.as_str())
            && self.local == Some(want.local)
            && self.remote == Some(want.remote)
            && self.link.filter(|l| *l != 0) == want.link
            && self.protocol == Some(IPPROTO_IPIP)
            && limit_ok
            && self.mtu == Some(want.mtu)
            && self.up
    }
}

/// The start of the interface alias (IFLA_IFALIAS) of routerd's tunnels,
/// followed by the owning resource (`routerd:DSLiteTunnel/transix`).
pub const OWNER_MARK: &str = "routerd:";

/// IPPROTO_IPIP: the inner packets are IPv4 (mode ipip6).
const IPPROTO_IPIP: u8 = 4;

/// The RTM_NEWLINK message that creates (or, with `index`, changes) the
/// tunnel `want`, up.
pub fn ip6tnl_message(want: &Ip6TnlIntent, index: Option<u32>) -> LinkMessage {
    let mut m = LinkMessage::default();
    if let Some(index) = index {
        m.header.index = index;
    }
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    m.attributes.push(LinkAttribute::IfName(want.name.clone()));
    m.attributes.push(LinkAttribute::Mtu(want.mtu));
    // The owner, kept in the kernel: after a restart routerd still knows
    // which tunnels are its own and removes those no resource wants.
    m.attributes.push(LinkAttribute::IfAlias(format!(
        "{OWNER_MARK}{}",
        want.owner
    )));
    let mut data = vec![
        InfoIpTunnel::Local(IpAddr::V6(want.local)),
        InfoIpTunnel::Remote(IpAddr::V6(want.remote)),
        InfoIpTunnel::Protocol(IpProtocol::from(IPPROTO_IPIP)),
    ];
    if let Some(link) = want.link {
        data.push(InfoIpTunnel::Link(link));
    }
    match want.encap_limit {
        Some(limit) => {
            data.push(InfoIpTunnel::EncapLimit(limit));
            data.push(InfoIpTunnel::Ipv6Flags(Ip6TunnelFlags::empty()));
        }
        // "encaplimit none": no Tunnel Encapsulation Limit option in the
        // outer header (some AFTRs drop packets that carry one).
        None => data.push(InfoIpTunnel::Ipv6Flags(Ip6TunnelFlags::IgnEncapLimit)),
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Ip6Tnl),
        LinkInfo::Data(InfoData::IpTunnel(data)),
    ]));
    m
}

/// Reads the tunnel parameters from a link message.
pub fn tunnel_state(m: &LinkMessage) -> TunnelState {
    let mut s = TunnelState {
        index: m.header.index,
        up: m.header.flags.contains(LinkFlags::Up),
        ..TunnelState::default()
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::Mtu(mtu) => s.mtu = Some(*mtu),
            LinkAttribute::IfName(name) => s.name = name.clone(),
            LinkAttribute::IfAlias(alias) => {
                s.owner = alias.strip_prefix(OWNER_MARK).map(str::to_string);
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => s.kind = Some(kind.to_string()),
                        LinkInfo::Data(InfoData::IpTunnel(data)) => {
                            for d in data {
                                match d {
                                    InfoIpTunnel::Local(IpAddr::V6(a)) => s.local = Some(*a),
                                    InfoIpTunnel::Remote(IpAddr::V6(a)) => s.remote = Some(*a),
                                    InfoIpTunnel::Link(l) => s.link = Some(*l),
                                    InfoIpTunnel::EncapLimit(l) => s.encap_limit = Some(*l),
                                    InfoIpTunnel::Ipv6Flags(f) => {
                                        s.ignore_encap_limit =
                                            f.contains(Ip6TunnelFlags::IgnEncapLimit);
                                    }
                                    InfoIpTunnel::Protocol(p) => s.protocol = Some(u8::from(*p)),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    s
}

impl Kernel {
    /// Every link with its tunnel parameters (kind, addresses, owner mark).
    pub async fn tunnels(&self) -> Result<Vec<TunnelState>, KernelError> {
        let _dumping = self.dumps.lock().await;
        let msgs = dump(
            &self.handle,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )
        .await
        .map_err(|e| e.into_kernel("dump links"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(tunnel_state(l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name` with its tunnel parameters, if it exists.
    pub async fn tunnel(&self, name: &str) -> Result<Option<TunnelState>, KernelError> {
        Ok(self.tunnels().await?.into_iter().find(|t| t.name == name))
    }

    /// Brings the ip6tnl link `want.name` to `want`: created when missing,
    /// changed in place when its parameters differ, left alone when they
    /// match. A link of that name that is not an ip6tnl is an error: it is
    /// not routerd's to replace. Fails with the kernel's reason (e.g.
    /// "Unknown device type") where ip6tnl is not built.
    pub async fn ensure_ip6tnl(&self, want: &Ip6TnlIntent) -> Result<TunnelChange, KernelError> {
        let what = format!("ip6tnl {}", want.name);
        match self.tunnel(&want.name).await? {
            Some(have) if have.matches(want) => Ok(TunnelChange::Unchanged),
            Some(have) if have.kind.as_deref() != Some("ip6tnl") => Err(KernelError::Netlink {
                what,
                message: format!(
                    "a {} link of that name exists and is not routerd's",
                    have.kind.as_deref().unwrap_or("plain")
                ),
            }),
            Some(have) => {
                ack(
                    &self.handle,
                    RouteNetlinkMessage::NewLink(ip6tnl_message(want, Some(have.index))),
                    0,
                )
                .await
                .map_err(|e| e.into_kernel(&format!("update {what}")))?;
                Ok(TunnelChange::Updated)
            }
            None => {
                ack(
                    &self.handle,
                    RouteNetlinkMessage::NewLink(ip6tnl_message(want, None)),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
                .await
                .map_err(|e| e.into_kernel(&format!("create {what}")))?;
                Ok(TunnelChange::Created)
            }
        }
    }

    /// Deletes the ip6tnl link `name`; a missing link is not an error, and a
    /// link of another kind is left alone.
    pub async fn delete_ip6tnl(&self, name: &str) -> Result<bool, KernelError> {
        let Some(have) = self.tunnel(name).await? else {
            return Ok(false);
        };
        if have.kind.as_deref() != Some("ip6tnl") {
            return Ok(false);
        }
        let mut m = LinkMessage::default();
        m.header.index = have.index;
        ack(&self.handle, RouteNetlinkMessage::DelLink(m), 0)
            .await
            .map_err(|e| e.into_kernel(&format!("delete ip6tnl {name}")))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_core::{Emitable, Parseable};

    use super::*;

    fn want(limit: Option<u8>) -> Ip6TnlIntent {
        Ip6TnlIntent {
            owner: "DSLiteTunnel/transix".into(),
            name: "ds-transix".into(),
            local: "2001:db8:1200:1::100".parse().expect("ip"),
            remote: "2001:db8:a::1".parse().expect("ip"),
            link: Some(7),
            encap_limit: limit,
            mtu: 1460,
        }
    }

    /// The message survives the trip through its wire form, as the kernel
    /// would read it, with every parameter `ip link add ... type ip6tnl`
    /// would send.
    #[test]
    fn the_request_carries_what_ip_link_would_send() {
        let m = ip6tnl_message(&want(Some(4)), None);
        let mut bytes = vec![0u8; m.buffer_len()];
        m.emit(&mut bytes);
        let parsed = LinkMessage::parse(bytes.as_slice()).expect("parses");
        let mut s = tunnel_state(&parsed);
        assert_eq!(s.kind.as_deref(), Some("ip6tnl"));
        assert_eq!(s.local, Some(want(None).local));
        assert_eq!(s.remote, Some(want(None).remote));
        assert_eq!((s.link, s.protocol, s.mtu), (Some(7), Some(4), Some(1460)));
        assert_eq!(
            (s.encap_limit, s.ignore_encap_limit, s.up),
            (Some(4), false, true)
        );
        assert_eq!(s.owner.as_deref(), Some("DSLiteTunnel/transix"));
        assert_eq!(s.name, "ds-transix");
        assert!(s.matches(&want(Some(4))));
        assert!(!s.matches(&want(None)), "encaplimit none differs");
        s.remote = Some("2001:db8::2".parse().expect("ip"));
        assert!(!s.matches(&want(Some(4))), "a new AFTR differs");

        let none = ip6tnl_message(&want(None), Some(42));
        assert_eq!(none.header.index, 42, "a change names the existing link");
        let s = tunnel_state(&none);
        assert!(s.ignore_encap_limit && s.encap_limit.is_none());
        assert!(s.matches(&want(None)));
    }
}
