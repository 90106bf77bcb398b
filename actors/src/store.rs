//! The config store: numbered generations, persisted so a crash loses no
//! committed config.
//!
//! A generation is written (YAML as given, temp file, fsync, rename, fsync
//! dir) before it becomes current, and `current` is replaced the same way,
//! so after a crash at any instant routerd restarts from the last generation
//! it acknowledged. Invalid configs never reach disk or the controllers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_config::{Config, Diagnostics, load_str};
use routerd_contract::NewEvent;
use routerd_contract::atomic::write_atomic;
use serde::Serialize;
use tracing::Instrument;

use crate::runtime::{Generation, Runtime};
use crate::status::now_rfc3339;
use crate::trace::{Traced, message_span, start_span};

/// Generations kept on disk.
const KEEP_GENERATIONS: u64 = 20;

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOutcome {
    /// The generation now current.
    pub generation: u64,
    /// False when the config equals the current one (nothing applied).
    pub changed: bool,
    /// Resources added (`Kind/name`).
    pub added: Vec<String>,
    /// Resources removed.
    pub removed: Vec<String>,
    /// Resources whose spec changed.
    pub modified: Vec<String>,
    /// Warnings found while loading.
    pub warnings: Vec<String>,
}

/// Why an apply was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// The config has errors; nothing changed.
    #[error("the config is invalid:\n{0}")]
    Invalid(Diagnostics),
    /// It could not be stored; nothing changed.
    #[error("cannot store the config: {0}")]
    Storage(String),
    /// The cluster could not commit it (no quorum, or no leader in time).
    #[error("the cluster did not commit the config: {0}")]
    Cluster(String),
}

/// Messages of the config store.
pub enum StoreMsg {
    /// Validate, persist and make current a new config.
    Apply {
        /// YAML text.
        source: String,
        /// Label for diagnostics (file name).
        label: String,
        /// Where the outcome goes.
        reply: RpcReplyPort<Result<ApplyOutcome, ApplyError>>,
    },
    /// Re-read the file routerd was started with.
    Reload(RpcReplyPort<Result<ApplyOutcome, ApplyError>>),
    /// A generation committed by the cluster: store it under its number and
    /// serve it.
    Replicated {
        number: u64,
        source: String,
        label: String,
    },
}

impl Traced for StoreMsg {
    fn name(&self) -> &'static str {
        match self {
            StoreMsg::Apply { .. } => "Apply",
            StoreMsg::Reload(_) => "Reload",
            StoreMsg::Replicated { .. } => "Replicated",
        }
    }
}

/// The config store actor.
pub struct ConfigStore;

/// Start-up arguments of the store.
pub struct StoreArgs {
    /// Shared context.
    pub runtime: Arc<Runtime>,
}

fn dir(runtime: &Runtime) -> PathBuf {
    runtime.options.state_dir.join("config")
}

fn gen_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("gen-{n:08}.yaml"))
}

