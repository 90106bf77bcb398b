//! The kernel side of the speaker: Loc-RIB changes batched into FIB writes
//! on a task of their own (the speaker never waits for netlink), the
//! routes a previous run left behind, and the link a session runs over.
//!
//! Routes of protocol `bgp` found at start belong to a previous run: they
//! keep forwarding until the peers have sent their tables again (End-of-RIB
//! from every configured peer) or a deadline passes, then the ones no peer
//! gave again are deleted. A restart of the daemon so costs no forwarding.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use routerd_kernel::{BGP_PROTO, FibOp, Kernel};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) use crate::fib::Want;
use crate::fib::{FLUSH_AFTER, FLUSH_AT, FibConfig, Pending};
use crate::spec::BgpSpec;

use super::Speaker;
use super::conn::PeerId;
use super::peer::is_link_local;

/// How long routes of a previous run are kept at most.
const LEFTOVER_HOLD: Duration = Duration::from_secs(120);

/// What the FIB task did, read by status.
#[derive(Debug, Default)]
pub(crate) struct FibStats {
    pub batches: AtomicU64,
    pub written: AtomicU64,
    pub failed: AtomicU64,
    pub last_error: std::sync::Mutex<Option<String>>,
    /// Milliseconds the last batch took.
    pub last_batch_ms: AtomicU64,
}

/// The batcher and its writer task.
pub(crate) struct FibState {
    cfg: FibConfig,
    pending: Pending,
    flush_at: Option<Instant>,
    tx: Option<mpsc::UnboundedSender<Vec<FibOp>>>,
    task: Option<JoinHandle<()>>,
    pub stats: Arc<FibStats>,
    /// Routes of a previous run not rewritten yet, and until when they stay.
    leftovers: HashSet<IpNet>,
    leftovers_until: Option<Instant>,
    /// Configured peers whose End-of-RIB came since start.
    eor_seen: HashSet<PeerId>,
    eor_needed: usize,
}

