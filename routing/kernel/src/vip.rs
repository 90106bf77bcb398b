//! Virtual addresses for routerd-vrrp: added and removed one at a time, tagged
//! with their own IFA_PROTO so routerd's reconciler (which owns
//! [`ROUTERD_PROTO`](crate::ROUTERD_PROTO) addresses) never touches them, plus
//! the macvlan links VRRP's virtual MAC needs.

use std::net::IpAddr;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressProtocol, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

use crate::netlink::{ack, dump};
use crate::observe::parse_address;
use crate::types::Address;
use crate::{Kernel, KernelError};

/// The IFA_PROTO that marks routerd-vrrp's virtual addresses (one above
/// [`ROUTERD_PROTO`](crate::ROUTERD_PROTO); equally unused elsewhere).
pub const ROUTERD_VRRP_PROTO: u8 = 158;

impl Kernel {
    /// Adds (or re-tags) `addr/prefix_len` on link `ifindex` with IFA_PROTO
    /// `protocol`; IPv6 addresses skip DAD (a virtual address moves between
    /// routers and must answer at once).
    pub async fn add_tagged_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        protocol: u8,
    ) -> Result<(), KernelError> {
        let mut m = base_message(ifindex, addr, prefix_len);
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(protocol)));
        if addr.is_ipv6() {
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        // REPLACE: an address still there from a previous run is kept, not an error.
        ack(
            &self.handle,
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .await
        .map_err(|e| e.into_kernel(&format!("add address {addr}/{prefix_len}")))
    }

    /// Removes `addr/prefix_len` from link `ifindex`; an address that is not there
    /// is not an error.
    pub async fn remove_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), KernelError> {
        let m = base_message(ifindex, addr, prefix_len);
        match ack(&self.handle, RouteNetlinkMessage::DelAddress(m), 0).await {
            Ok(()) => Ok(()),
            Err(e) if e.message().contains("os error 99") => Ok(()),
            Err(e) => Err(e.into_kernel(&format!("remove address {addr}/{prefix_len}"))),
        }
    }

    /// Dumps every IPv4/IPv6 address (without the route dump of [`Kernel::observe`]).
    pub async fn addresses(&self) -> Result<Vec<Address>, KernelError> {
        let _dumping = self.dumps.lock().await;
        let msgs = dump(
            &self.handle,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .await
        .map_err(|e| e.into_kernel("dump addresses"))?;
        let names = Default::default();
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => parse_address(a, &names),
                _ => None,
            })
            .collect())
    }

    /// Creates macvlan `name` on link `parent` with MAC `mac` (bridge mode when
    /// `bridge_mode`, else private) and sets it up. Fails with the kernel's reason
    /// (e.g. "Unknown device type") where macvlan is not built.
    pub async fn create_macvlan(
        &self,
        parent: u32,
        name: &str,
        mac: [u8; 6],
        bridge_mode: bool,
    ) -> Result<(), KernelError> {
        let mode = if bridge_mode {
            MacVlanMode::Bridge
        } else {
            MacVlanMode::Private
        };
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Link(parent));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
        ]));
        ack(
            &self.handle,
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
        .map_err(|e| e.into_kernel(&format!("create macvlan {name}")))
    }
}

fn base_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = if addr.is_ipv4() {
        netlink_packet_route::AddressFamily::Inet
    } else {
        netlink_packet_route::AddressFamily::Inet6
    };
    m.header.prefix_len = prefix_len;
    m.header.index = ifindex;
    m.header.scope = AddressScope::Universe;
    m.attributes.push(AddressAttribute::Local(addr));
    m.attributes.push(AddressAttribute::Address(addr));
    m
}
