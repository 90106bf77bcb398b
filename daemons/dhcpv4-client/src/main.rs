//! `routerd-dhcpv4-client --config FILE --socket PATH --state-dir DIR`: one
//! DHCPv4 client, supervised by routerd, speaking the daemon contract. It
//! only speaks DHCP and reports its lease; routerd installs the address and
//! routes from its status.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::Parser;
use routerd_contract::Frame;
use routerd_contract::server::contract_router;
use routerd_dhcpv4_client::daemon::{self, EVENTS_FILE};
use routerd_dhcpv4_client::spec::Dhcpv4Spec;

const DAEMON: &str = "routerd-dhcpv4-client";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = DAEMON, version, about = "DHCPv4 client for routerd")]
struct Args {
    /// The JSON config (routerd writes it).
    #[arg(long)]
    config: PathBuf,
    /// Unix socket for the daemon contract.
    #[arg(long)]
    socket: PathBuf,
    /// Directory for lease.json and events.jsonl.
    #[arg(long)]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: two sockets and a few timers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry = routerd_contract::telemetry::init(DAEMON);
    let spec = Dhcpv4Spec::load(&args.config).context("invalid DHCPv4 client config")?;
    let frame = Frame::open(
        DAEMON,
        &spec.name,
        &args.state_dir,
        EVENTS_FILE,
        &args.socket,
    )?;
    let (handle, engine) = daemon::start(
        spec,
        &args.state_dir,
        frame.events.clone(),
        frame.shutdown.clone(),
    );
    let router = contract_router(frame.info.clone(), handle, frame.events.clone());
    // The engine ending in error (no interface, no socket) stops the
    // daemon with that error, so routerd restarts it with backoff.
    let failed: Arc<OnceLock<anyhow::Error>> = Arc::default();
    let stop = frame.shutdown.clone();
    let failure = failed.clone();
    let engine = async move {
        if let Err(e) = engine.run().await {
            let _ = failure.set(e);
            stop.trigger();
        }
    };
    frame.run(router, engine).await?;
    match Arc::try_unwrap(failed).ok().and_then(OnceLock::into_inner) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
