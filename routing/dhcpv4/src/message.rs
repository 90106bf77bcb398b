//! The client's view of DHCP messages: what it sends ([`Outgoing`]) and what
//! it reads from a server's reply ([`Reply`]). The codec turns these into
//! bytes and back; the state machine never sees bytes.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::routes::Route;
use crate::timers::LeaseTimes;

/// Who the client is on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The interface's Ethernet address (`chaddr`).
    pub mac: [u8; 6],
    /// Client identifier (option 61), sent in every message.
    pub client_id: Vec<u8>,
    /// Hostname (option 12), if any.
    pub hostname: Option<String>,
    /// Vendor class identifier (option 60), if any.
    pub class_id: Option<Vec<u8>>,
}

impl Identity {
    /// The RFC 2132 §9.14 default client identifier: hardware type 1
    /// (Ethernet) followed by the MAC.
    pub fn default_client_id(mac: [u8; 6]) -> Vec<u8> {
        let mut id = vec![1];
        id.extend_from_slice(&mac);
        id
    }
}

/// A message the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MessageKind {
    /// DHCPDISCOVER.
    Discover,
    /// DHCPREQUEST (selecting, init-reboot, renewing or rebinding).
    Request,
    /// DHCPRELEASE.
    Release,
}

impl MessageKind {
    /// The name used in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Discover => "DHCPDISCOVER",
            MessageKind::Request => "DHCPREQUEST",
            MessageKind::Release => "DHCPRELEASE",
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255 on the client's interface.
    Broadcast,
    /// One server (RENEWING, RELEASE).
    Unicast(Ipv4Addr),
}

/// A message to send, fully decided: the codec only encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Which message.
    pub kind: MessageKind,
    /// Where it goes.
    pub to: Destination,
    /// Transaction id (the same for every retransmission).
    pub xid: u32,
    /// Seconds since the client began acquiring or renewing (`secs`).
    pub secs: u16,
    /// `ciaddr`: the client's address when it has one (RENEWING,
    /// REBINDING, RELEASE), else 0.0.0.0.
    pub ciaddr: Ipv4Addr,
    /// Requested IP address (option 50): SELECTING and INIT-REBOOT.
    pub requested: Option<Ipv4Addr>,
    /// Server identifier (option 54): SELECTING and RELEASE.
    pub server_id: Option<Ipv4Addr>,
    /// The BROADCAST flag: ask the server to broadcast its reply.
    pub broadcast_flag: bool,
}

/// The kind of a server's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// The configuration a lease carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseOptions {
    /// Subnet mask (option 1) as a prefix length; `None` if absent or not
    /// a contiguous mask.
    pub prefix_len: Option<u8>,
    /// Routers (option 3), in the server's order.
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (option 15), if it is a plausible domain name.
    pub domain: Option<String>,
    /// Interface MTU (option 26), if at least 68 (RFC 2132 §5.1).
    pub mtu: Option<u16>,
    /// Classless static routes (option 121); `None` when absent or refused.
    pub routes: Option<Vec<Route>>,
}

impl LeaseOptions {
    /// The address with its prefix: the mask sent, else the classful
    /// default for the address (RFC 1122 §3.3.1.1 fallback).
    pub fn network(&self, address: Ipv4Addr) -> Ipv4Net {
        let len = self.prefix_len.unwrap_or_else(|| classful(address));
        Ipv4Net::new(address, len).unwrap_or_else(|_| Ipv4Net::from(address))
    }

    /// The default gateway: with option 121 present, the router of its
    /// 0.0.0.0/0 entry (RFC 3442 §4: option 3 is then ignored); otherwise
    /// the first router of option 3. `None` when there is none, or when the
    /// default route is on-link.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        match &self.routes {
            Some(routes) => routes
                .iter()
                .find(|r| r.destination.prefix_len() == 0)
                .map(|r| r.gateway)
                .filter(|g| !g.is_unspecified()),
            None => self.routers.first().copied(),
        }
    }
}

fn classful(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// A server's reply as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK or NAK.
    pub kind: ReplyKind,
    /// Transaction id.
    pub xid: u32,
    /// `chaddr` (its first `hlen` bytes, at most 16).
    pub chaddr: Vec<u8>,
    /// `yiaddr`: the address offered or acknowledged.
    pub yiaddr: Ipv4Addr,
    /// Server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
    /// Client identifier echoed by the server (option 61, RFC 6842), if any.
    pub client_id: Option<Vec<u8>>,
    /// Lease time, T1, T2 as sent.
    pub times: LeaseTimes,
    /// The configuration offered.
    pub options: LeaseOptions,
    /// Option 121 was present but malformed (and is ignored).
    pub routes_refused: bool,
    /// Message (option 56), e.g. why a NAK.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_or_the_class_gives_the_prefix() {
        let with = LeaseOptions {
            prefix_len: Some(26),
            ..Default::default()
        };
        let a: Ipv4Addr = "192.0.2.70".parse().expect("ip");
        assert_eq!(with.network(a).to_string(), "192.0.2.70/26");
        let without = LeaseOptions::default();
        assert_eq!(without.network(a).to_string(), "192.0.2.70/24");
        assert_eq!(
            without.network("10.1.2.3".parse().expect("ip")).to_string(),
            "10.1.2.3/8"
        );
    }

    #[test]
    fn classless_routes_override_option_3_for_the_default_gateway() {
        let r = |d: &str, g: &str| Route {
            destination: d.parse().expect("net"),
            gateway: g.parse().expect("ip"),
        };
        let mut o = LeaseOptions {
            routers: vec!["192.0.2.1".parse().expect("ip")],
            ..Default::default()
        };
        assert_eq!(o.gateway(), Some("192.0.2.1".parse().expect("ip")));
        o.routes = Some(vec![r("10.0.0.0/8", "192.0.2.9")]);
        assert_eq!(o.gateway(), None, "option 3 is ignored with option 121");
        o.routes = Some(vec![r("0.0.0.0/0", "192.0.2.254")]);
        assert_eq!(o.gateway(), Some("192.0.2.254".parse().expect("ip")));
    }
}
