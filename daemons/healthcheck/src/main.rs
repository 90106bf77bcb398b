//! `routerd-healthcheck --config FILE --socket PATH --state-dir DIR`: one
//! health check, supervised by routerd, speaking the daemon contract.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use routerd_contract::Frame;
use routerd_contract::server::contract_router;
use routerd_healthcheck::daemon::{self, EVENTS_FILE};
use routerd_healthcheck::spec::ProbeSpec;

const DAEMON: &str = "routerd-healthcheck";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = DAEMON, version, about = "ICMP, TCP, HTTP and DNS health checks for routerd")]
struct Args {
    /// The check's JSON spec (routerd writes it; `reload` re-reads it).
    #[arg(long)]
    config: PathBuf,
    /// Unix socket for the daemon contract.
    #[arg(long)]
    socket: PathBuf,
    /// Directory for status.json and events.jsonl.
    #[arg(long)]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread is plenty for one probe loop and a few contract requests,
    // and keeps the resident set small on small routers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry = routerd_contract::telemetry::init(DAEMON);
    let spec = ProbeSpec::load(&args.config).context("invalid health check config")?;
    let frame = Frame::open(
        DAEMON,
        &spec.name,
        &args.state_dir,
        EVENTS_FILE,
        &args.socket,
    )?;
    let (handle, probe_loop) = daemon::start(
        &args.config,
        spec,
        &args.state_dir,
        frame.events.clone(),
        frame.shutdown.clone(),
    )
    .context("cannot start the health check")?;
    let router = contract_router(frame.info.clone(), handle, frame.events.clone());
    frame.run(router, probe_loop.run()).await?;
    Ok(())
}
