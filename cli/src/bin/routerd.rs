//! `routerd`: validate, plan, apply and serve a router configuration.

#[macro_use]
#[path = "../out.rs"]
mod out;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use routerd_actors::cluster_sync::ClusterSetup;
use routerd_actors::gate::ConfigLookup;
use routerd_actors::reconcile::{Family, Scope, desired, interface_fields, select};
use routerd_actors::runtime::Generation;
use routerd_actors::status::Statuses;
use routerd_actors::store::initial_generation;
use routerd_actors::{ServeOptions, serve};
use routerd_config::kinds::Interface;
use routerd_config::{Config, Diagnostics, ReconcileMode, load_file};
use routerd_kernel::{ApplyReport, Kernel, Plan, ProcSysctl};

#[derive(Parser)]
#[command(
    name = "routerd",
    version,
    about = "A declarative router control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a config file; print every problem as FILE:LINE:COL: Kind/name: field: message.
    Validate {
        /// The config file.
        #[arg(short, long)]
        config: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Print the JSON Schema of the config, generated from routerd's types.
    Schema,
    /// Show what applying a config would change on this host; changes nothing.
    Plan {
        /// The config file.
        #[arg(short, long)]
        config: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Apply a config to this host.
    Apply {
        /// The config file.
        #[arg(short, long)]
        config: PathBuf,
        /// Apply once and exit (the only mode: use `serve` to keep a config applied).
        #[arg(long, required = true)]
        once: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: Output,
        /// Where `persistent: true` sysctls are written.
        #[arg(long, default_value = "/etc/sysctl.d")]
        sysctl_dir: PathBuf,
    },
    /// Run the control plane: apply the config and keep it applied.
    Serve {
        /// The config file; without it, the last stored generation is served.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Where generations, events and daemon state live.
        #[arg(long, default_value = "/var/lib/routerd")]
        state_dir: PathBuf,
        /// The API socket.
        #[arg(long, default_value = "/run/routerd/routerd.sock")]
        socket: PathBuf,
        /// Where `persistent: true` sysctls are written.
        #[arg(long, default_value = "/etc/sysctl.d")]
        sysctl_dir: PathBuf,
        /// Where the managed daemons' binaries are (default: beside routerd).
        #[arg(long)]
        daemon_dir: Option<PathBuf>,
        /// Allow POST /v1/debug/panic/CONTROLLER, for supervision tests.
        #[arg(long, hide = true)]
        fault_injection: bool,
        /// This node's name in the config's RouterdCluster (default: its
        /// spec.identity).
        #[arg(long, env = "ROUTERD_NODE")]
        node: Option<String>,
        /// Run as a witness: a Raft voter with no data plane.
        #[arg(long)]
        witness: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Validate { config, output } => validate(&config, output),
        Cmd::Schema => {
            let schema = routerd_config::schema::router_schema();
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    outln!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e.into()),
            }
        }
        Cmd::Plan { config, output } => one_shot(|| plan(&config, output)),
        Cmd::Apply {
            config,
            output,
            sysctl_dir,
            ..
        } => one_shot(|| apply(&config, output, &sysctl_dir)),
        Cmd::Serve {
            config,
            state_dir,
            socket,
            sysctl_dir,
            daemon_dir,
            fault_injection,
            node,
            witness,
        } => run_serve(ServeOptions {
            config_path: config,
            state_dir,
            socket,
            sysctl_dir,
            daemon_dir,
            fault_injection,
            cluster_node: node,
            witness,
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("routerd: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints diagnostics to stderr, one per line.
fn report(diags: &Diagnostics) {
    for d in &diags.0 {
        eprintln!("{d}");
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    match load_file(path) {
        Ok(loaded) => {
            report(&loaded.warnings);
            Ok(loaded.config)
        }
        Err(diags) => {
            report(&diags);
            Err(ExitCode::from(1))
        }
    }
}

fn validate(path: &Path, output: Output) -> Result<ExitCode> {
    let result = load_file(path);
    let diags = match &result {
        Ok(l) => l.warnings.clone(),
        Err(d) => d.clone(),
    };
    match output {
        Output::Text => report(&diags),
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "valid": result.is_ok(), "diagnostics": diags.0 })
            )?
        ),
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One-shot commands run on a single-threaded runtime: start-up time is
/// part of what a person waits for.
fn one_shot(f: impl AsyncFnOnce() -> Result<ExitCode>) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(f())
}

/// The plan for `config`, with Interface statuses taken from the kernel so
/// that gates on them can be evaluated without a running routerd.
async fn compute(config: &Config) -> Result<(Kernel, Plan, Vec<(String, String)>)> {
    let kernel = Kernel::connect().context("cannot open netlink")?;
    let observed = kernel
        .observe()
        .await
        .context("cannot read the kernel's state")?;
    let statuses = Statuses::default();
    for (r, spec) in config.of_kind::<Interface>() {
        let phase = routerd_actors::reconcile::interface_phase(&observed, &spec.ifname);
        statuses.set_fields(&r.id(), interface_fields(&observed, &spec.ifname));
        statuses.set_phase(&r.id(), phase, "Observed", None);
    }
    let lookup = ConfigLookup {
        statuses: &statuses,
        config,
    };
    let state = desired(config, &lookup);
    let mut plan = routerd_kernel::plan(&state.desired, &observed, &ProcSysctl);
    // Without a running routerd, HealthCheck phases are unknown: resources
    // gated on them are left as the kernel has them.
    routerd_actors::reconcile::keep_held(&mut plan, &state);
    Ok((kernel, plan, state.blocked))
}

fn print_plan(plan: &Plan, blocked: &[(String, String)], protected: &[String]) {
    outln!(
        "{}",
        routerd_actors::reconcile::plan_text(plan, blocked, protected)
    );
}

async fn plan(path: &Path, output: Output) -> Result<ExitCode> {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let (_, plan, blocked) = compute(&config).await?;
    match output {
        Output::Text => print_plan(&plan, &blocked, &config.reconcile.protected_interfaces),
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "changes": plan.changes,
                "pending": plan.pending,
                "blocked": blocked.iter().map(|(r, w)| serde_json::json!({"resource": r, "reason": w})).collect::<Vec<_>>(),
                "summary": plan.summary(),
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn apply(path: &Path, output: Output, sysctl_dir: &Path) -> Result<ExitCode> {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let (kernel, plan, blocked) = compute(&config).await?;
    let strict = config.reconcile.mode != Some(ReconcileMode::Progressive);
    let protected = &config.reconcile.protected_interfaces;
    let mut report = ApplyReport::default();
    let mut skipped = Vec::new();
    let mut stopped_after = None;
    // Stage by stage (links, addresses, routes, sysctls): in strict mode a
    // stage with failures stops the later ones, whose changes often depend
    // on it (a route needs its address).
    for family in Family::ALL {
        let (stage, protected_changes) = select(&plan, family, &Scope::All, protected);
        skipped.extend(protected_changes);
        let stage_report = kernel.apply(&stage).await;
        let failed = !stage_report.failed.is_empty();
        report.applied.extend(stage_report.applied);
        report.failed.extend(stage_report.failed);
        if failed && strict {
            stopped_after = Some(family);
            break;
        }
    }
    let persisted = routerd_actors::persist::sync(&config, sysctl_dir).with_context(|| {
        format!(
            "cannot write persistent sysctls under {}",
            sysctl_dir.display()
        )
    })?;
    match output {
        Output::Text => {
            if let Some(path) = &persisted {
                outln!("~ {} (persistent sysctls)", path.display());
            }
            if report.applied.is_empty()
                && persisted.is_none()
                && report.failed.is_empty()
                && skipped.is_empty()
            {
                outln!("No changes: the host matches the config.");
            }
            for c in &report.applied {
                outln!("{c}");
            }
            for c in &skipped {
                outln!("{c}  [skipped: protected interface]");
            }
            for (c, e) in &report.failed {
                outln!("FAILED {c}: {e}");
            }
            for p in &plan.pending {
                outln!("{p}");
            }
            for (resource, why) in &blocked {
                outln!("? {resource}: {why}");
            }
            if let Some(family) = stopped_after {
                outln!(
                    "Stopped after the {} stage failed (reconcile mode strict).",
                    family.name()
                );
            }
            outln!(
                "Applied {} change(s), {} failed, {} pending.",
                report.applied.len(),
                report.failed.len(),
                plan.pending.len() + blocked.len()
            );
        }
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "applied": report.applied,
                "failed": report.failed.iter().map(|(c, e)| serde_json::json!({"change": c, "error": e})).collect::<Vec<_>>(),
                "skipped": skipped,
                "pending": plan.pending,
                "blocked": blocked.iter().map(|(r, w)| serde_json::json!({"resource": r, "reason": w})).collect::<Vec<_>>(),
            }))?
        ),
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// In a cluster: who this node is, its Raft settings, and what it serves
/// first. `None` outside a cluster.
fn cluster_setup(
    options: &mut ServeOptions,
    start_with: &Option<(Config, String)>,
) -> Result<Option<(ClusterSetup, Generation)>> {
    use routerd_actors::store::{from_file_changed, load_latest};
    use routerd_config::kinds::RouterdCluster;
    use routerd_config::kinds::cluster::QuorumLossPolicy;
    let latest = load_latest(&options.state_dir);
    let config = start_with
        .as_ref()
        .map(|(c, _)| c)
        .or(latest.as_ref().map(|g| &g.config));
    let Some((_, spec)) = config.and_then(|c| c.of_kind::<RouterdCluster>().next()) else {
        if options.cluster_node.is_some() || options.witness {
            anyhow::bail!("--node and --witness need a RouterdCluster resource in the config");
        }
        return Ok(None);
    };
    let spec = spec.clone();
    let name = match (&options.cluster_node, &spec.identity) {
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => anyhow::bail!(
            "the config has a RouterdCluster: say which node this is with --node NAME (or spec.identity)"
        ),
    };
    let members = spec.members();
    let me = members
        .iter()
        .find(|m| m.name == name)
        .with_context(|| format!("node `{name}` is not one of the RouterdCluster peers"))?
        .clone();
    options.cluster_node = Some(name.clone());
    options.witness |= me.witness;
    let listen = std::net::ToSocketAddrs::to_socket_addrs(&me.address)
        .with_context(|| format!("cannot resolve this node's address {}", me.address))?
        .next()
        .with_context(|| format!("{} resolves to nothing", me.address))?;
    let tls_dir = spec
        .tls
        .as_ref()
        .map(|t| PathBuf::from(&t.dir))
        .unwrap_or_else(|| options.state_dir.join("cluster").join("tls"));
    let mut cfg = routerd_cluster::ClusterConfig::new(
        me.id,
        name.clone(),
        listen,
        members
            .iter()
            .map(|m| routerd_cluster::Member {
                id: m.id,
                name: m.name.clone(),
                addr: m.address.clone(),
                witness: m.witness,
            })
            .collect(),
        options.state_dir.join("cluster"),
        routerd_cluster::TlsFiles {
            ca: tls_dir.join("ca.pem"),
            cert: tls_dir.join(format!("{name}.pem")),
            key: tls_dir.join(format!("{name}.key")),
        },
    );
    cfg.advertise = me.address.clone();
    cfg.heartbeat = spec.heartbeat();
    cfg.election_timeout = (spec.election_timeout(), spec.election_timeout() * 2);
    let lease = spec.lease();
    let policy = match spec.quorum_loss_policy.unwrap_or_default() {
        // Long enough for the majority side to grant the group elsewhere
        // and be heard on the LAN before an isolated node falls back.
        QuorumLossPolicy::Vrrp => routerd_ownership::Policy::Vrrp {
            after: lease * 2 + std::time::Duration::from_secs(1),
        },
        QuorumLossPolicy::Hold => routerd_ownership::Policy::Hold,
    };
    // Serve the last committed generation at once; a changed -c file is
    // offered to the cluster and served when committed. A node that never
    // saw a committed generation serves the file meanwhile (generation 0).
    let offer = match start_with {
        Some((_, source)) if from_file_changed(&options.state_dir, source) || latest.is_none() => {
            Some(source.clone())
        }
        _ => None,
    };
    let initial = match (latest, start_with) {
        (Some(g), _) => g,
        (None, Some((config, source))) => Generation {
            number: 0,
            config: config.clone(),
            source: source.clone(),
            applied_at: String::new(),
        },
        (None, None) => Generation::empty(),
    };
    Ok(Some((
        ClusterSetup {
            config: cfg,
            node_id: me.id,
            policy,
            offer,
        },
        initial,
    )))
}

fn run_serve(mut options: ServeOptions) -> Result<ExitCode> {
    let start_with = match &options.config_path {
        Some(path) => match load(path) {
            Ok(config) => {
                let source =
                    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
                Some((config, source))
            }
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let setup = cluster_setup(&mut options, &start_with)?;
    let (initial, from_file, cluster) = match setup {
        Some((setup, initial)) => (initial, false, Some(setup)),
        None => {
            let (initial, from_file) = initial_generation(&options.state_dir, start_with)
                .with_context(|| {
                    format!(
                        "cannot store the config under {}",
                        options.state_dir.display()
                    )
                })?;
            (initial, from_file, None)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _telemetry = routerd_contract::telemetry::init("routerd");
    match runtime.block_on(serve(options, initial, from_file, cluster)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("routerd: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
