//! `routerd-vrrp --config FILE --socket PATH --state-dir DIR`: VRRP instances,
//! supervised and fenced by routerd, speaking the daemon contract.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use routerd_contract::Frame;
use routerd_contract::server::contract_router;
use routerd_vrrp::daemon::{self, EVENTS_FILE, grants_router};
use routerd_vrrp::spec::VrrpSpec;

const DAEMON: &str = "routerd-vrrp";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = DAEMON, version, about = "VRRP for routerd, fenced by ownership grants")]
struct Args {
    /// The JSON config (routerd writes it; `reload` re-reads it).
    #[arg(long)]
    config: PathBuf,
    /// Unix socket for the daemon contract and `/v1/grants`.
    #[arg(long)]
    socket: PathBuf,
    /// Directory for state.json and events.jsonl.
    #[arg(long)]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: a handful of sockets and timers, and a small resident set.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry = routerd_contract::telemetry::init(DAEMON);
    let spec = VrrpSpec::load(&args.config).context("invalid VRRP config")?;
    let frame = Frame::open(
        DAEMON,
        &spec.name,
        &args.state_dir,
        EVENTS_FILE,
        &args.socket,
    )?;
    let (handle, engine) = daemon::start(
        &args.config,
        spec,
        &args.state_dir,
        frame.events.clone(),
        frame.shutdown.clone(),
    )
    .await
    .context("cannot start VRRP")?;
    let router = contract_router(frame.info.clone(), handle.clone(), frame.events.clone())
        .merge(grants_router(handle));
    frame.run(router, engine.run()).await?;
    Ok(())
}
