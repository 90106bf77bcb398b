//! The UPDATE message (RFC 4271 §4.3), decoded with RFC 7606 error handling.
//!
//! Decoding borrows the message: the withdrawn routes and NLRI stay in the
//! framer's buffer and are iterated in place; only the attribute set is
//! owned, ready to be interned by the RIB.

pub(crate) mod encoder;
pub(crate) mod mp;
pub(crate) mod problem;

use ipnet::Ipv4Net;

use crate::wire::attrs::decode::walk;
use crate::wire::attrs::{AttrType, NextHop, PathAttributes};
use crate::wire::prefix::{Nlri, Prefixes};
use crate::wire::reader::Reader;
use crate::wire::types::{AfiSafi, SessionParams};

pub use encoder::{EncodeError, UpdateEncoder};
pub use mp::{MpReach, MpUnreach};
pub use problem::{ErrorAction, Problem, ProblemKind, UpdateError};

/// A decoded UPDATE that does not reset the session.
///
/// How a RIB applies it:
/// 1. drop and stop accepting each of [`Update::disabled_families`];
/// 2. withdraw every prefix of [`Update::unreachable`];
/// 3. for each [`Update::reachable`] group, intern [`Update::attrs_for`] once
///    and install its prefixes with it.
///
/// Under treat-as-withdraw, step 3 yields nothing and step 2 includes the
/// prefixes the UPDATE tried to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<'a> {
    /// The Withdrawn Routes field (IPv4 unicast).
    pub withdrawn: Prefixes<'a, Ipv4Net>,
    /// The path attributes (MP attributes excepted).
    pub attrs: PathAttributes,
    /// The NLRI field (IPv4 unicast).
    pub nlri: Prefixes<'a, Ipv4Net>,
    /// MP_REACH_NLRI, when present and decodable.
    pub mp_reach: Option<MpReach<'a>>,
    /// MP_UNREACH_NLRI, when present and decodable.
    pub mp_unreach: Option<MpUnreach<'a>>,
    /// Problems found (RFC 7606), none of them a session reset.
    pub problems: Vec<Problem>,
    end_of_rib: Option<AfiSafi>,
}

/// A group of announced prefixes sharing one next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach<'a> {
    /// The next hop.
    pub next_hop: NextHop,
    /// The prefixes.
    pub nlri: Nlri<'a>,
}

impl<'a> Update<'a> {
    /// Decodes an UPDATE body (after the header).
    pub fn decode(body: &'a [u8], params: &SessionParams) -> Result<Self, UpdateError> {
        use ErrorAction::{AttributeDiscard, SessionReset, TreatAsWithdraw};
        let mut problems = Vec::new();
        let reset = |mut problems: Vec<Problem>, p: Problem| {
            let notification = p.notification();
            problems.insert(0, p);
            UpdateError {
                problems,
                notification,
            }
        };
        // RFC 4271 §6.3 / RFC 7606 §3b: the two lengths must fit the message.
        let mut r = Reader::new(body);
        let fields = (|| {
            let wlen = r.u16()?;
            let w = r.take(usize::from(wlen))?;
            let alen = r.u16()?;
            let a = r.take(usize::from(alen))?;
            Some((w, a, r.rest()))
        })();
        let Some((withdrawn, attr_bytes, nlri)) = fields else {
            return Err(reset(
                problems,
                Problem::new(None, ProblemKind::LengthsOverrun, SessionReset),
            ));
        };
        // §3i, §5.3, §3j: a classic field that cannot be parsed resets the
        // session (RFC 4271 §6.3 Invalid Network Field).
        let withdrawn = Prefixes::parse(withdrawn)
            .map_err(|e| Problem::new(None, ProblemKind::Withdrawn(e), SessionReset));
        let nlri = Prefixes::parse(nlri)
            .map_err(|e| Problem::new(None, ProblemKind::Nlri(e), SessionReset));
        let (withdrawn, nlri) = match (withdrawn, nlri) {
            (Ok(w), Ok(n)) => (w, n),
            (Err(p), _) | (_, Err(p)) => return Err(reset(problems, p)),
        };

        let w = walk(attr_bytes, params, &mut problems);

        // §3d: ORIGIN and AS_PATH whenever something is announced; NEXT_HOP
        // only for the classic NLRI field (RFC 4760 §3 makes it optional
        // otherwise).
        let announces = !nlri.is_empty() || w.mp_reach_present;
        if announces {
            let classic = !nlri.is_empty();
            for (t, needed) in [
                (AttrType::ORIGIN, true),
                (AttrType::AS_PATH, true),
                (AttrType::NEXT_HOP, classic),
            ] {
                if needed && !w.has(t) {
                    problems.push(Problem::new(Some(t), ProblemKind::Missing, TreatAsWithdraw));
                }
            }
        }
        // §5.2: attributes besides MP_UNREACH_NLRI, nothing announced, and an
        // error worse than attribute discard: the NLRI cannot be trusted.
        if !announces
            && w.other_than_unreach
            && problems.iter().any(|p| p.action > AttributeDiscard)
        {
            let p = Problem::new(None, ProblemKind::NoReachableNlri, SessionReset);
            return Err(reset(problems, p));
        }
        if let Some(i) = problems.iter().position(|p| p.action == SessionReset) {
            let notification = problems[i].notification();
            let decisive = problems.remove(i);
            problems.insert(0, decisive);
            return Err(UpdateError {
                problems,
                notification,
            });
        }
        // RFC 4724 §2: End-of-RIB is an UPDATE with nothing in it (IPv4
        // unicast) or only an empty MP_UNREACH_NLRI.
        let end_of_rib = if !withdrawn.is_empty() || announces || w.other_than_unreach {
            None
        } else if attr_bytes.is_empty() {
            Some(AfiSafi::IPV4_UNICAST)
        } else {
            w.empty_unreach
        };
        Ok(Update {
            withdrawn,
            attrs: w.attrs,
            nlri,
            mp_reach: w.mp_reach,
            mp_unreach: w.mp_unreach,
            problems,
            end_of_rib,
        })
    }

