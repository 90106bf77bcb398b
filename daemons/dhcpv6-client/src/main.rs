//! `routerd-dhcpv6-client --config FILE --socket PATH --state-dir DIR`: one
//! DHCPv6 prefix-delegation client, supervised by routerd, speaking the
//! daemon contract.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use routerd_contract::Frame;
use routerd_contract::server::contract_router;
use routerd_dhcpv6_client::daemon::{self, EVENTS_FILE};
use routerd_dhcpv6_client::spec::Dhcpv6Spec;

const DAEMON: &str = "routerd-dhcpv6-client";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = DAEMON, version, about = "DHCPv6 prefix delegation for routerd")]
struct Args {
    /// The JSON config (routerd writes it).
    #[arg(long)]
    config: PathBuf,
    /// Unix socket for the daemon contract.
    #[arg(long)]
    socket: PathBuf,
    /// Directory for identity.json, lease.json and events.jsonl.
    #[arg(long)]
    state_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread: one socket and a few timers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _telemetry = routerd_contract::telemetry::init(DAEMON);
    let spec = Dhcpv6Spec::load(&args.config).context("invalid DHCPv6 client config")?;
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
    .context("cannot start the DHCPv6 client")?;
    let router = contract_router(frame.info.clone(), handle, frame.events.clone());
    frame.run(router, engine.run()).await?;
    Ok(())
}
