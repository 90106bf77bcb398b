//! What a lookup returns: the records, how long they may be used, and who
//! answered. NXDOMAIN and NODATA are answers too (RFC 2308), not failures.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// What kind of answer the upstream gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Records of the type asked for.
    Records,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no records of that type (NOERROR, empty).
    NoData,
}

impl fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerKind::Records => "records",
            AnswerKind::NxDomain => "NXDOMAIN",
            AnswerKind::NoData => "NODATA",
        })
    }
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    /// Owner name, fully qualified (a CNAME chain has several).
    pub name: String,
    /// The record's type (a CNAME in the chain keeps its own type).
    pub record_type: RecordType,
    /// TTL in seconds as the upstream sent it.
    pub ttl: u32,
    /// The record data, hickory's decoded form; `Display` gives the zone-file text.
    pub data: RData,
}

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The name looked up, lower case and fully qualified.
    pub name: String,
    /// The record type asked for.
    pub record_type: RecordType,
    /// Records, NXDOMAIN or NODATA.
    pub kind: AnswerKind,
    /// The A/AAAA addresses among the records of the type asked for, in the
    /// upstream's order: what an A, AAAA or [`lookup_ip`](crate::Forwarding::lookup_ip) caller wants.
    pub addresses: Vec<IpAddr>,
    /// The whole answer section (CNAMEs included); empty for NXDOMAIN/NODATA.
    pub records: Vec<AnswerRecord>,
    /// Seconds the answer may still be used: the smallest TTL of the answer
    /// section, or the negative TTL from the SOA (0 without one), capped by
    /// the options; counts down while cached.
    pub ttl: u32,
    /// The forwarder whose `match` covered the name.
    pub forwarder: String,
    /// The upstream that answered.
    pub upstream: String,
    /// The address of the upstream that answered.
    pub server: IpAddr,
    /// Whether it came from the cache rather than from the wire.
    pub cached: bool,
}

impl Answer {
    /// The IPv6 addresses of the answer.
    pub fn ipv6(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.addresses.iter().filter_map(|a| match a {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        })
    }

    /// The IPv4 addresses of the answer.
    pub fn ipv4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.addresses.iter().filter_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
    }
}

/// The answer to [`lookup_ip`](crate::Forwarding::lookup_ip): AAAA and A together.
#[derive(Debug, Clone, PartialEq)]
pub struct IpAnswer {
    /// IPv6 addresses first, then IPv4.
    pub addresses: Vec<IpAddr>,
    /// The smaller TTL of the two answers that came back.
    pub ttl: u32,
    /// The AAAA answer, `None` if that lookup failed (the failure is in the
    /// upstreams' status and the log).
    pub ipv6: Option<Answer>,
    /// The A answer, `None` if that lookup failed.
    pub ipv4: Option<Answer>,
}

/// What one upstream said, before it becomes an [`Answer`].
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A response with an answer section (NOERROR, or NXDOMAIN after a CNAME).
    Records {
        rcode: ResponseCode,
        answers: Vec<Record>,
    },
    /// NXDOMAIN or NODATA without answers; `negative_ttl` from the SOA, if any.
    Negative {
        nxdomain: bool,
        negative_ttl: Option<u32>,
    },
}

/// Who answered, for the [`Answer`].
pub(crate) struct Origin<'a> {
    pub(crate) forwarder: &'a str,
    pub(crate) upstream: &'a str,
    pub(crate) server: IpAddr,
}

/// Caps applied to TTLs before they are reported and cached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TtlCaps {
    pub(crate) max_ttl: Duration,
    pub(crate) max_negative_ttl: Duration,
}