    /// The strongest action among the problems (RFC 7606 §3h), `None` for a
    /// clean UPDATE.
    pub fn action(&self) -> Option<ErrorAction> {
        self.problems.iter().map(|p| p.action).max()
    }

    /// False under treat-as-withdraw (or worse): nothing may be installed.
    pub fn announces(&self) -> bool {
        self.action() < Some(ErrorAction::TreatAsWithdraw)
    }

    /// Families whose MP attribute was malformed (RFC 4760 §7 / RFC 7606
    /// §2 AFI/SAFI disable).
    pub fn disabled_families(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.problems
            .iter()
            .filter(|p| p.action == ErrorAction::AfiSafiDisable)
            .filter_map(|p| p.afi_safi)
    }

    /// The family this UPDATE marks End-of-RIB for (RFC 4724 §2).
    pub fn end_of_rib(&self) -> Option<AfiSafi> {
        self.end_of_rib
    }

    fn disabled(&self, f: AfiSafi) -> bool {
        self.disabled_families().any(|d| d == f)
    }

    /// The announced prefixes with their next hops: the classic NLRI field
    /// (with NEXT_HOP) and MP_REACH_NLRI. Empty under treat-as-withdraw;
    /// disabled families are left out.
    pub fn reachable(&self) -> impl Iterator<Item = Reach<'a>> + '_ {
        let ok = self.announces();
        let classic = match (ok, self.attrs.next_hop) {
            (true, Some(next_hop))
                if !self.nlri.is_empty() && !self.disabled(AfiSafi::IPV4_UNICAST) =>
            {
                Some(Reach {
                    next_hop,
                    nlri: Nlri::V4(self.nlri),
                })
            }
            _ => None,
        };
        let mp = self
            .mp_reach
            .filter(|m| ok && !m.nlri.is_empty() && !self.disabled(m.afi_safi))
            .map(|m| Reach {
                next_hop: m.next_hop,
                nlri: m.nlri,
            });
        classic.into_iter().chain(mp)
    }

    /// Every prefix this UPDATE removes: the Withdrawn Routes field and
    /// MP_UNREACH_NLRI, plus, under treat-as-withdraw, everything it tried
    /// to announce (RFC 7606 §2). Disabled families are left out.
    pub fn unreachable(&self) -> impl Iterator<Item = Nlri<'a>> + '_ {
        let taw = !self.announces();
        [
            Some(Nlri::V4(self.withdrawn)),
            self.mp_unreach.map(|m| m.withdrawn),
            taw.then_some(Nlri::V4(self.nlri)),
            self.mp_reach.filter(|_| taw).map(|m| m.nlri),
        ]
        .into_iter()
        .flatten()
        .filter(move |n| !n.is_empty() && !self.disabled(n.afi_safi()))
    }

    /// The attribute set a route of `reach` carries: [`Update::attrs`] with
    /// the group's next hop (a clone only when it differs).
    pub fn attrs_for(&self, reach: &Reach<'_>) -> PathAttributes {
        if self.attrs.next_hop == Some(reach.next_hop) {
            self.attrs.clone()
        } else {
            self.attrs.with_next_hop(reach.next_hop)
        }
    }
}
