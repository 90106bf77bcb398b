//! The one owner of the kernel: every netlink write in routerd goes through this
//! crate, so the kernel's view and drift repair have one home.
//!
//! It knows nothing of YAML, actors or HTTP. Callers describe what they want as
//! intents ([`Desired`]); [`Kernel::observe`] reads what the kernel holds; the pure
//! [`plan`] computes the difference; [`Kernel::apply`] carries it out; and
//! [`Kernel::watch`] reports drift as it happens.
//!
//! Ownership is recorded in the kernel itself: addresses routerd adds carry
//! IFA_PROTO and routes carry rtm_protocol [`ROUTERD_PROTO`], so after a restart
//! routerd still knows which entries are its own and can remove orphans.

#![warn(missing_docs)]

mod apply;
mod change;
mod error;
mod fib;
mod netlink;
mod observe;
mod plan;
mod sysctl;
mod tunnel;
mod types;
mod vip;
mod watch;

pub use apply::ApplyReport;
pub use change::{
    Action, Change, Pending, Plan, RemovalReason, RouteSpec, Transition, protocol_name,
};
pub use error::KernelError;
pub use fib::{
    BGP_PROTO, FibOp, FibReport, FibRoute, NextHop, by_destination, delete_message, fib_route,
    route_message,
};
pub use plan::plan;
pub use sysctl::{ProcSysctl, SysctlReader, sysctl_path};
pub use tunnel::{
    Ip6TnlIntent, OWNER_MARK, TunnelChange, TunnelState, ip6tnl_message, tunnel_state,
};
pub use types::{
    Address, AddressFlags, AddressIntent, Desired, LOCAL_TABLE, Link, LinkIntent, MAIN_TABLE,
    Observed, Route, RouteIntent, RouteKind, SysctlCompare, SysctlIntent, default_metric,
};
pub use vip::ROUTERD_VRRP_PROTO;
pub use watch::Notification;

/// The rtnetlink protocol id (rtm_protocol for routes, IFA_PROTO for addresses)
/// that marks routerd's own entries.
///
/// 157 is free everywhere we looked: the kernel and iproute2's `rt_protos` name
/// 0–4 (unspec, redirect, kernel, boot, static), 8–18 (gated … keepalived), 42
/// (babel), 99 (openr) and 186–192 (FRR's bgp, isis, ospf, rip, eigrp); FRR also
/// uses 193–198 (ldp, sharp, pbr, static, openfabric, srte) and BIRD 12; Calico's
/// Felix defaults to 80; systemd-networkd and NetworkManager use boot, static, ra
/// and dhcp. Kernels before 6.3 ignore IFA_PROTO: there, routerd's addresses are
/// untagged and only its routes are recognised as orphans.
pub const ROUTERD_PROTO: u8 = 157;

/// A netlink route connection to the kernel of one network namespace: the one
/// the calling thread was in when [`Kernel::connect`] ran.
#[derive(Debug, Clone)]
pub struct Kernel {
    handle: rtnetlink::Handle,
    /// (device, inode) of the namespace at connect time, to refuse writing
    /// sysctls of another namespace through a thread that moved.
    netns: Option<(u64, u64)>,
    /// One dump at a time: the kernel answers a second dump request on a
    /// socket whose dump is still running with EBUSY, and every clone of
    /// this handle shares one socket.
    dumps: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Receive buffer for the request socket: dumps are flow-controlled by the
/// kernel, but up to `MAX_IN_FLIGHT` ACKs (errors with extended-ack text) queue here.
const REQUEST_RCVBUF: usize = 1 << 20;

impl Kernel {
    /// Opens a netlink route socket in the calling thread's network namespace and
    /// spawns its connection on the current tokio runtime (which needs IO and time).
    pub fn connect() -> Result<Kernel, KernelError> {
        use rtnetlink::sys::AsyncSocket;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| KernelError::NoRuntime)?;
        let (mut conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(KernelError::Socket)?;
        // We want to see ACKs and DONEs: a request whose stream ends without one
        // was cut off by a dying connection, not completed.
        conn.set_forward_ack(true);
        conn.set_forward_done(true);
        let socket = conn.socket_mut().socket_mut();
        // Extended ACKs carry the kernel's reason ("Nexthop has invalid gateway");
        // capped ACKs keep error replies from echoing whole requests back.
        socket.set_ext_ack(true).map_err(KernelError::Socket)?;
        socket.set_cap_ack(true).map_err(KernelError::Socket)?;
        if let Err(e) = socket.set_rx_buf_sz(REQUEST_RCVBUF) {
            tracing::debug!(error = %e, "cannot enlarge the netlink socket buffer");
        }
        runtime.spawn(conn);
        Ok(Kernel {
            handle,
            netns: current_netns(),
            dumps: Default::default(),
        })
    }

    fn same_netns_as_thread(&self) -> bool {
        match (self.netns, current_netns()) {
            (Some(ours), Some(now)) => ours == now,
            // Without /proc we cannot tell; do not block the write on that.
            _ => true,
        }
    }
}

fn current_netns() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    Some((meta.dev(), meta.ino()))
}
