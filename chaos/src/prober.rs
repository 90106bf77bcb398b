//! The fixed-cadence prober: ICMP echo requests at an absolute schedule (no
//! back-off during loss, unlike `ping -i`), replies matched by identifier and
//! sequence, every send and reply time recorded.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::icmp::{self, Family};
use crate::outage::{self, Probe, StreamSummary};
use crate::sys;

/// What to probe and when to stop.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// One stream per target; the family follows the address.
    pub targets: Vec<IpAddr>,
    /// The send cadence.
    pub interval: Duration,
    /// Stop after this long at the latest.
    pub duration: Duration,
    /// Stop once every stream has had loss and then this many replies in a row.
    pub until_recovered: Option<usize>,
    /// After the last send, wait this long for replies still in flight.
    pub drain: Duration,
    /// Created once every stream has had a reply (a "probing works" signal).
    pub ready_file: Option<PathBuf>,
}

/// The prober's output: one summary per stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The configured cadence.
    pub interval_ms: f64,
    /// First send, Unix milliseconds.
    pub started_ms: f64,
    /// End of the run (after draining), Unix milliseconds.
    pub ended_ms: f64,
    /// `duration`, `signal` or `recovered`.
    pub stopped_by: String,
    /// Sends that were due but left more than one interval late (a loaded
    /// machine): the schedule skips ahead instead of bursting.
    pub late_sends: u64,
    /// One per target.
    pub streams: Vec<StreamReport>,
}

/// One stream's summary with what it probed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamReport {
    /// `v4` or `v6`.
    pub family: String,
    /// The probed address.
    pub target: String,
    /// Sends the kernel refused (e.g. no route): counted as lost probes.
    pub send_errors: u64,
    /// Replies to a probe already answered.
    pub duplicates: u64,
    /// Loss, gaps and outages.
    #[serde(flatten)]
    pub summary: StreamSummary,
}

impl ProbeReport {
    /// The largest client-observed gap over all streams.
    pub fn max_gap_ms(&self) -> f64 {
        self.streams
            .iter()
            .map(|s| s.summary.max_gap_ms)
            .fold(0.0, f64::max)
    }
}

struct Stream {
    family: Family,
    target: IpAddr,
    socket: Socket,
    probes: Vec<Probe>,
    send_errors: u64,
    duplicates: u64,
}

impl Stream {
    fn open(target: IpAddr) -> anyhow::Result<Stream> {
        let (family, domain, proto) = match target {
            IpAddr::V4(_) => (Family::V4, Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Family::V6, Domain::IPV6, Protocol::ICMPV6),
        };
        let socket = Socket::new(domain, Type::RAW, Some(proto)).map_err(|e| {
            anyhow::anyhow!("cannot open a raw ICMP socket (needs root or CAP_NET_RAW): {e}")
        })?;
        socket.set_nonblocking(true)?;
        Ok(Stream {
            family,
            target,
            socket,
            probes: Vec::new(),
            send_errors: 0,
            duplicates: 0,
        })
    }

    fn send(&mut self, id: u16, seq: u64) {
        let packet = icmp::echo_request(self.family, id, seq);
        let to = SockAddr::from(SocketAddr::new(self.target, 0));
        let sent_ms = sys::now_ms();
        if self.socket.send_to(&packet, &to).is_err() {
            self.send_errors += 1;
        }
        self.probes.push(Probe {
            seq,
            sent_ms,
            reply_ms: None,
        });
    }

    /// Reads every datagram waiting on the socket.
    fn receive(&mut self, id: u16) {
        let mut buf = [0u8; 2048];
        // Bounded: a flood cannot keep us here past one schedule slot's worth.
        for _ in 0..1024 {
            let n = match (&self.socket).read(&mut buf) {
                Ok(n) => n,
                Err(_) => return,
            };
            let at = sys::now_ms();
            let Some(seq) = icmp::parse_echo_reply(self.family, id, &buf[..n]) else {
                continue;
            };
            // Sequence numbers are indices: every stream sends each one once.
            match usize::try_from(seq)
                .ok()
                .and_then(|i| self.probes.get_mut(i))
            {
                Some(p) if p.reply_ms.is_none() => p.reply_ms = Some(at),
                Some(_) => self.duplicates += 1,
                None => {}
            }
        }
    }

