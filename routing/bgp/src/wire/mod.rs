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
//!
//! A session's receive path, as the FSM and RIB drive it:
//!
//! ```
//! use std::sync::Arc;
//!
//! use ipnet::Ipv4Net;
//! use routerd_bgp_core::wire::{
//!     AsPath, AttrInterner, ErrorAction, Framer, Message, NextHop, Nlri, Origin, PathAttributes,
//!     SessionParams, UpdateEncoder,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // After the OPEN exchange: `Negotiated::params(external)` gives these.
//! let params = SessionParams::new(true, true);
//!
//! // What a peer might send: two prefixes sharing one attribute set.
//! let attrs = PathAttributes {
//!     origin: Some(Origin::Igp),
//!     as_path: AsPath::from_sequence([65001]),
//!     next_hop: Some(NextHop::V4("192.0.2.1".parse()?)),
//!     ..Default::default()
//! };
//! let prefixes: [Ipv4Net; 2] = ["10.0.0.0/8".parse()?, "10.1.0.0/16".parse()?];
//! let mut wire = Vec::new();
//! UpdateEncoder::new(params).announce(&attrs, prefixes, &mut wire)?;
//!
//! let mut framer = Framer::new();
//! let mut interner = AttrInterner::new();
//! let mut rib: Vec<(Ipv4Net, Arc<PathAttributes>)> = Vec::new();
//! framer.push(&wire); // or `framer.read_from(&mut socket)`, or `spare()` + `commit()`
//! // A header error: send `e.notification()` and close.
//! while let Some(frame) = framer.next_frame()? {
//!     match frame.decode(&params) {
//!         Ok(Message::Update(update)) => {
//!             for p in &update.problems {
//!                 // RFC 7606 §6: log the problem with the whole message.
//!                 eprintln!("{p}: {:02x?}", frame.raw());
//!             }
//!             for family in update.disabled_families() {
//!                 let _ = family; // AFI/SAFI disable: flush it, ignore it from now on
//!             }
//!             for gone in update.unreachable() {
//!                 let _ = gone; // withdraw each prefix (treat-as-withdraw lands here too)
//!             }
//!             for reach in update.reachable() {
//!                 let shared = interner.intern(update.attrs_for(&reach));
//!                 if let Nlri::V4(v4) = reach.nlri {
//!                     rib.extend(v4.map(|p| (p, Arc::clone(&shared))));
//!                 }
//!             }
//!             assert_eq!(update.action(), None::<ErrorAction>);
//!         }
//!         Ok(_other) => {} // OPEN, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH: the FSM's
//!         // A session reset: send `e.notification()` (if any) and close.
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! assert_eq!(rib.len(), 2);
//! assert!(Arc::ptr_eq(&rib[0].1, &rib[1].1));
//! # Ok(())
//! # }
//! ```

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
