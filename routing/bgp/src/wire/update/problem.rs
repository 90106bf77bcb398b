//! RFC 7606 revised error handling: what was wrong with an UPDATE and what
//! the receiver must do about it.

use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

use crate::wire::attrs::{AsPathError, AttrType};
use crate::wire::notification::{ErrorCode, Notification, UpdateSubcode};
use crate::wire::prefix::NlriError;
use crate::wire::types::{AfiSafi, HEADER_LEN, MAX_MESSAGE_LEN};

/// The four approaches of RFC 7606 §2, weakest first, so the strongest of
/// several is their maximum (§3h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorAction {
    /// The attribute was dropped; the UPDATE is otherwise processed.
    AttributeDiscard,
    /// Every route the UPDATE announces is withdrawn instead.
    TreatAsWithdraw,
    /// The family's routes from this peer are dropped and its further routes
    /// ignored for the rest of the session (RFC 4760 §7). The FSM may reset
    /// the session instead, with [`Problem::notification`].
    AfiSafiDisable,
    /// The session must be reset with a NOTIFICATION.
    SessionReset,
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AttributeDiscard => "attribute discard",
            Self::TreatAsWithdraw => "treat-as-withdraw",
            Self::AfiSafiDisable => "AFI/SAFI disable",
            Self::SessionReset => "session reset",
        })
    }
}

/// What was wrong.
#[derive(Clone, Debug, Error, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Withdrawn Routes Length or Total Attribute Length overruns the
    /// message (RFC 4271 §6.3, RFC 7606 §3b).
    #[error("withdrawn routes or attribute length overruns the message")]
    LengthsOverrun,
    /// The Withdrawn Routes field is syntactically incorrect (§3i, §5.3).
    #[error("withdrawn routes: {0}")]
    Withdrawn(NlriError),
    /// The NLRI field is syntactically incorrect (§5.3).
    #[error("NLRI: {0}")]
    Nlri(NlriError),
    /// Fewer octets left than an attribute header needs (§4).
    #[error("truncated attribute header")]
    TruncatedAttribute,
    /// An attribute runs past the Total Attribute Length (§4).
    #[error("attribute overruns the path attributes")]
    AttributeOverrun,
    /// Optional/Transitive bits conflict with the type (§3c).
    #[error("flags {0:#04x} conflict with the type")]
    Flags(u8),
    /// A length the attribute's specification does not allow (§4, §7).
    #[error("bad length {0}")]
    Length(usize),
    /// ORIGIN with an undefined value (§7.1).
    #[error("undefined ORIGIN value {0}")]
    InvalidOrigin(u8),
    /// A malformed AS_PATH or AS4_PATH (§7.2, RFC 6793 §6).
    #[error("{0}")]
    AsPath(AsPathError),
    /// AS_CONFED segments from an external peer (RFC 5065 §5): a malformed
    /// AS_PATH.
    #[error("confederation segment from an external peer")]
    ConfedFromExternal,
    /// NEXT_HOP that is not a unicast host address (RFC 4271 §6.3).
    #[error("NEXT_HOP {0} is not a unicast host address")]
    InvalidNextHop(Ipv4Addr),
    /// LOCAL_PREF, ORIGINATOR_ID or CLUSTER_LIST from an external peer
    /// (§7.5, §7.9, §7.10).
    #[error("not accepted from an external peer")]
    FromExternalPeer,
    /// A repeated attribute; all but the first are discarded (§3g).
    #[error("repeated attribute")]
    Duplicate,
    /// MP_REACH_NLRI or MP_UNREACH_NLRI repeated (§3g).
    #[error("repeated MP_REACH_NLRI or MP_UNREACH_NLRI")]
    DuplicateMp,
    /// A well-known mandatory attribute is missing (§3d).
    #[error("missing")]
    Missing,
    /// A well-known attribute routerd does not know (RFC 4271 §6.3).
    #[error("unrecognized well-known attribute")]
    UnrecognizedWellKnown,
    /// AS4_PATH or AS4_AGGREGATOR from a 4-octet speaker (RFC 6793 §6).
    #[error("AS4 attribute between 4-octet speakers")]
    As4FromNewSpeaker,
    /// Confederation segments in AS4_PATH, dropped (RFC 6793 §6).
    #[error("confederation segment in AS4_PATH")]
    ConfedInAs4Path,
    /// MP_REACH_NLRI or MP_UNREACH_NLRI shorter than its fixed fields (§5.3).
    #[error("shorter than its fixed fields")]
    MpTooShort,
    /// A next hop length the family does not allow (§7.11).
    #[error("{afi_safi}: next hop length {len}")]
    MpNextHopLength {
        /// The family.
        afi_safi: AfiSafi,
        /// The Length of Next Hop Network Address field.
        len: u8,
    },
    /// Syntactically incorrect NLRI inside the MP attribute (§5.3).
    #[error("{afi_safi}: {err}")]
    MpNlri {
        /// The family.
        afi_safi: AfiSafi,
        /// What was wrong.
        err: NlriError,
    },
    /// An MP attribute for a family the codec does not decode; ignored.
    #[error("{0} not supported, ignored")]
    UnsupportedFamily(AfiSafi),
    /// Path attribute errors in an UPDATE that announces nothing: NLRI
    /// cannot be trusted to have been parsed (§5.2).
    #[error("attribute error in an UPDATE without reachable NLRI")]
    NoReachableNlri,
}

