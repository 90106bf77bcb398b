//! Classless static routes (option 121, RFC 3442) in their compact wire
//! form: each route is a prefix length (0..=32), only the significant
//! octets of the destination (`ceil(len / 8)` of them), then the router.
//!
//! A malformed option is refused whole, not half-used: a length above 32, a
//! truncated entry, or a destination with bits set beyond its prefix length.
//! Installing half of a routing table could send traffic the wrong way; with
//! no option 121 the client still has option 3 to fall back on.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One static route. A gateway of 0.0.0.0 means the destination is on-link
/// (RFC 3442 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    /// The destination prefix (host bits zero).
    pub destination: Ipv4Net,
    /// The router, or 0.0.0.0 for on-link.
    pub gateway: Ipv4Addr,
}

/// Why an option 121 is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RouteError {
    /// The option is empty (RFC 3442: its minimum length is 5).
    #[error("empty classless static route option")]
    Empty,
    /// A prefix length above 32.
    #[error("route {index}: prefix length {len} is above 32")]
    PrefixLength {
        /// 0-based entry.
        index: usize,
        /// The length given.
        len: u8,
    },
    /// The option ends inside an entry.
    #[error("route {index}: truncated")]
    Truncated {
        /// 0-based entry.
        index: usize,
    },
    /// The destination has bits set past its prefix length.
    #[error("route {index}: destination has host bits set")]
    HostBits {
        /// 0-based entry.
        index: usize,
    },
}

/// Decodes an option 121 value.
pub fn decode(mut b: &[u8]) -> Result<Vec<Route>, RouteError> {
    if b.is_empty() {
        return Err(RouteError::Empty);
    }
    let mut routes = Vec::new();
    while let Some((&len, rest)) = b.split_first() {
        let index = routes.len();
        if len > 32 {
            return Err(RouteError::PrefixLength { index, len });
        }
        let significant = usize::from(len).div_ceil(8);
        let Some((dest, rest)) = rest.split_at_checked(significant) else {
            return Err(RouteError::Truncated { index });
        };
        let Some((gw, rest)) = rest.split_first_chunk::<4>() else {
            return Err(RouteError::Truncated { index });
        };
        let mut octets = [0u8; 4];
        octets[..significant].copy_from_slice(dest);
        let destination = Ipv4Net::new(Ipv4Addr::from(octets), len)
            .map_err(|_| RouteError::PrefixLength { index, len })?;
        if destination.network() != destination.addr() {
            return Err(RouteError::HostBits { index });
        }
        routes.push(Route {
            destination,
            gateway: Ipv4Addr::from(*gw),
        });
        b = rest;
    }
    Ok(routes)
}

/// Encodes routes as an option 121 value (the destinations' host bits are
/// dropped).
pub fn encode(routes: &[Route]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in routes {
        let len = r.destination.prefix_len();
        let significant = usize::from(len).div_ceil(8);
        out.push(len);
        out.extend_from_slice(&r.destination.network().octets()[..significant]);
        out.extend_from_slice(&r.gateway.octets());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dest: &str, gw: &str) -> Route {
        Route {
            destination: dest.parse().expect("prefix"),
            gateway: gw.parse().expect("address"),
        }
    }

    #[test]
    fn the_rfc_3442_examples_round_trip() {
        // RFC 3442 §2's table: 0/0, 10/8, 10.17/16, 10.27.129/24,
        // 10.229.0.128/25, 10.198.122.47/32 (significant octets only).
        let routes = vec![
            route("0.0.0.0/0", "192.0.2.1"),
            route("10.0.0.0/8", "192.0.2.2"),
            route("10.17.0.0/16", "0.0.0.0"),
            route("10.27.129.0/24", "192.0.2.3"),
            route("10.229.0.128/25", "192.0.2.4"),
            route("10.198.122.47/32", "192.0.2.5"),
        ];
        let bytes = encode(&routes);
        assert_eq!(&bytes[..5], &[0, 192, 0, 2, 1]);
        assert_eq!(&bytes[5..11], &[8, 10, 192, 0, 2, 2]);
        assert_eq!(&bytes[11..18], &[16, 10, 17, 0, 0, 0, 0]);
        assert_eq!(&bytes[18..26], &[24, 10, 27, 129, 192, 0, 2, 3]);
        assert_eq!(&bytes[26..35], &[25, 10, 229, 0, 128, 192, 0, 2, 4]);
        assert_eq!(&bytes[35..], &[32, 10, 198, 122, 47, 192, 0, 2, 5]);
        assert_eq!(decode(&bytes), Ok(routes));
    }

    #[test]
    fn malformed_options_are_refused_whole() {
        assert_eq!(decode(&[]), Err(RouteError::Empty));
        assert_eq!(
            decode(&[33, 10, 0, 0, 0, 0, 192, 0, 2, 1]),
            Err(RouteError::PrefixLength { index: 0, len: 33 })
        );
        // A good route, then one cut short in its gateway.
        assert_eq!(
            decode(&[8, 10, 192, 0, 2, 1, 24, 10, 1, 2, 192, 0]),
            Err(RouteError::Truncated { index: 1 })
        );
        assert_eq!(
            decode(&[24, 10, 1]),
            Err(RouteError::Truncated { index: 0 })
        );
        // 10.255.0.0/9: the second octet has a bit past the prefix.
        assert_eq!(
            decode(&[9, 10, 255, 192, 0, 2, 1]),
            Err(RouteError::HostBits { index: 0 })
        );
    }

    #[test]
    fn dhcproto_reads_what_we_write() {
        use dhcproto::v4::{DhcpOption, DhcpOptions, OptionCode};
        use dhcproto::{Decodable, Decoder, Encodable, Encoder};
        let routes = vec![
            route("10.0.0.0/8", "192.0.2.1"),
            route("172.16.0.0/12", "0.0.0.0"),
        ];
        let mut opts = DhcpOptions::new();
        opts.insert(DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
            OptionCode::ClasslessStaticRoute,
            encode(&routes),
        )));
        let mut buf = Vec::new();
        opts.encode(&mut Encoder::new(&mut buf)).expect("encodes");
        let back = DhcpOptions::decode(&mut Decoder::new(&buf)).expect("decodes");
        let Some(DhcpOption::ClasslessStaticRoute(theirs)) =
            back.get(OptionCode::ClasslessStaticRoute)
        else {
            panic!("dhcproto did not read option 121: {back:?}");
        };
        let theirs: Vec<Route> = theirs
            .iter()
            .map(|(d, g)| Route {
                destination: *d,
                gateway: *g,
            })
            .collect();
        assert_eq!(theirs, routes);
    }
}