/// Loads the newest generation that is still valid from `state_dir/config`.
pub fn load_latest(state_dir: &Path) -> Option<Generation> {
    let dir = state_dir.join("config");
    let current: u64 = std::fs::read_to_string(dir.join("current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // Walk back from `current` in case the newest file was damaged by
    // something other than routerd (a crash cannot: it is fsynced first).
    for n in (1..=current).rev().take(KEEP_GENERATIONS as usize) {
        let path = gen_path(&dir, n);
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        match load_str(&path.display().to_string(), &source) {
            Ok(loaded) => {
                let applied_at = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map(|t| humantime::format_rfc3339_millis(t).to_string())
                    .unwrap_or_default();
                return Some(Generation {
                    number: n,
                    config: loaded.config,
                    source,
                    applied_at,
                });
            }
            Err(d) => tracing::error!(generation = n, "stored generation no longer loads:\n{d}"),
        }
    }
    None
}

/// Persists `source` as generation `n` and makes it current.
fn persist(dir: &Path, n: u64, source: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomic(gen_path(dir, n), source.as_bytes())?;
    write_atomic(dir.join("current"), format!("{n}\n").as_bytes())?;
    if n > KEEP_GENERATIONS {
        let _ = std::fs::remove_file(gen_path(dir, n - KEEP_GENERATIONS));
    }
    Ok(())
}

/// Resources added, removed and modified from `old` to `new`.
pub fn diff(old: &Config, new: &Config) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut added = Vec::new();
    let mut modified = Vec::new();
    for r in &new.resources {
        match old.find(r.kind, &r.name) {
            None => added.push(r.id()),
            Some(o) if o != r => modified.push(r.id()),
            Some(_) => {}
        }
    }
    let removed = old
        .resources
        .iter()
        .filter(|r| new.find(r.kind, &r.name).is_none())
        .map(|r| r.id())
        .collect();
    (added, removed, modified)
}

/// Loads a config off the async workers: a big or hostile document must not
/// stall drift repair and daemon supervision while it is parsed.
pub async fn load_off_runtime(
    label: String,
    source: String,
) -> (String, Result<routerd_config::Loaded, Diagnostics>) {
    match tokio::task::spawn_blocking(move || {
        let loaded = load_str(&label, &source);
        (source, loaded)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => (
            String::new(),
            Err(internal(&format!("the config loader failed: {e}"))),
        ),
    }
}

fn internal(message: &str) -> Diagnostics {
    let mut d = Diagnostics::default();
    d.0.push(routerd_config::Diagnostic {
        file: String::new(),
        pos: routerd_config::yaml::Pos { line: 1, col: 1 }.into(),
        resource: None,
        path: String::new(),
        severity: routerd_config::Severity::Error,
        message: message.to_string(),
    });
    d
}

/// How long an apply in a cluster waits for its generation to be served here.
const CLUSTER_APPLY_WAIT: Duration = Duration::from_secs(10);
/// Between attempts to commit a config while there is no leader.
const CLUSTER_RETRY: Duration = Duration::from_millis(100);

/// In a cluster: validate here, commit through the leader, and answer once
/// this node serves the new generation.
async fn apply_in_cluster(
    runtime: Arc<Runtime>,
    cluster: routerd_cluster::ClusterNode,
    source: String,
    label: String,
) -> Result<ApplyOutcome, ApplyError> {
    let (source, loaded) = load_off_runtime(label.clone(), source).await;
    let loaded = loaded.map_err(ApplyError::Invalid)?;
    let warnings: Vec<String> = loaded.warnings.0.iter().map(|d| d.to_string()).collect();
    let committed_same = cluster.with_state(|s| {
        s.config
            .current()
            .filter(|g| g.yaml == source)
            .map(|g| g.generation)
    });
    if let Some(generation) = committed_same {
        return Ok(ApplyOutcome {
            generation,
            changed: false,
            added: vec![],
            removed: vec![],
            modified: vec![],
            warnings,
        });
    }
    let before = runtime.generation();
    // Retried until committed or out of time: without a leader (an election
    // under way) a proposal fails at once, and a retry of an outcome-unknown
    // proposal is harmless because the same text is the same generation.
    let give_up = tokio::time::Instant::now() + CLUSTER_APPLY_WAIT;
    let response = loop {
        let attempt = cluster
            .propose(routerd_cluster::Request::PutConfig {
                yaml: source.clone(),
                source: label.clone(),
            })
            .await;
        match attempt {
            Ok(r) => break r,
            Err(e) if tokio::time::Instant::now() + CLUSTER_RETRY < give_up => {
                tracing::debug!(error = %e, "config proposal not committed; retrying");
                tokio::time::sleep(CLUSTER_RETRY).await;
            }
            Err(e) => return Err(ApplyError::Cluster(e.to_string())),
        }
    };
    let routerd_cluster::Response::Config { generation } = response else {
        return Err(ApplyError::Cluster(format!(
            "unexpected answer {response:?}"
        )));
    };
    let mut rx = runtime.config.subscribe();
    let served =
        tokio::time::timeout(CLUSTER_APPLY_WAIT, rx.wait_for(|g| g.number >= generation)).await;
    if !matches!(served, Ok(Ok(_))) {
        return Err(ApplyError::Cluster(format!(
            "generation {generation} was committed but is not served here after {CLUSTER_APPLY_WAIT:?}"
        )));
    }
    let view = runtime.options.view(loaded.config);
    let (added, removed, modified) = diff(&before.config, &view);
    Ok(ApplyOutcome {
        generation,
        changed: true,
        added,
        removed,
        modified,
        warnings,
    })
}

/// Serves generation `number` committed by the cluster.
async fn replicated(runtime: &Runtime, number: u64, source: String, label: String) {
    if runtime.generation().number >= number {
        return;
    }
    let (source, loaded) = load_off_runtime(label.clone(), source).await;
    let loaded = match loaded {
        Ok(l) => l,
        Err(d) => {
            // Another node's routerd accepted what this one refuses (a
            // version difference): keep serving the last good generation,
            // loudly.
            runtime.bus.publish(
                NewEvent::new("routerd.cluster.config", "ReplicatedInvalid")
                    .message(format!(
                        "committed generation {number} does not load here; still serving {}:\n{d}",
                        runtime.generation().number
                    ))
                    .attr("generation", number),
            );
            return;
        }
    };
    if let Err(e) = persist(&dir(runtime), number, &source) {
        runtime.bus.publish(
            NewEvent::new("routerd.cluster.config", "StorageFailed")
                .message(format!("cannot store generation {number}: {e}"))
                .attr("generation", number),
        );
        return;
    }
    let current = runtime.generation();
    let view = runtime.options.view(loaded.config);
    let (added, removed, modified) = diff(&current.config, &view);
    runtime.config.send_replace(Arc::new(Generation {
        number,
        config: view,
        source,
        applied_at: now_rfc3339(),
    }));
    runtime.bus.publish(
        NewEvent::new("routerd.config.applied", "ConfigApplied")
            .message(format!(
                "generation {number} from the cluster ({label}): {} added, {} removed, {} modified",
                added.len(),
                removed.len(),
                modified.len()
            ))
            .attr("generation", number)
            .attr("added", added)
            .attr("removed", removed)
            .attr("modified", modified),
    );
}

async fn apply(runtime: &Runtime, source: String, label: &str) -> Result<ApplyOutcome, ApplyError> {
    let (source, loaded) = load_off_runtime(label.to_string(), source).await;
    let loaded = loaded.map_err(ApplyError::Invalid)?;
    let warnings = loaded.warnings.0.iter().map(|d| d.to_string()).collect();
    let current = runtime.generation();
    if current.number > 0 && current.config == runtime.options.view(loaded.config.clone()) {
        return Ok(ApplyOutcome {
            generation: current.number,
            changed: false,
            added: vec![],
            removed: vec![],
            modified: vec![],
            warnings,
        });
    }
    let number = current.number + 1;
    persist(&dir(runtime), number, &source).map_err(|e| ApplyError::Storage(e.to_string()))?;
    let view = runtime.options.view(loaded.config);
    let (added, removed, modified) = diff(&current.config, &view);
    runtime.config.send_replace(Arc::new(Generation {
        number,
        config: view,
        source,
        applied_at: now_rfc3339(),
    }));
    runtime.bus.publish(
        NewEvent::new("routerd.config.applied", "ConfigApplied")
            .message(format!(
                "generation {number}: {} added, {} removed, {} modified",
                added.len(),
                removed.len(),
                modified.len()
            ))
            .attr("generation", number)
            .attr("added", added.clone())
            .attr("removed", removed.clone())
            .attr("modified", modified.clone()),
    );
    Ok(ApplyOutcome {
        generation: number,
        changed: true,
        added,
        removed,
        modified,
        warnings,
    })
}

impl Actor for ConfigStore {
    type Msg = StoreMsg;
    type State = Arc<Runtime>;
    type Arguments = StoreArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StoreMsg>,
        args: StoreArgs,
    ) -> Result<Arc<Runtime>, ActorProcessingErr> {
        let _span = start_span("ConfigStore").entered();
        args.runtime.store.set(myself);
        Ok(args.runtime)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<StoreMsg>,
        runtime: &mut Arc<Runtime>,
    ) -> Result<(), ActorProcessingErr> {
        runtime.store.clear(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<StoreMsg>,
        msg: StoreMsg,
        runtime: &mut Arc<Runtime>,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span("ConfigStore", &msg);
        async move {
            match msg {
                StoreMsg::Apply {
                    source,
                    label,
                    reply,
                } => {
                    if let Some(cluster) = runtime.cluster.clone() {
                        // Waits for Replicated, which this actor handles:
                        // answer from a task, never from the handler.
                        let rt = runtime.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(apply_in_cluster(rt, cluster, source, label).await);
                        });
                    } else {
                        let _ = reply.send(apply(runtime, source, &label).await);
                    }
                }
                StoreMsg::Replicated {
                    number,
                    source,
                    label,
                } => replicated(runtime, number, source, label).await,
                StoreMsg::Reload(reply) => {
                    let result = match &runtime.options.config_path {
                        None => Err(ApplyError::Storage(
                            "routerd was started without -c; there is no file to reload".into(),
                        )),
                        Some(path) => match std::fs::read_to_string(path) {
                            Ok(source) if runtime.cluster.is_some() => {
                                let (rt, label) = (runtime.clone(), path.display().to_string());
                                if let Some(cluster) = runtime.cluster.clone() {
                                    tokio::spawn(async move {
                                        let _ = reply.send(
                                            apply_in_cluster(rt, cluster, source, label).await,
                                        );
                                    });
                                }
                                return;
                            }
                            Ok(source) => {
                                let result =
                                    apply(runtime, source.clone(), &path.display().to_string())
                                        .await;
                                if result.is_ok()
                                    && let Err(e) =
                                        remember_file(&runtime.options.state_dir, &source)
                                {
                                    tracing::warn!(error = %e, "cannot record the reloaded file");
                                }
                                result
                            }
                            Err(e) => Err(ApplyError::Storage(format!("{}: {e}", path.display()))),
                        },
                    };
                    let _ = reply.send(result);
                }
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

/// The copy of the `-c` file as routerd last took it in: a restart
/// compares the file with this, not with the newest generation, so a config
/// applied through the API is not reverted by an unchanged file.
const FROM_FILE: &str = "from-file.yaml";

/// Records that `source` (the `-c` file's content) has been taken in.
pub fn remember_file(state_dir: &Path, source: &str) -> std::io::Result<()> {
    let dir = state_dir.join("config");
    std::fs::create_dir_all(&dir)?;
    write_atomic(dir.join(FROM_FILE), source.as_bytes())
}

/// Whether the `-c` file's `source` differs from what routerd last took in.
pub fn from_file_changed(state_dir: &Path, source: &str) -> bool {
    std::fs::read_to_string(state_dir.join("config").join(FROM_FILE))
        .ok()
        .as_deref()
        != Some(source)
}

/// The generation routerd starts with, and whether the `-c` file made a new
/// one. The file becomes a new generation only if it changed since routerd
/// last took it in; otherwise the newest stored generation (perhaps applied
/// through the API since) is served.
pub fn initial_generation(
    state_dir: &Path,
    start_with: Option<(Config, String)>,
) -> std::io::Result<(Generation, bool)> {
    let latest = load_latest(state_dir);
    let Some((config, source)) = start_with else {
        return Ok((latest.unwrap_or_else(Generation::empty), false));
    };
    let seen = std::fs::read_to_string(state_dir.join("config").join(FROM_FILE)).ok();
    if let Some(latest) = &latest
        && (seen.as_deref() == Some(source.as_str()) || latest.config == config)
    {
        remember_file(state_dir, &source)?;
        return Ok((latest.clone(), false));
    }
    // A damaged `current` must not restart numbering below generations that
    // exist on disk.
    let number = latest
        .as_ref()
        .map_or(0, |l| l.number)
        .max(highest_on_disk(&state_dir.join("config")))
        + 1;
    persist(&state_dir.join("config"), number, &source)?;
    remember_file(state_dir, &source)?;
    Ok((
        Generation {
            number,
            config,
            source,
            applied_at: now_rfc3339(),
        },
        true,
    ))
}

fn highest_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.strip_prefix("gen-")?
                        .strip_suffix(".yaml")?
                        .parse()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}
