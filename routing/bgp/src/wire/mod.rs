//! The BGP-4 wire codec, written for the session FSM and the RIB.
//!
//! - [`Framer`] cuts the TCP stream into [`Frame`]s (borrowed slices) and
//!   reports header errors with the NOTIFICATION to send.
//! - [`Frame::decode`] gives a [`Message`]: OPEN, UPDATE, NOTIFICATION,
//!   KEEPALIVE, ROUTE-REFRESH. Errors carry their NOTIFICATION
//!   ([`DecodeError::notification`]).
//! - An [`Update`] borrows its prefixes from the frame, owns one
//!   [`PathAttributes`] (hashable: intern it with [`AttrInterner`]) and
//!   reports RFC 7606 [`Problem`]s with the [`ErrorAction`] the receiver takes.
//! - [`Open::new`], [`Open::check`] and [`Negotiated`] cover the OPEN
//!   exchange; [`Negotiated::params`] gives the [`SessionParams`] both
//!   directions need.
//! - [`UpdateEncoder`] packs many prefixes sharing one attribute set into as
//!   few UPDATEs as fit; the other messages have `encode` methods.

mod attrs;
mod capability;
mod framer;
mod header;
mod message;
mod negotiated;
mod notification;
mod open;
mod prefix;
mod reader;
mod route_refresh;
mod types;
mod update;

pub use attrs::{
    Aggregator, AsPath, AsPathError, AsSegment, AttrInterner, AttrType, Community, ExtCommunity,
    ExtCommunityValue, LargeCommunity, NextHop, Origin, PathAttributes, RawAttribute, SegmentType,
    flags,
};
pub use capability::{
    AddPath, AddPathMode, Capability, ExtendedNextHop, Fqdn, GracefulRestart, GracefulRestartFamily,
};
pub use framer::{Frame, Framer};
pub use header::HeaderError;
pub use message::{DecodeError, Message, encode_keepalive};
pub use negotiated::Negotiated;
pub use notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, Notification, OpenSubcode,
    RouteRefreshSubcode, UpdateSubcode,
};
pub use open::{Open, OpenCheck, OpenError};
pub use prefix::{Nlri, NlriError, Prefix, Prefixes};
pub use route_refresh::{RefreshSubtype, RouteRefresh, RouteRefreshError};
pub use types::{
    AS_TRANS, Afi, AfiSafi, BGP_VERSION, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
    MessageType, Safi, SessionParams,
};
pub use update::{
    EncodeError, ErrorAction, MpReach, MpUnreach, Problem, ProblemKind, Reach, Update,
    UpdateEncoder, UpdateError,
};
