//! `routerd-healthcheck --config FILE --socket PATH --state-dir DIR`: one
//! health check, supervised by routerd, speaking the daemon contract.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use routerd_contract::event::{EventLog, Rotation};
use routerd_contract::server::{ServerInfo, bind_unix, contract_router, serve_listener};
use routerd_healthcheck::daemon::{self, EVENTS_FILE, Shutdown};
use routerd_healthcheck::spec::ProbeSpec;
use tokio::signal::unix::{SignalKind, signal};

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
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create state directory {}", args.state_dir.display()))?;
    let events = EventLog::open(
        args.state_dir.join(EVENTS_FILE),
        format!("{DAEMON}/{}", spec.name),
        Rotation::default(),
    )
    .context("cannot open the event log")?;
    // Bind before starting the loop so a socket problem fails fast and
    // routerd sees the error on stderr.
    let listener = bind_unix(&args.socket).context("cannot bind the contract socket")?;

    let shutdown = Shutdown::new();
    let info = ServerInfo {
        daemon: DAEMON.into(),
        instance: spec.name.clone(),
    };
    let (handle, probe_loop) = daemon::start(
        &args.config,
        spec,
        &args.state_dir,
        events.clone(),
        shutdown.clone(),
    )
    .context("cannot start the health check")?;
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
        // A server that died must take the loop with it, or routerd would see
        // a process that probes but cannot be asked anything.
        server_stop.trigger();
        served
    };

    let (served, (), ()) = tokio::join!(server, probe_loop.run(), signals);
    served.context("contract server failed")?;
    Ok(())
}
