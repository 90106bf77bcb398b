//! rdprobe: a fixed-cadence ICMP prober for measuring client-observed outages.
//!
//! Sends echo requests to each target every `--interval` (10 ms by default) on
//! an absolute schedule, and on exit (duration, SIGINT/SIGTERM, or recovery
//! with `--until-recovered-after-loss N`) prints a JSON report: sent, received,
//! lost, the largest gap between replies and every outage.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use routerd_chaos::prober::{self, ProbeConfig};
use routerd_chaos::sys;

#[derive(Parser, Debug)]
#[command(
    name = "rdprobe",
    about = "Fixed-cadence ICMP prober; prints a JSON outage report"
)]
struct Args {
    /// Addresses to probe (one stream each; IPv4 and IPv6 may be mixed).
    #[arg(required = true)]
    targets: Vec<IpAddr>,
    /// Enter this network namespace first (a name under /run/netns or a path).
    #[arg(long)]
    netns: Option<String>,
    /// Send cadence.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Stop after this long at the latest.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Stop once every stream has had loss and then N replies in a row.
    #[arg(long, value_name = "N")]
    until_recovered_after_loss: Option<usize>,
    /// After the last send, wait up to this long for replies in flight.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Create this file once every stream has had a reply.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Write the JSON report here (atomically) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    sys::install_stop_handler()?;
    if let Some(ns) = &args.netns {
        sys::enter_netns(ns)?;
    }
    let report = prober::run(&ProbeConfig {
        targets: args.targets,
        interval: args.interval,
        duration: args.duration,
        until_recovered: args.until_recovered_after_loss,
        drain: args.drain,
        ready_file: args.ready_file,
    })?;
    let json = serde_json::to_string_pretty(&report)?;
    match &args.output {
        Some(path) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{json}\n"))
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), path.display())
            })?;
        }
        None => println!("{json}"),
    }
    Ok(())
}