    fn answered_all(&self) -> bool {
        self.probes.iter().all(|p| p.reply_ms.is_some())
    }

    fn report(self, start_ms: f64, end_ms: f64) -> StreamReport {
        StreamReport {
            family: match self.family {
                Family::V4 => "v4".into(),
                Family::V6 => "v6".into(),
            },
            target: self.target.to_string(),
            send_errors: self.send_errors,
            duplicates: self.duplicates,
            summary: outage::summarize(&self.probes, start_ms, end_ms),
        }
    }
}

/// Runs the prober in the calling thread's network namespace until the
/// duration passes, a signal arrives or the recovery condition holds.
pub fn run(config: &ProbeConfig) -> anyhow::Result<ProbeReport> {
    anyhow::ensure!(
        !config.targets.is_empty(),
        "nothing to probe: give at least one target"
    );
    anyhow::ensure!(
        !config.interval.is_zero(),
        "the interval must be above zero"
    );
    let mut streams = config
        .targets
        .iter()
        .map(|t| Stream::open(*t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Our identifier: distinct per process, so concurrent probers do not match
    // each other's replies.
    let id = (std::process::id() & 0xffff) as u16;

    let start = Instant::now();
    let started_ms = sys::now_ms();
    let mut next_send = start;
    let mut seq: u64 = 0;
    let mut late_sends = 0;
    let mut ready_written = config.ready_file.is_none();
    let stopped_by = loop {
        if sys::stop_requested() {
            break "signal";
        }
        let now = Instant::now();
        if now.duration_since(start) >= config.duration {
            break "duration";
        }
        if now >= next_send {
            for s in &mut streams {
                s.send(id, seq);
            }
            seq += 1;
            next_send += config.interval;
            if next_send + config.interval < now {
                late_sends += 1;
                next_send = now + config.interval;
            }
        }
        wait_readable(
            &streams,
            next_send.saturating_duration_since(Instant::now()),
        );
        for s in &mut streams {
            s.receive(id);
        }
        if !ready_written
            && streams
                .iter()
                .all(|s| s.probes.iter().any(|p| p.reply_ms.is_some()))
        {
            if let Some(path) = &config.ready_file {
                std::fs::write(path, "ready\n")
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            }
            ready_written = true;
        }
        if let Some(n) = config.until_recovered
            && streams
                .iter()
                .all(|s| outage::recovered_after_loss(&s.probes, n))
        {
            break "recovered";
        }
    };

    // Replies still in flight are not losses.
    let drain_end = Instant::now() + config.drain;
    while Instant::now() < drain_end && !streams.iter().all(Stream::answered_all) {
        wait_readable(
            &streams,
            drain_end.saturating_duration_since(Instant::now()),
        );
        for s in &mut streams {
            s.receive(id);
        }
    }
    let ended_ms = sys::now_ms();
    Ok(ProbeReport {
        interval_ms: config.interval.as_secs_f64() * 1000.0,
        started_ms,
        ended_ms,
        stopped_by: stopped_by.into(),
        late_sends,
        streams: streams
            .into_iter()
            .map(|s| s.report(started_ms, ended_ms))
            .collect(),
    })
}

/// Blocks until a socket is readable, `timeout` passes or a signal arrives.
fn wait_readable(streams: &[Stream], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .map(|s| libc::pollfd {
            fd: s.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: fds is a valid array of fds.len() pollfds and ts a valid timespec;
    // both outlive the call. Errors (EINTR) only end the wait early.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}
