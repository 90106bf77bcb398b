//! The BGP benchmark's kernel watcher (`deploy/bench-bgp.sh`): stamps the
//! moment the benchmark's N prefixes are all in a network namespace's
//! routing table (`--until all`), or all gone from it (`--until none`).
//!
//! ```text
//! route-watch --netns rdbgp-1-rcv --family ipv4 --first 16.0.0.0 --prefix-len 24 \
//!     --count 100000 --until all
//! ready 1765135000.100000 present=0
//! first 1765135000.231000
//! done 1765135000.902000 present=100000
//! ```
//!
//! It subscribes to the route notifications (RTNLGRP_IPV4_ROUTE or
//! RTNLGRP_IPV6_ROUTE) with a 256 MiB receive buffer, then dumps the table
//! once to count what is already there, then follows the notifications:
//! each one is stamped when it is read, on the wall clock
//! (`CLOCK_REALTIME`), the clock the sender stamps Established with. One
//! `recv` per route, no parsing beyond the header and the destination, so
//! the watcher stays a small load next to the daemon it watches. A route
//! counts once however often it is replaced; only table `--table` (main)
//! and exactly the benchmark's prefixes count. A lost notification
//! (`ENOBUFS`) is an error, never a silent undercount.

use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str =
    "usage: route-watch [--netns NAME] --family ipv4|ipv6 --first ADDR --prefix-len L
       --count N --until all|none [--table 254] [--timeout SECS]";

const NLMSG_HDRLEN: usize = 16;
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_TABLE: u16 = 15;
const RTM_F_CLONED: u32 = 0x200;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;

struct Args {
    netns: Option<String>,
    v6: bool,
    first: u128,
    prefix_len: u8,
    count: usize,
    until_all: bool,
    table: u32,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut netns, mut family, mut first, mut prefix_len) = (None, None, None, None);
    let (mut count, mut until, mut table, mut timeout) = (None, None, 254u32, 60u64);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--netns" => netns = Some(value),
            "--family" => {
                family = Some(match value.as_str() {
                    "ipv4" => false,
                    "ipv6" => true,
                    _ => return Err(bad(&"want ipv4 or ipv6")),
                })
            }
            "--first" => first = Some(value.parse::<IpAddr>().map_err(|e| bad(&e))?),
            "--prefix-len" => prefix_len = Some(value.parse::<u8>().map_err(|e| bad(&e))?),
            "--count" => count = Some(value.parse::<usize>().map_err(|e| bad(&e))?),
            "--until" => {
                until = Some(match value.as_str() {
                    "all" => true,
                    "none" => false,
                    _ => return Err(bad(&"want all or none")),
                })
            }
            "--table" => table = value.parse().map_err(|e| bad(&e))?,
            "--timeout" => timeout = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    let need = |what: &str| format!("{what} is required\n{USAGE}");
    let v6 = family.ok_or_else(|| need("--family"))?;
    let first = match (first.ok_or_else(|| need("--first"))?, v6) {
        (IpAddr::V4(a), false) => u128::from(u32::from(a)),
        (IpAddr::V6(a), true) => u128::from(a),
        (a, _) => return Err(format!("--first {a} is not of the --family")),
    };
    let prefix_len = prefix_len.ok_or_else(|| need("--prefix-len"))?;
    if prefix_len == 0 || prefix_len > if v6 { 128 } else { 32 } {
        return Err(format!("--prefix-len {prefix_len} is out of range"));
    }
    Ok(Args {
        netns,
        v6,
        first,
        prefix_len,
        count: count.ok_or_else(|| need("--count"))?,
        until_all: until.ok_or_else(|| need("--until"))?,
        table,
        timeout: Duration::from_secs(timeout),
    })
}

fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Enters the named network namespace (`ip netns add` made it).
fn enter_netns(name: &str) -> Result<(), String> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: setns takes an open namespace file descriptor, which `file`
    // keeps open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(os_error("setns"));
    }
    Ok(())
}

fn netlink_socket(groups: u32) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(os_error("netlink socket"));
    }
    // SAFETY: fd is a fresh descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size: libc::c_int = 256 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a c_int option value of the right size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                std::ptr::from_ref(&size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
    }
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: addr is a sockaddr_nl of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::from_ref(&addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(os_error("bind netlink"));
    }
    Ok(fd)
}

/// One `recv`; Ok(None) on the receive timeout.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<usize>, String> {
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
            Some(libc::ENOBUFS) => Err("notifications were lost (ENOBUFS)".into()),
            _ => Err(format!("recv: {e}")),
        };
    }
    Ok(Some(n as usize))
}

fn set_timeout(fd: &OwnedFd, t: Duration) -> Result<(), String> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(t.subsec_micros()),
    };
    // SAFETY: a timeval option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(os_error("SO_RCVTIMEO"));
    }
    Ok(())
}

/// The benchmark's prefixes present in the table, one flag each.
struct Table<'a> {
    args: &'a Args,
    present: Vec<bool>,
    count: usize,
}

