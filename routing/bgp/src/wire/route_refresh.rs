//! ROUTE-REFRESH (RFC 2918 §3) with the Message Subtype of RFC 7313 §3.2.

use thiserror::Error;

use super::header;
use super::notification::{ErrorCode, Notification, RouteRefreshSubcode};
use super::reader::Reader;
use super::types::{Afi, AfiSafi, HEADER_LEN, MessageType, Safi};

/// The Message Subtype (RFC 7313 §3.2; the Reserved octet of RFC 2918).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshSubtype {
    /// 0: a route refresh request.
    Normal,
    /// 1: Beginning of Route Refresh (BoRR).
    BeginRefresh,
    /// 2: End of Route Refresh (EoRR).
    EndRefresh,
    /// Any other value: the message MUST be ignored (RFC 7313 §5).
    Other(u8),
}

/// A ROUTE-REFRESH message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub afi_safi: AfiSafi,
    /// What kind of ROUTE-REFRESH.
    pub subtype: RefreshSubtype,
}

/// A BoRR or EoRR whose length is not 4 (RFC 7313 §5).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("BoRR/EoRR of {} octets", .message.len())]
pub struct RouteRefreshError {
    /// The complete message, for the NOTIFICATION's data.
    pub message: Vec<u8>,
}

impl RouteRefreshError {
    /// ROUTE-REFRESH Message Error / Invalid Message Length with the whole
    /// message as data (RFC 7313 §5). Only meaningful when the peer
    /// advertised Enhanced Route Refresh.
    pub fn notification(&self) -> Notification {
        Notification::with_data(
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
            self.message.clone(),
        )
    }
}

impl RouteRefresh {
    /// A plain refresh request for `afi_safi`.
    pub fn request(afi_safi: AfiSafi) -> Self {
        RouteRefresh {
            afi_safi,
            subtype: RefreshSubtype::Normal,
        }
    }

    /// Decodes a whole message (header included, for the error's data).
    /// A subtype-0 message longer than 4 octets carries ORF entries
    /// (RFC 5291), which routerd does not use and skips.
    pub fn decode(raw: &[u8]) -> Result<Self, RouteRefreshError> {
        let body = raw.get(HEADER_LEN..).unwrap_or_default();
        let bad = || RouteRefreshError {
            message: raw.to_vec(),
        };
        let mut r = Reader::new(body);
        let (Some(afi), Some(sub), Some(safi)) = (r.u16(), r.u8(), r.u8()) else {
            return Err(bad());
        };
        let subtype = match sub {
            0 => RefreshSubtype::Normal,
            1 => RefreshSubtype::BeginRefresh,
            2 => RefreshSubtype::EndRefresh,
            o => RefreshSubtype::Other(o),
        };
        if matches!(
            subtype,
            RefreshSubtype::BeginRefresh | RefreshSubtype::EndRefresh
        ) && !r.is_empty()
        {
            return Err(bad());
        }
        Ok(RouteRefresh {
            afi_safi: AfiSafi::new(Afi(afi), Safi(safi)),
            subtype,
        })
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = header::begin(out, MessageType::RouteRefresh);
        out.extend_from_slice(&self.afi_safi.afi.0.to_be_bytes());
        out.push(match self.subtype {
            RefreshSubtype::Normal => 0,
            RefreshSubtype::BeginRefresh => 1,
            RefreshSubtype::EndRefresh => 2,
            RefreshSubtype::Other(o) => o,
        });
        out.push(self.afi_safi.safi.0);
        header::finish(out, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_exact_with_subtypes() {
        for (subtype, octet) in [
            (RefreshSubtype::Normal, 0),
            (RefreshSubtype::BeginRefresh, 1),
            (RefreshSubtype::EndRefresh, 2),
        ] {
            let rr = RouteRefresh {
                afi_safi: AfiSafi::IPV6_UNICAST,
                subtype,
            };
            let mut out = Vec::new();
            rr.encode(&mut out);
            let mut want = vec![0xff; 16];
            want.extend_from_slice(&[0, 23, 5, 0, 2, octet, 1]);
            assert_eq!(out, want);
            assert_eq!(RouteRefresh::decode(&out), Ok(rr));
        }
    }

    #[test]
    fn borr_with_extra_octets_is_an_error_with_the_message() {
        let mut raw = vec![0xff; 16];
        raw.extend_from_slice(&[0, 24, 5, 0, 1, 1, 1, 9]);
        let err = RouteRefresh::decode(&raw).expect_err("BoRR must be 4 octets");
        let n = err.notification();
        assert_eq!(n.code.to_wire(), (7, 1));
        assert_eq!(n.data, raw);
        // A plain request with ORF data is accepted; unknown subtypes surface as Other.
        raw[21] = 0;
        assert_eq!(
            RouteRefresh::decode(&raw).map(|r| r.subtype),
            Ok(RefreshSubtype::Normal)
        );
        raw[21] = 9;
        assert_eq!(
            RouteRefresh::decode(&raw).map(|r| r.subtype),
            Ok(RefreshSubtype::Other(9))
        );
    }
}