/// One problem found in an UPDATE, for counters, logs and the verdict.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The attribute concerned, if any.
    pub attr: Option<AttrType>,
    /// What was wrong.
    pub kind: ProblemKind,
    /// What the receiver does about it.
    pub action: ErrorAction,
    /// The family an MP attribute problem concerns (for AFI/SAFI disable).
    pub afi_safi: Option<AfiSafi>,
    /// The offending attribute (type, length, value) where RFC 4271 §6.3
    /// puts it into the NOTIFICATION's data; empty for attribute-discard
    /// problems, which never end a session.
    pub data: Vec<u8>,
}

impl Problem {
    pub(crate) fn new(attr: Option<AttrType>, kind: ProblemKind, action: ErrorAction) -> Self {
        Problem {
            attr,
            kind,
            action,
            afi_safi: None,
            data: Vec::new(),
        }
    }

    pub(crate) fn with_data(mut self, data: &[u8]) -> Self {
        // The NOTIFICATION must still fit in 4096 octets.
        let room = MAX_MESSAGE_LEN - HEADER_LEN - 2;
        self.data = data[..data.len().min(room)].to_vec();
        self
    }

    pub(crate) fn with_family(mut self, f: AfiSafi) -> Self {
        self.afi_safi = Some(f);
        self
    }

    /// The NOTIFICATION to send if this problem resets the session (RFC 4271
    /// §6.3 subcodes; RFC 4760 §7 for MP attributes).
    pub fn notification(&self) -> Notification {
        use ProblemKind as K;
        use UpdateSubcode as S;
        let sub = match &self.kind {
            K::LengthsOverrun
            | K::TruncatedAttribute
            | K::AttributeOverrun
            | K::Duplicate
            | K::DuplicateMp
            | K::NoReachableNlri => S::MalformedAttributeList,
            K::Withdrawn(_) | K::Nlri(_) => S::InvalidNetworkField,
            K::Flags(_) => S::AttributeFlagsError,
            K::Length(_) => S::AttributeLengthError,
            K::InvalidOrigin(_) => S::InvalidOriginAttribute,
            K::AsPath(_) | K::ConfedFromExternal => S::MalformedAsPath,
            K::InvalidNextHop(_) => S::InvalidNextHopAttribute,
            K::Missing => S::MissingWellKnownAttribute,
            K::UnrecognizedWellKnown => S::UnrecognizedWellKnownAttribute,
            K::FromExternalPeer
            | K::As4FromNewSpeaker
            | K::ConfedInAs4Path
            | K::MpTooShort
            | K::MpNextHopLength { .. }
            | K::MpNlri { .. }
            | K::UnsupportedFamily(_) => S::OptionalAttributeError,
        };
        let data = match (&self.kind, self.attr) {
            // Missing Well-known Attribute carries the type code (§6.3).
            (K::Missing, Some(t)) => vec![t.0],
            _ => self.data.clone(),
        };
        Notification::with_data(ErrorCode::Update(sub), data)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.attr {
            write!(f, "{a}: ")?;
        }
        write!(f, "{} ({})", self.kind, self.action)
    }
}

/// An UPDATE that resets the session: the problems found and the
/// NOTIFICATION to send.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("UPDATE resets the session: {}", first(.problems))]
pub struct UpdateError {
    /// Everything found, the decisive problem first among those with
    /// [`ErrorAction::SessionReset`].
    pub problems: Vec<Problem>,
    /// The NOTIFICATION to send.
    pub notification: Notification,
}

fn first(p: &[Problem]) -> String {
    p.iter()
        .find(|p| p.action == ErrorAction::SessionReset)
        .or(p.first())
        .map(ToString::to_string)
        .unwrap_or_default()
}
