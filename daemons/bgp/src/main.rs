//! `routerd-bgp --config FILE --socket PATH --state-dir DIR`: the BGP and
//! BFD speaker, supervised by routerd, speaking the daemon contract.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::Parser;
use routerd_bgp::daemon::{self, EVENTS_FILE, bgp_router};
use routerd_bgp::spec::BgpSpec;
use routerd_contract::Frame;
use routerd_contract::server::contract_router;

const DAEMON: &str = "routerd-bgp";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = DAEMON, version, about = "BGP-4 and BFD for routerd")]
struct Args {
    /// The JSON config (routerd writes it; `reload` re-reads it).
    #[arg(long)]
    config: PathBuf,
    /// Unix socket for the daemon contract, `/v1/grants` and `/v1/bgp/*`.
    #[arg(long)]
    socket: PathBuf,
    /// Directory for events.jsonl.
    #[arg(long)]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: the speaker is one task by design, and a full table is
    // CPU work the kernel writer overlaps with only while it waits on
    // netlink anyway; a single thread keeps the resident set small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry = routerd_contract::telemetry::init(DAEMON);
    let spec = BgpSpec::load(&args.config).context("invalid BGP config")?;
    let frame = Frame::open(
        DAEMON,
        &spec.name,
        &args.state_dir,
        EVENTS_FILE,
        &args.socket,
    )?;
    let (handle, speaker) = daemon::start(
        &args.config,
        spec,
        frame.events.clone(),
        frame.shutdown.clone(),
    )
    .await
    .context("cannot start BGP")?;
    let router = contract_router(frame.info.clone(), handle.clone(), frame.events.clone())
        .merge(bgp_router(handle));
    let failed: Arc<OnceLock<anyhow::Error>> = Arc::default();
    frame.run(router, speaker.run()).await?;
    match Arc::try_unwrap(failed).ok().and_then(OnceLock::into_inner) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
