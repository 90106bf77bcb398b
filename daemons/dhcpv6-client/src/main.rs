//! `routerd-dhcpv6-client --config FILE --socket PATH --state-dir DIR`: one
//! DHCPv6 prefix-delegation client, supervised by routerd, speaking the
//! daemon contract.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use routerd_contract::Shutdown;
use routerd_contract::event::{EventLog, Rotation};
use routerd_contract::server::{ServerInfo, bind_unix, contract_router, serve_listener};
use routerd_dhcpv6_client::daemon::{self, EVENTS_FILE};
use routerd_dhcpv6_client::spec::Dhcpv6Spec;
use tokio::signal::unix::{SignalKind, signal};

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
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create state directory {}", args.state_dir.display()))?;
    let events = EventLog::open(
        args.state_dir.join(EVENTS_FILE),
        format!("{DAEMON}/{}", spec.name),
        Rotation::default(),
    )
    .context("cannot open the event log")?;
    let listener = bind_unix(&args.socket).context("cannot bind the contract socket")?;
    let shutdown = Shutdown::new();
    let info = ServerInfo {
        daemon: DAEMON.into(),
        instance: spec.name.clone(),
    };
    let (handle, engine) = daemon::start(spec, &args.state_dir, events.clone(), shutdown.clone())
        .context("cannot start the DHCPv6 client")?;
    let router = contract_router(info, handle, events);

    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let on_signal = shutdown.clone();
    let signals = async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM: stopping"),
            _ = sigint.recv() => tracing::info!("SIGINT: stopping"),
            () = on_signal.wait() => return,
        }
        on_signal.trigger();
    };
    let server_stop = shutdown.clone();
    let server = async move {
        let served = serve_listener(listener, router, {
            let stop = server_stop.clone();
            async move { stop.wait().await }
        })
        .await;
        server_stop.trigger();
        served
    };
    let (served, (), ()) = tokio::join!(server, engine.run(), signals);
    served.context("contract server failed")?;
    Ok(())
}
