//! One sampling thread per router namespace: it enters the namespace once
//! (setns) and then, on an absolute 10 ms schedule shared by all threads,
//! dumps the addresses with netlink and reports which VIPs are present.

use std::collections::HashMap;
use std::ffi::CString;
use std::net::IpAddr;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netlink::AddrDumper;
use crate::sys;

/// A VIP as the checker looks for it: an address on a named interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    /// The interface it belongs on (e.g. `lan0`).
    pub ifname: String,
    /// The address.
    pub addr: IpAddr,
}

impl std::str::FromStr for VipSpec {
    type Err = String;

    /// `IFNAME=ADDR`, e.g. `lan0=10.99.0.254` or `lan0=fe80::99:254`.
    fn from_str(s: &str) -> Result<VipSpec, String> {
        let (ifname, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected IFNAME=ADDRESS"))?;
        let addr = addr
            .parse()
            .map_err(|e| format!("{s:?}: bad address {addr:?}: {e}"))?;
        if ifname.is_empty() {
            return Err(format!("{s:?}: empty interface name"));
        }
        Ok(VipSpec {
            ifname: ifname.to_string(),
            addr,
        })
    }
}

/// One router's answer for one tick.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index of the router.
    pub router: usize,
    /// The tick: `start + tick * interval` is when it was due.
    pub tick: u64,
    /// When it was read, Unix milliseconds.
    pub at_ms: f64,
    /// For each VIP, whether it is present; or why the router could not be read.
    pub present: Result<Vec<bool>, String>,
}

/// Starts the sampling thread of router `router` in namespace `netns`. It
/// stops when the stop flag is set or the receiver is gone.
pub fn spawn(
    router: usize,
    netns: String,
    vips: Vec<VipSpec>,
    start: Instant,
    interval: Duration,
    tx: Sender<Sample>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("sample-{netns}"))
        .spawn(move || run(router, &netns, &vips, start, interval, &tx))
}

fn run(
    router: usize,
    netns: &str,
    vips: &[VipSpec],
    start: Instant,
    interval: Duration,
    tx: &Sender<Sample>,
) {
    let failed = |e: String| {
        let _ = tx.send(Sample {
            router,
            tick: 0,
            at_ms: sys::now_ms(),
            present: Err(e),
        });
    };
    if let Err(e) = sys::enter_netns(netns) {
        return failed(e.to_string());
    }
    let mut dumper = match AddrDumper::open() {
        Ok(d) => d,
        Err(e) => return failed(format!("{netns}: {e}")),
    };
    let mut tick: u64 = 0;
    while !sys::stop_requested() {
        let due = start + interval * u32::try_from(tick).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > interval {
            // Fell behind (a loaded machine): skip to the current tick rather
            // than firing a burst of back-to-back samples.
            tick = (now.duration_since(start).as_nanos() / interval.as_nanos().max(1)) as u64;
        }
        let present = read(&mut dumper, vips).map_err(|e| format!("{netns}: {e}"));
        let failed_now = present.is_err();
        let sample = Sample {
            router,
            tick,
            at_ms: sys::now_ms(),
            present,
        };
        if tx.send(sample).is_err() || failed_now {
            return;
        }
        tick += 1;
    }
}

/// Which VIPs are on their interfaces now. An interface that does not exist
/// holds nothing.
fn read(
    dumper: &mut AddrDumper,
    vips: &[VipSpec],
) -> Result<Vec<bool>, crate::netlink::NetlinkError> {
    let addrs = dumper.dump()?;
    let mut index: HashMap<&str, u32> = HashMap::new();
    Ok(vips
        .iter()
        .map(|v| {
            let idx = *index
                .entry(v.ifname.as_str())
                .or_insert_with(|| ifindex(&v.ifname));
            idx != 0 && addrs.iter().any(|a| a.ifindex == idx && a.addr == v.addr)
        })
        .collect())
}

/// The index of `ifname` in this thread's namespace, 0 if there is none.
fn ifindex(ifname: &str) -> u32 {
    let Ok(c) = CString::new(ifname) else {
        return 0;
    };
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::VipSpec;

    #[test]
    fn vip_specs_parse_and_reject_garbage() {
        let v: VipSpec = "lan0=fe80::99:254".parse().unwrap();
        assert_eq!(v.ifname, "lan0");
        assert_eq!(v.addr, "fe80::99:254".parse::<std::net::IpAddr>().unwrap());
        assert!("lan0".parse::<VipSpec>().is_err());
        assert!("=10.0.0.1".parse::<VipSpec>().is_err());
        assert!("lan0=10.0.0.300".parse::<VipSpec>().is_err());
    }
}