impl FibState {
    pub async fn start(kernel: &Kernel, spec: &BgpSpec) -> FibState {
        let cfg = FibConfig {
            install: spec.fib.install,
            table: spec.fib.table,
            metric: spec.fib.metric,
        };
        let stats = Arc::new(FibStats::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_loop(kernel.clone(), rx, Arc::clone(&stats)));
        let mut leftovers = HashSet::new();
        if cfg.install {
            match kernel.fib_routes(BGP_PROTO).await {
                Ok(routes) => {
                    leftovers = routes
                        .into_iter()
                        .filter(|r| r.table == cfg.table && r.metric == cfg.metric)
                        .map(|r| r.destination)
                        .collect();
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the kernel's bgp routes"),
            }
        }
        if !leftovers.is_empty() {
            tracing::info!(
                routes = leftovers.len(),
                "kept routes of a previous run until the peers resend them"
            );
        }
        let hold = spec.graceful_restart.as_ref().map_or(LEFTOVER_HOLD, |g| {
            Duration::from_secs(u64::from(g.restart_time_secs)).max(Duration::from_secs(5))
        });
        FibState {
            cfg,
            pending: Pending::default(),
            flush_at: None,
            tx: Some(tx),
            task: Some(task),
            stats,
            leftovers_until: (!leftovers.is_empty()).then(|| Instant::now() + hold),
            leftovers,
            eor_seen: HashSet::new(),
            eor_needed: spec.peers.len(),
        }
    }

    pub fn config(&self) -> &FibConfig {
        &self.cfg
    }

    /// Records what `prefix` should be in the kernel.
    pub fn set(&mut self, prefix: IpNet, want: Want) {
        self.leftovers.remove(&prefix);
        self.pending.set(prefix, want);
        if self.flush_at.is_none() {
            self.flush_at = Some(Instant::now() + FLUSH_AFTER);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.flush_at, self.leftovers_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Hands the batch to the writer when it is due, large, or `now`.
    pub fn maybe_flush(&mut self, now: bool) {
        let due = self.flush_at.is_some_and(|t| t <= Instant::now());
        if !(now || due || self.pending.len() >= FLUSH_AT) || self.pending.is_empty() {
            return;
        }
        self.flush_at = None;
        let ops = self.pending.drain(&self.cfg);
        if !self.cfg.install {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(ops);
        }
    }

    /// A configured peer finished its initial table.
    pub fn end_of_rib_seen(&mut self, id: PeerId) {
        if self.leftovers_until.is_none() {
            return;
        }
        self.eor_seen.insert(id);
        if self.eor_seen.len() >= self.eor_needed {
            self.leftovers_until = Some(Instant::now());
        }
    }

    /// Deletes the previous run's routes no peer gave again, once due.
    pub fn sweep_leftovers(&mut self, now: Instant) {
        if self.leftovers_until.is_none_or(|t| t > now) {
            return;
        }
        self.leftovers_until = None;
        let n = self.leftovers.len();
        for p in std::mem::take(&mut self.leftovers) {
            self.pending.set(p, Want::Nothing);
        }
        if n > 0 {
            tracing::info!(
                routes = n,
                "removing routes of a previous run no peer sent again"
            );
            self.flush_at = Some(now);
        }
    }

    /// Waits for the writer to finish what it was given.
    pub async fn close(&mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

async fn write_loop(
    kernel: Kernel,
    mut rx: mpsc::UnboundedReceiver<Vec<FibOp>>,
    stats: Arc<FibStats>,
) {
    // Ops written since the heap was last trimmed.
    let mut since_trim = 0usize;
    loop {
        let next = if since_trim >= TRIM_AFTER_OPS {
            // After a table load's worth of writes, a quiet writer trims
            // the heap: the load is over, its UPDATEs, batches and FibOps
            // are freed (a trim in a pause of the load would be followed by
            // more garbage and rate-limit the trim after it).
            match tokio::time::timeout(TRIM_QUIET, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    since_trim = 0;
                    trim_heap();
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(ops) = next else {
            break;
        };
        // Each batch is written as it comes: fib_write batches netlink
        // messages itself, and joining the batches queued while the writer
        // lags held up to the whole table as FibOps at once (about 5 MB
        // RSS at 100k prefixes).
        let report = kernel.fib_write(BGP_PROTO, &ops).await;
        since_trim += ops.len();
        drop(ops);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .written
            .fetch_add(report.done as u64, Ordering::Relaxed);
        stats
            .last_batch_ms
            .store(report.elapsed.as_millis() as u64, Ordering::Relaxed);
        if !report.failed.is_empty() {
            stats
                .failed
                .fetch_add(report.failed.len() as u64, Ordering::Relaxed);
            let (net, e) = &report.failed[0];
            tracing::warn!(failed = report.failed.len(), first = %net, error = %e, "kernel refused routes");
            if let Ok(mut last) = stats.last_error.lock() {
                *last = Some(format!("{net}: {e}"));
            }
        }
    }
}

/// FIB ops after which an idle writer trims the heap.
const TRIM_AFTER_OPS: usize = 4096;

/// How long the writer is idle before that trim.
const TRIM_QUIET: Duration = Duration::from_millis(100);

/// The least time between two heap trims.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Returns the free memory at the top of glibc's heaps and in their free
/// chunks to the system (malloc_trim). A table load leaves megabytes free
/// but held (3-5 MB after 100k prefixes); glibc gives them back only at the
/// top of the main heap. At most once per [`TRIM_EVERY`]: it walks the heap.
pub(crate) fn trim_heap() {
    static LAST: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    let Ok(mut last) = LAST.lock() else {
        return;
    };
    if last.is_some_and(|t| t.elapsed() < TRIM_EVERY) {
        return;
    }
    *last = Some(Instant::now());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only takes glibc's allocator locks; it is safe to
    // call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The link holding a local address, and its other addresses.
#[derive(Debug, Clone)]
pub(crate) struct LinkAddrs {
    pub ifindex: u32,
    pub ifname: String,
    pub v4: Option<Ipv4Addr>,
    /// A global (or unique local) IPv6 address.
    pub v6: Option<Ipv6Addr>,
    pub link_local: Option<Ipv6Addr>,
}

impl Speaker {
    /// The link `local` is on, with the addresses we may use as next hops.
    pub(super) async fn link_of(&self, local: IpAddr) -> Option<LinkAddrs> {
        let addrs = match self.kernel.addresses().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read addresses");
                return None;
            }
        };
        let ifindex = addrs.iter().find(|a| a.addr == local)?.ifindex;
        let name = match self.kernel.links().await {
            Ok(links) => links
                .into_iter()
                .find(|l| l.index == ifindex)
                .map(|l| l.name)
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let on_link = addrs.iter().filter(|a| a.ifindex == ifindex);
        let mut link = LinkAddrs {
            ifindex,
            ifname: name,
            v4: None,
            v6: None,
            link_local: None,
        };
        for a in on_link {
            match a.addr {
                IpAddr::V4(v4) if link.v4.is_none() => link.v4 = Some(v4),
                IpAddr::V6(v6) if is_link_local(&v6) && link.link_local.is_none() => {
                    link.link_local = Some(v6)
                }
                IpAddr::V6(v6) if !is_link_local(&v6) && link.v6.is_none() => link.v6 = Some(v6),
                _ => {}
            }
        }
        // The session's own address first, where it is of that kind.
        match local {
            IpAddr::V4(v4) => link.v4 = Some(v4),
            IpAddr::V6(v6) if is_link_local(&v6) => link.link_local = Some(v6),
            IpAddr::V6(v6) => link.v6 = Some(v6),
        }
        Some(link)
    }
}

/// For status: routes of a previous run still kept.
impl FibState {
    pub fn leftovers(&self) -> usize {
        self.leftovers.len()
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
