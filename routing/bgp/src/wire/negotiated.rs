//! What two OPENs agree on: the session parameters the codec and the FSM use.

use super::capability::{Capability, ExtendedNextHop, Fqdn, GracefulRestart};
use super::open::Open;
use super::types::{AfiSafi, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, SessionParams};

/// The outcome of an OPEN exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's real ASN.
    pub peer_asn: u32,
    /// The smaller of the two Hold Times (0: no keepalives, no hold timer).
    pub hold_time: u16,
    /// Both sides advertised 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides advertised; IPv4 unicast is implied for a side
    /// that sent no Multiprotocol capability at all.
    pub families: Vec<AfiSafi>,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Both sides advertised Enhanced Route Refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Both sides advertised IPv4 unicast NLRI with IPv6 next hops (RFC 8950).
    pub ipv4_extended_next_hop: bool,
    /// The peer may receive messages up to 65535 octets (RFC 8654 §4: we
    /// may send them once it advertised the capability).
    pub extended_message_send: bool,
    /// We advertised extended messages, so the peer may send them to us.
    pub extended_message_recv: bool,
    /// The peer's Graceful Restart capability, if any.
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// The peer's hostname capability, if any.
    pub peer_fqdn: Option<Fqdn>,
}

impl Negotiated {
    /// Combines our OPEN with the peer's.
    pub fn new(local: &Open, remote: &Open) -> Self {
        let fams = |o: &Open| {
            let v: Vec<AfiSafi> = o.multiprotocol().collect();
            if v.is_empty() {
                vec![AfiSafi::IPV4_UNICAST]
            } else {
                v
            }
        };
        let ours = fams(local);
        let mut families: Vec<AfiSafi> = fams(remote)
            .into_iter()
            .filter(|f| ours.contains(f))
            .collect();
        families.sort();
        families.dedup();
        let ext_nh = |o: &Open| {
            o.capabilities.iter().any(|c| match c {
                Capability::ExtendedNextHop(list) => {
                    list.contains(&ExtendedNextHop::IPV4_UNICAST_OVER_IPV6)
                }
                _ => false,
            })
        };
        let has = |o: &Open, f: fn(&Capability) -> bool| o.capabilities.iter().any(f);
        Negotiated {
            peer_asn: remote.asn(),
            hold_time: local.hold_time.min(remote.hold_time),
            four_octet_as: local.four_octet_as().is_some() && remote.four_octet_as().is_some(),
            families,
            route_refresh: has(remote, |c| {
                matches!(
                    c,
                    Capability::RouteRefresh | Capability::EnhancedRouteRefresh
                )
            }),
            enhanced_route_refresh: has(local, |c| matches!(c, Capability::EnhancedRouteRefresh))
                && has(remote, |c| matches!(c, Capability::EnhancedRouteRefresh)),
            ipv4_extended_next_hop: ext_nh(local) && ext_nh(remote),
            extended_message_send: has(remote, |c| matches!(c, Capability::ExtendedMessage)),
            extended_message_recv: has(local, |c| matches!(c, Capability::ExtendedMessage)),
            peer_graceful_restart: remote.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(g) => Some(g.clone()),
                _ => None,
            }),
            peer_fqdn: remote.capabilities.iter().find_map(|c| match c {
                Capability::Fqdn(f) => Some(f.clone()),
                _ => None,
            }),
        }
    }

    /// The codec parameters for this session; `external` says whether the
    /// peer is an eBGP neighbour.
    pub fn params(&self, external: bool) -> SessionParams {
        SessionParams {
            four_octet_as: self.four_octet_as,
            external,
            ipv4_extended_next_hop: self.ipv4_extended_next_hop,
            max_send_len: if self.extended_message_send {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            },
        }
    }

    /// The framer's limit for received messages ([`super::Framer::set_max_len`]).
    pub fn recv_max_len(&self) -> usize {
        if self.extended_message_recv {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// True if both sides agreed on this family.
    pub fn has_family(&self, f: AfiSafi) -> bool {
        self.families.contains(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 0, 0, 1)
    }

    #[test]
    fn intersection_and_asymmetric_extended_messages() {
        let local = Open::new(
            65001,
            90,
            id(),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
                Capability::ExtendedMessage,
                Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]),
            ],
        );
        let mut remote = Open::new(
            4_200_000_000,
            30,
            id(),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
            ],
        );
        let n = Negotiated::new(&local, &remote);
        assert_eq!(n.peer_asn, 4_200_000_000);
        assert_eq!(n.hold_time, 30);
        assert!(n.four_octet_as);
        assert_eq!(n.families, vec![AfiSafi::IPV6_UNICAST]);
        assert!(n.route_refresh && !n.enhanced_route_refresh && !n.ipv4_extended_next_hop);
        assert!(!n.extended_message_send && n.extended_message_recv);
        assert_eq!(n.recv_max_len(), 65535);
        assert_eq!(n.params(true).max_send_len, 4096);
        // An old speaker with no capabilities: IPv4 unicast, 2-octet ASNs.
        remote.capabilities.clear();
        remote.my_as = 65002;
        let n = Negotiated::new(&local, &remote);
        assert_eq!(n.families, vec![AfiSafi::IPV4_UNICAST]);
        assert!(!n.four_octet_as);
        assert_eq!(n.peer_asn, 65002);
    }
}