/// Builds the answer to `name`/`record_type` from an upstream's reply.
pub(crate) fn build(
    name: &Name,
    record_type: RecordType,
    reply: Reply,
    origin: Origin<'_>,
    caps: TtlCaps,
) -> Answer {
    let (kind, records, ttl) = match reply {
        Reply::Negative {
            nxdomain,
            negative_ttl,
        } => {
            let kind = if nxdomain {
                AnswerKind::NxDomain
            } else {
                AnswerKind::NoData
            };
            // RFC 2308 §5: without an SOA there is no negative TTL, and such an
            // answer should not be cached at all.
            let ttl = cap(negative_ttl.unwrap_or(0), caps.max_negative_ttl);
            (kind, Vec::new(), ttl)
        }
        Reply::Records { rcode, answers } => {
            let ttl = cap(
                answers.iter().map(|r| r.ttl).min().unwrap_or(0),
                caps.max_ttl,
            );
            let has_type = answers.iter().any(|r| r.record_type() == record_type);
            let kind = if has_type {
                AnswerKind::Records
            } else if rcode == ResponseCode::NXDomain {
                // A CNAME to a name that does not exist.
                AnswerKind::NxDomain
            } else {
                // A CNAME chain that ends without the type asked for.
                AnswerKind::NoData
            };
            (kind, answers, ttl)
        }
    };
    let addresses = records
        .iter()
        .filter(|r| r.record_type() == record_type)
        .filter_map(|r| r.data.ip_addr())
        .collect();
    Answer {
        name: name.to_ascii(),
        record_type,
        kind,
        addresses,
        records: records
            .into_iter()
            .map(|r| AnswerRecord {
                name: r.name.to_ascii(),
                record_type: r.record_type(),
                ttl: r.ttl,
                data: r.data,
            })
            .collect(),
        ttl,
        forwarder: origin.forwarder.to_string(),
        upstream: origin.upstream.to_string(),
        server: origin.server,
        cached: false,
    }
}

fn cap(ttl: u32, max: Duration) -> u32 {
    u32::try_from(max.as_secs()).map_or(ttl, |max| ttl.min(max))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn origin() -> Origin<'static> {
        Origin {
            forwarder: "f",
            upstream: "u",
            server: IpAddr::from([127, 0, 0, 1]),
        }
    }

    const CAPS: TtlCaps = TtlCaps {
        max_ttl: Duration::from_secs(100),
        max_negative_ttl: Duration::from_secs(10),
    };

    #[test]
    fn addresses_come_from_records_of_the_asked_type_and_the_ttl_is_the_smallest() {
        let q = name("www.example.net.");
        let target = name("host.example.net.");
        let answers = vec![
            Record::from_rdata(q.clone(), 300, RData::CNAME(CNAME(target.clone()))),
            Record::from_rdata(
                target.clone(),
                60,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ),
            Record::from_rdata(
                target,
                90,
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            ),
        ];
        let a = build(
            &q,
            RecordType::AAAA,
            Reply::Records {
                rcode: ResponseCode::NoError,
                answers,
            },
            origin(),
            CAPS,
        );
        assert_eq!(a.kind, AnswerKind::Records);
        assert_eq!(a.ttl, 60);
        assert_eq!(a.records.len(), 3);
        assert_eq!(a.records[0].record_type, RecordType::CNAME);
        assert_eq!(
            a.ipv6().map(|v| v.to_string()).collect::<Vec<_>>(),
            ["2001:db8::1", "2001:db8::2"]
        );
        assert_eq!(a.ipv4().count(), 0);
        assert_eq!(a.name, "www.example.net.");
    }

    #[test]
    fn ttls_are_capped() {
        let q = name("a.example.");
        let a = build(
            &q,
            RecordType::A,
            Reply::Records {
                rcode: ResponseCode::NoError,
                answers: vec![Record::from_rdata(
                    q.clone(),
                    86_400,
                    RData::A(A::new(192, 0, 2, 1)),
                )],
            },
            origin(),
            CAPS,
        );
        assert_eq!(a.ttl, 100);
        let neg = build(
            &q,
            RecordType::A,
            Reply::Negative {
                nxdomain: true,
                negative_ttl: Some(3600),
            },
            origin(),
            CAPS,
        );
        assert_eq!((neg.kind, neg.ttl), (AnswerKind::NxDomain, 10));
        let no_soa = build(
            &q,
            RecordType::A,
            Reply::Negative {
                nxdomain: false,
                negative_ttl: None,
            },
            origin(),
            CAPS,
        );
        assert_eq!((no_soa.kind, no_soa.ttl), (AnswerKind::NoData, 0));
    }

    #[test]
    fn a_cname_to_nowhere_is_nxdomain_or_nodata() {
        let q = name("alias.example.");
        let chain = vec![Record::from_rdata(
            q.clone(),
            30,
            RData::CNAME(CNAME(name("gone.example."))),
        )];
        let nx = build(
            &q,
            RecordType::A,
            Reply::Records {
                rcode: ResponseCode::NXDomain,
                answers: chain.clone(),
            },
            origin(),
            CAPS,
        );
        assert_eq!(nx.kind, AnswerKind::NxDomain);
        let nodata = build(
            &q,
            RecordType::A,
            Reply::Records {
                rcode: ResponseCode::NoError,
                answers: chain,
            },
            origin(),
            CAPS,
        );
        assert_eq!(nodata.kind, AnswerKind::NoData);
        assert!(nodata.addresses.is_empty());
    }
}
