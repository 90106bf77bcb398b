//! VRRPv2/v3 protocol core: packet codec and a pure state machine driven by
//! packets and virtual time, with routerd's fencing (grants) on top.
//!
//! - [`packet`]: the ADVERTISEMENT codec (RFC 9568, RFC 3768), never panicking.
//! - [`fsm`]: [`Instance`], the Initialize/Backup/Master machine: events and `now`
//!   in, [`Action`]s out, [`Instance::next_deadline`] for the next timer.
//! - [`fence`]: grants (owner/standby/vrrp, epoch, deadline).
//! - [`config`]: the instance parameters and their validation.
//! - [`error`]: parse errors and drop reasons.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fence;
pub mod fsm;
pub mod packet;

pub use config::{ConfigError, InstanceConfig};
pub use error::{DropReason, ParseError};
pub use fence::{Grant, GrantOutcome, GrantRole};
pub use fsm::{Action, Counters, Event, Instance, LastTransition, Reason, Received, State};
pub use packet::{Advert, Auth, Version};
