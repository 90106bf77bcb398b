//! rdcheck: the chaos run's invariant checker.
//!
//! Samples every `--interval` which router holds each VIP (one thread per
//! router namespace, netlink address dumps), and at the end (SIGINT/SIGTERM,
//! a `stop` line in the fault file, or `--duration`) judges the run:
//!   * never more than one owner of a VIP in a sample (split brain), faults or not;
//!   * no VIP without an owner for longer than `--max-ownerless`, outside the
//!     fault windows (plus `--grace`) declared in `--faults`;
//!   * no client-observed traffic gap in the `--probe` report above `--max-gap`;
//!   * every `--converge NODE=CMD` hook prints the same committed generation.
//!
//! Prints a human verdict on stderr and a JSON summary on stdout (or in
//! `--json`). Exit status: 0 pass, 1 violation, 2 the checker could not run.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use routerd_chaos::faults::FaultLog;
use routerd_chaos::owners::OwnerTracker;
use routerd_chaos::prober::ProbeReport;
use routerd_chaos::sampler::{self, VipSpec};
use routerd_chaos::sys;
use routerd_chaos::ticks::TickJoiner;
use routerd_chaos::verdict::{self, Bounds, Evidence, NodeGeneration, Verdict, Violation};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "rdcheck", about = "Invariant checker for HA chaos runs")]
struct Args {
    /// A router to watch: NAME=NETNS (a name under /run/netns or a path). Repeat.
    #[arg(long = "router", required = true, value_parser = parse_pair)]
    routers: Vec<(String, String)>,
    /// A VIP: IFNAME=ADDRESS, e.g. lan0=10.99.0.254. Repeat.
    #[arg(long = "vip", required = true)]
    vips: Vec<VipSpec>,
    /// Sampling cadence.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// The fault file the chaos runner appends to (JSON lines; tailed).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// How long after a fault window closes a VIP may still be ownerless.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    grace: Duration,
    /// The longest a VIP may be ownerless outside fault windows and grace.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    max_ownerless: Duration,
    /// rdprobe's JSON report, read at the end (waited for up to --probe-wait).
    #[arg(long)]
    probe: Option<PathBuf>,
    /// How long to wait for the probe report at the end.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    probe_wait: Duration,
    /// The longest client-observed traffic gap, faults included.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    max_gap: Duration,
    /// A convergence hook: NODE=SHELL-COMMAND printing the node's committed
    /// generation (a number) on its last line. Repeat for each node.
    #[arg(long = "converge", value_parser = parse_pair)]
    converge: Vec<(String, String)>,
    /// How long the nodes may take to agree at the end.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    converge_timeout: Duration,
    /// Stop after this long at the latest.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Write the JSON summary here (atomically) instead of stdout.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?}: expected NAME=VALUE")),
    }
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("rdcheck: ERROR: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Follows the fault file as the runner appends to it.
struct FaultTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    log: FaultLog,
    errors: Vec<String>,
}

impl FaultTail {
    fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return; // not created yet
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut chunk = String::new();
        if let Ok(n) = f.read_to_string(&mut chunk) {
            self.offset += n as u64;
            self.partial.push_str(&chunk);
            while let Some(nl) = self.partial.find('\n') {
                let line: String = self.partial.drain(..=nl).collect();
                if let Err(e) = self.log.feed_line(&line) {
                    self.errors.push(e.to_string());
                }
            }
        }
    }
}

