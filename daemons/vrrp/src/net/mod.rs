//! The socket edge: VRRP raw sockets, gratuitous ARP and unsolicited NA, and
//! what a link looks like (index, MAC, primary address).

pub mod announce;
pub mod link;
pub mod socket;
