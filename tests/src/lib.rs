//! The netns lab harness: every routerd integration test builds its topology from
//! network namespaces, veth pairs and bridges made here, runs real processes inside
//! them and tears everything down again, even when the test panics.
//!
//! Nothing here touches the machine's own network namespace: links are created
//! inside the test namespaces, sysctls are written from threads that joined them.

#![warn(missing_docs)]

pub mod echo;
mod env;
mod netns;
mod process;
mod reap;
mod topology;
mod wait;

pub use env::{bin, require_command, require_privileges};
pub use netns::Netns;
pub use process::Process;
pub use topology::{IFNAMSIZ_MAX, bridge, veth};
pub use wait::wait_until;