fn run(args: &Args) -> anyhow::Result<bool> {
    sys::install_stop_handler()?;
    let router_names: Vec<String> = args.routers.iter().map(|(n, _)| n.clone()).collect();
    let vip_names: Vec<String> = args
        .vips
        .iter()
        .map(|v| format!("{}%{}", v.addr, v.ifname))
        .collect();

    let (tx, rx) = mpsc::channel();
    let start = Instant::now() + Duration::from_millis(20);
    let mut threads = Vec::new();
    for (i, (_, ns)) in args.routers.iter().enumerate() {
        threads.push(
            sampler::spawn(
                i,
                ns.clone(),
                args.vips.clone(),
                start,
                args.interval,
                tx.clone(),
            )
            .context("cannot start a sampler thread")?,
        );
    }
    drop(tx);

    let mut tail = args.faults.as_ref().map(|p| FaultTail {
        path: p.clone(),
        offset: 0,
        partial: String::new(),
        log: FaultLog::default(),
        errors: Vec::new(),
    });
    let mut joiner = TickJoiner::new(args.routers.len());
    let mut tracker = OwnerTracker::new(args.vips.len());
    let mut samples: u64 = 0;
    let mut sampler_errors: Vec<(String, String)> = Vec::new();
    let mut last_tail = Instant::now();
    eprintln!(
        "rdcheck: watching {} VIP(s) on {} every {:?}",
        vip_names.join(", "),
        router_names.join(", "),
        args.interval
    );
    let stopped_by = loop {
        if sys::stop_requested() {
            break "signal";
        }
        if start.elapsed() >= args.duration {
            break "duration";
        }
        if tail.as_ref().is_some_and(|t| t.log.stopped) {
            break "stop event";
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(s) => match s.present {
                Ok(present) => {
                    for (at, presence) in joiner.push(s.router, s.tick, s.at_ms, present) {
                        tracker.observe(at, &presence);
                        samples += 1;
                    }
                }
                Err(e) => {
                    sampler_errors.push((router_names[s.router].clone(), e));
                    break "sampler failure";
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break "samplers ended",
        }
        if last_tail.elapsed() >= Duration::from_millis(50) {
            if let Some(t) = tail.as_mut() {
                t.poll();
            }
            last_tail = Instant::now();
        }
    };
    let run_end_ms = sys::now_ms();
    sys::request_stop();
    for t in threads {
        let _ = t.join();
    }
    if let Some(t) = tail.as_mut() {
        t.poll();
    }
    eprintln!("rdcheck: stopped ({stopped_by}) after {samples} samples; judging");

    let probe_report = args.probe.as_ref().map(|p| read_probe(p, args.probe_wait));
    let generations =
        (!args.converge.is_empty()).then(|| converge(&args.converge, args.converge_timeout));

    let owners = tracker.finish();
    let empty = FaultLog::default();
    let faults = tail.as_ref().map_or(&empty, |t| &t.log);
    let bounds = Bounds {
        grace_ms: ms(args.grace),
        max_ownerless_ms: ms(args.max_ownerless),
        max_gap_ms: ms(args.max_gap),
    };
    let mut verdict = verdict::judge(
        &Evidence {
            vips: &vip_names,
            routers: &router_names,
            owners: &owners,
            faults,
            run_end_ms,
            probe: probe_report
                .as_ref()
                .map(|r| r.as_ref().map_err(Clone::clone)),
            generations: generations.as_deref(),
            sampler_errors: &sampler_errors,
        },
        &bounds,
    );
    // A checker that saw nothing cannot vouch for anything.
    if samples == 0 && sampler_errors.is_empty() {
        verdict.violations.push(Violation::SamplerFailed {
            router: router_names.join(","),
            reason: "no complete sample was taken".into(),
        });
        verdict.pass = false;
    }
    let fault_errors = tail.as_ref().map(|t| t.errors.clone()).unwrap_or_default();
    // Unreadable fault lines mean unknown windows: nothing can be excused safely.
    if !fault_errors.is_empty() {
        verdict.pass = false;
    }

    print_human(
        &verdict,
        samples,
        joiner.incomplete,
        faults,
        &probe_report,
        &generations,
        &fault_errors,
    );
    let summary = json!({
        "pass": verdict.pass,
        "stopped_by": stopped_by,
        "samples": samples,
        "incomplete_samples": joiner.incomplete,
        "interval_ms": ms(args.interval),
        "routers": router_names,
        "vips": vip_names.iter().zip(&owners).map(|(v, o)| json!({
            "vip": v,
            "samples_by_owners": {"0": o.samples_by_owners[0], "1": o.samples_by_owners[1], "2+": o.samples_by_owners[2]},
            "split_brain_runs": o.split_runs.len(),
            "longest_ownerless_ms": o.ownerless.iter().map(|i| i.length_ms()).fold(0.0, f64::max),
        })).collect::<Vec<_>>(),
        "bounds": bounds,
        "faults": faults.windows,
        "fault_file_errors": fault_errors,
        "probe": probe_report.as_ref().map(|r| match r {
            Ok(p) => json!(p.streams.iter().map(|s| json!({
                "family": s.family, "sent": s.summary.sent, "lost": s.summary.lost,
                "max_gap_ms": s.summary.max_gap_ms, "outages": s.summary.outages.len(),
            })).collect::<Vec<_>>()),
            Err(e) => json!({"error": e}),
        }),
        "generations": generations,
        "violations": verdict.violations,
    });
    let text = serde_json::to_string_pretty(&summary)?;
    match &args.json {
        Some(path) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{text}\n"))
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => println!("{text}"),
    }
    Ok(verdict.pass)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Waits (bounded) for the prober's report and parses it.
fn read_probe(path: &Path, wait: Duration) -> Result<ProbeReport, String> {
    let deadline = Instant::now() + wait;
    loop {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                return serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not a probe report: {e}", path.display()));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{}: {e} (waited {wait:?})", path.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs every node's generation hook until all agree or the timeout passes.
fn converge(hooks: &[(String, String)], timeout: Duration) -> Vec<NodeGeneration> {
    let deadline = Instant::now() + timeout;
    loop {
        let gens: Vec<NodeGeneration> = hooks
            .iter()
            .map(|(node, cmd)| NodeGeneration {
                node: node.clone(),
                generation: generation(cmd, Duration::from_secs(10)),
            })
            .collect();
        if verdict::converged(&gens) || Instant::now() >= deadline {
            return gens;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs one hook (`sh -c CMD`, bounded by `limit`) and parses its last line.
fn generation(cmd: &str, limit: Duration) -> Result<u64, String> {
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("{cmd:?}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    last.parse()
        .map_err(|_| format!("{cmd:?} printed {last:?}, not a generation number"))
}

fn print_human(
    verdict: &Verdict,
    samples: u64,
    incomplete: u64,
    faults: &FaultLog,
    probe: &Option<Result<ProbeReport, String>>,
    generations: &Option<Vec<NodeGeneration>>,
    fault_errors: &[String],
) {
    eprintln!(
        "rdcheck: {samples} samples ({incomplete} incomplete), {} fault windows",
        faults.windows.len()
    );
    if let Some(Ok(p)) = probe {
        for s in &p.streams {
            eprintln!(
                "rdcheck: traffic {} to {}: sent {}, lost {}, largest gap {:.0} ms, {} outages",
                s.family,
                s.target,
                s.summary.sent,
                s.summary.lost,
                s.summary.max_gap_ms,
                s.summary.outages.len()
            );
        }
    }
    if let Some(g) = generations {
        for n in g {
            match &n.generation {
                Ok(v) => eprintln!("rdcheck: {} committed generation {v}", n.node),
                Err(e) => eprintln!("rdcheck: {} generation unknown: {e}", n.node),
            }
        }
    }
    for e in fault_errors {
        eprintln!("rdcheck: ERROR: fault file (fails the run): {e}");
    }
    for v in &verdict.violations {
        eprintln!(
            "rdcheck: VIOLATION: {}",
            serde_json::to_string(v).unwrap_or_default()
        );
    }
    if verdict.pass {
        eprintln!("rdcheck: PASS");
    } else {
        eprintln!("rdcheck: FAIL ({} violations)", verdict.violations.len());
    }
}