impl Table<'_> {
    /// Applies every route message in `buf`; returns true if any changed
    /// the count. Stops at NLMSG_DONE (returned as the second value).
    fn apply(&mut self, buf: &[u8]) -> Result<(bool, bool), String> {
        let (mut changed, mut done) = (false, false);
        let mut off = 0;
        while off + NLMSG_HDRLEN <= buf.len() {
            let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            let len = len as usize;
            let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < NLMSG_HDRLEN || off + len > buf.len() {
                break;
            }
            let msg = &buf[off..off + len];
            match kind {
                k if k == libc::NLMSG_DONE as u16 => done = true,
                k if k == libc::NLMSG_ERROR as u16 => {
                    let errno = i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
                    if errno != 0 {
                        return Err(format!("netlink error {errno}"));
                    }
                }
                libc::RTM_NEWROUTE => changed |= self.route(msg, true),
                libc::RTM_DELROUTE => changed |= self.route(msg, false),
                _ => {}
            }
            off += (len + 3) & !3;
        }
        Ok((changed, done))
    }

    fn route(&mut self, msg: &[u8], add: bool) -> bool {
        let Some(rtm) = msg.get(NLMSG_HDRLEN..NLMSG_HDRLEN + RTMSG_LEN) else {
            return false;
        };
        let family = if self.args.v6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        };
        let flags = u32::from_ne_bytes([rtm[8], rtm[9], rtm[10], rtm[11]]);
        if i32::from(rtm[0]) != family
            || rtm[1] != self.args.prefix_len
            || flags & RTM_F_CLONED != 0
        {
            return false;
        }
        let mut table = u32::from(rtm[4]);
        let mut dst = None;
        let mut off = NLMSG_HDRLEN + RTMSG_LEN;
        while off + 4 <= msg.len() {
            let rta_len = usize::from(u16::from_ne_bytes([msg[off], msg[off + 1]]));
            let rta_type = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]);
            if rta_len < 4 || off + rta_len > msg.len() {
                break;
            }
            let value = &msg[off + 4..off + rta_len];
            match rta_type {
                RTA_DST => dst = Some(value),
                RTA_TABLE if value.len() == 4 => {
                    table = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                }
                _ => {}
            }
            off += (rta_len + 3) & !3;
        }
        if table != self.args.table {
            return false;
        }
        let Some(dst) = dst else { return false };
        let addr = match dst.len() {
            4 if !self.args.v6 => u128::from(u32::from_be_bytes([dst[0], dst[1], dst[2], dst[3]])),
            16 if self.args.v6 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(dst);
                u128::from_be_bytes(b)
            }
            _ => return false,
        };
        let bits = if self.args.v6 { 128 } else { 32 };
        let shift = bits - u32::from(self.args.prefix_len);
        let Some(offset) = addr.checked_sub(self.args.first) else {
            return false;
        };
        let index = offset >> shift;
        if index << shift != offset {
            return false;
        }
        let Ok(index) = usize::try_from(index) else {
            return false;
        };
        let Some(slot) = self.present.get_mut(index) else {
            return false;
        };
        if *slot == add {
            return false;
        }
        *slot = add;
        if add {
            self.count += 1;
        } else {
            self.count -= 1;
        }
        true
    }

    fn finished(&self) -> bool {
        if self.args.until_all {
            self.count == self.args.count
        } else {
            self.count == 0
        }
    }
}

/// Counts what the table holds now (RTM_GETROUTE dump).
fn dump(table: &mut Table<'_>, buf: &mut [u8]) -> Result<(), String> {
    let fd = netlink_socket(0)?;
    let mut req = [0u8; NLMSG_HDRLEN + RTMSG_LEN];
    let len = req.len() as u32;
    req[0..4].copy_from_slice(&len.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETROUTE.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[NLMSG_HDRLEN] = if table.args.v6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    // SAFETY: req is readable for its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if n < 0 {
        return Err(os_error("send dump request"));
    }
    set_timeout(&fd, Duration::from_secs(10))?;
    loop {
        let n = recv(&fd, buf)?.ok_or("the route dump timed out")?;
        if n == 0 {
            return Err("the route dump ended early".into());
        }
        if table.apply(&buf[..n])?.1 {
            return Ok(());
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    if let Some(ns) = &args.netns {
        enter_netns(ns)?;
    }
    let groups = if args.v6 {
        RTMGRP_IPV6_ROUTE
    } else {
        RTMGRP_IPV4_ROUTE
    };
    // Subscribe first, dump second: nothing falls between the two.
    let monitor = netlink_socket(groups)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut table = Table {
        args,
        present: vec![false; args.count],
        count: 0,
    };
    dump(&mut table, &mut buf)?;
    say(&format!("ready {} present={}", now(), table.count));
    if table.finished() {
        say(&format!("done {} present={}", now(), table.count));
        return Ok(true);
    }
    set_timeout(&monitor, Duration::from_millis(200))?;
    let deadline = Instant::now() + args.timeout;
    let mut first = true;
    while Instant::now() < deadline {
        let Some(n) = recv(&monitor, &mut buf)? else {
            continue;
        };
        let stamp = now();
        let (changed, _) = table.apply(&buf[..n])?;
        if changed && first {
            say(&format!("first {stamp}"));
            first = false;
        }
        if changed && table.finished() {
            say(&format!("done {stamp} present={}", table.count));
            return Ok(true);
        }
    }
    say(&format!("timeout {} present={}", now(), table.count));
    Ok(false)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("route-watch: {e}");
            say(&format!("error {} {e}", now()));
            ExitCode::FAILURE
        }
    }
}
