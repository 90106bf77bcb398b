//! DaemonSupervisor: one actor per managed daemon process.
//!
//! It starts the daemon (or adopts one left running by a previous routerd,
//! so restarting routerd drops no lease or session), notices its exit at
//! once (it holds the child, or a pidfd for an adopted process), restarts it
//! with backoff, watches `/v1/healthz`, and follows `/v1/events` onto the
//! bus. Controllers never talk to daemons directly; they ask this actor.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_contract::atomic::{write_atomic, write_json_atomic};
use routerd_contract::server::{Command, Health};
use routerd_contract::{Client, NewEvent};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::runtime::Runtime;
use crate::slot::Slot;
use crate::trace::{Traced, message_span, start_span};

/// How long a (re)started daemon has to answer `/v1/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Health checks of a running daemon.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// Consecutive failed health checks before the daemon is killed and restarted.
const HEALTH_STRIKES: u32 = 3;
/// A daemon that ran this long restarts without delay after its next exit.
const STABLE_AFTER: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest event long-poll.
const FOLLOW_WAIT: Duration = Duration::from_secs(25);

/// What routerd wants running.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSpec {
    /// Unique name, e.g. `healthcheck-upstream`.
    pub name: String,
    /// Program, e.g. `routerd-healthcheck`.
    pub program: String,
    /// The resource the daemon serves, whose status it reports.
    pub resource: Option<String>,
    /// The daemon's config file content.
    pub config: Value,
}

/// What a daemon supervisor reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonInfo {
    /// Daemon name.
    pub name: String,
    /// Program.
    pub program: String,
    /// Resource served.
    pub resource: Option<String>,
    /// Process id, when running.
    pub pid: Option<u32>,
    /// `Running`, `Starting`, `Restarting` or `Stopped`.
    pub state: String,
    /// Restarts so far.
    pub restarts: u32,
    /// How the last incarnation ended.
    pub last_exit: Option<String>,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// Whether the process was adopted from a previous routerd.
    pub adopted: bool,
}

/// Messages of a daemon supervisor.
pub enum DaemonMsg {
    /// The spec changed (new config): rewrite and reload.
    Update(DaemonSpec),
    /// The process ended.
    Exited { pid: u32, how: String },
    /// (Re)start the process.
    Start,
    /// Check health.
    HealthTick,
    /// Refresh the resource status from the daemon.
    RefreshStatus,
    /// Stop the process for good (its resource was removed).
    Retire(RpcReplyPort<()>),
    /// Relay a command to the daemon.
    Command(Command, RpcReplyPort<Result<Value, String>>),
    /// Report.
    Info(RpcReplyPort<DaemonInfo>),
}

impl Traced for DaemonMsg {
    fn name(&self) -> &'static str {
        match self {
            DaemonMsg::Update(_) => "Update",
            DaemonMsg::Exited { .. } => "Exited",
            DaemonMsg::Start => "Start",
            DaemonMsg::HealthTick => "HealthTick",
            DaemonMsg::RefreshStatus => "RefreshStatus",
            DaemonMsg::Retire(_) => "Retire",
            DaemonMsg::Command(..) => "Command",
            DaemonMsg::Info(_) => "Info",
        }
    }
}

/// Start-up arguments.
pub struct DaemonArgs {
    /// Shared context.
    pub runtime: Arc<Runtime>,
    /// What to run.
    pub spec: DaemonSpec,
    /// Where the actor publishes its address.
    pub slot: Slot<DaemonMsg>,
}

/// The daemon supervisor actor.
pub struct DaemonSupervisor;

/// Its state.
pub struct DaemonState {
    runtime: Arc<Runtime>,
    spec: DaemonSpec,
    slot: Slot<DaemonMsg>,
    dir: PathBuf,
    client: Client,
    pid: Option<u32>,
    state: &'static str,
    adopted: bool,
    restarts: u32,
    backoff: Duration,
    started: Instant,
    exited_at: Option<Instant>,
    last_exit: Option<String>,
    strikes: u32,
    retired: bool,
    tasks: Vec<JoinHandle<()>>,
    monitor: Option<JoinHandle<()>>,
}

impl DaemonState {
    fn socket(&self) -> PathBuf {
        self.dir.join("daemon.sock")
    }

    fn publish(&self, verb: &str, reason: &str, message: String) {
        let mut event = NewEvent::new(format!("routerd.daemon.{}.{verb}", self.spec.name), reason)
            .message(message)
            .attr("daemon", self.spec.name.clone())
            .attr("restarts", self.restarts);
        if let Some(pid) = self.pid {
            event = event.attr("pid", pid);
        }
        if let Some(resource) = &self.spec.resource {
            event = event.resource(resource.clone());
        }
        self.runtime.bus.publish(event);
    }
}

/// Where daemon binaries are looked up.
fn program_path(runtime: &Runtime, program: &str) -> PathBuf {
    let beside = runtime.options.daemon_dir.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    if let Some(dir) = beside {
        let candidate = dir.join(program);
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from(program)
}

impl Actor for DaemonSupervisor {
    type Msg = DaemonMsg;
    type State = DaemonState;
    type Arguments = DaemonArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DaemonMsg>,
        args: DaemonArgs,
    ) -> Result<DaemonState, ActorProcessingErr> {
        let span = start_span(&format!("DaemonSupervisor/{}", args.spec.name));
        async move {
            let dir = args
                .runtime
                .options
                .state_dir
                .join("daemons")
                .join(&args.spec.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            write_json_atomic(dir.join("config.json"), &args.spec.config)
                .map_err(|e| format!("{}: cannot write the daemon config: {e}", dir.display()))?;
            let client = Client::new(dir.join("daemon.sock"));
            args.slot.set(myself.clone());
            let mut state = DaemonState {
                runtime: args.runtime,
                spec: args.spec,
                slot: args.slot,
                dir,
                client,
                pid: None,
                state: "Starting",
                adopted: false,
                restarts: 0,
                backoff: Duration::ZERO,
                started: Instant::now(),
                exited_at: None,
                last_exit: None,
                strikes: 0,
                retired: false,
                tasks: Vec::new(),
                monitor: None,
            };
            if let Some(pid) = adoptable(&state).await {
                adopt(&myself, &mut state, pid).await;
            } else {
                myself.cast(DaemonMsg::Start)?;
            }
            let follow = follow_events(myself.clone(), &state);
            state.tasks.push(follow);
            state
                .tasks
                .push(myself.send_interval(HEALTH_INTERVAL, || DaemonMsg::HealthTick));
            Ok(state)
        }
        .instrument(span)
        .await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<DaemonMsg>,
        state: &mut DaemonState,
    ) -> Result<(), ActorProcessingErr> {
        for task in state.tasks.drain(..) {
            task.abort();
        }
        if let Some(m) = state.monitor.take() {
            m.abort();
        }
        state.slot.clear(&myself);
        // The process is deliberately left running unless it was retired:
        // a restarted routerd adopts it.
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DaemonMsg>,
        msg: DaemonMsg,
        state: &mut DaemonState,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span(&format!("DaemonSupervisor/{}", state.spec.name), &msg);
        on_message(myself, msg, state).instrument(span).await;
        Ok(())
    }
}

async fn on_message(myself: ActorRef<DaemonMsg>, msg: DaemonMsg, state: &mut DaemonState) {
    match msg {
        DaemonMsg::Start => start(&myself, state).await,
        DaemonMsg::Exited { pid, how } => {
            if state.pid != Some(pid) {
                return;
            }
            state.pid = None;
            if let Some(m) = state.monitor.take() {
                m.abort();
            }
            state.last_exit = Some(how.clone());
            state.exited_at = Some(Instant::now());
            if state.retired {
                return;
            }
            state.state = "Restarting";
            let ran = state.started.elapsed();
            state.backoff = if ran >= STABLE_AFTER || state.restarts == 0 {
                Duration::ZERO
            } else {
                (state.backoff * 2).clamp(Duration::from_millis(100), BACKOFF_MAX)
            };
            state.publish(
                "exited",
                "Exited",
                format!(
                    "{} {how}; restarting in {:?}",
                    state.spec.program, state.backoff
                ),
            );
            // The phase stays what the daemon last reported: it restores it
            // from its state file, and resources gated on it must not flap
            // for a restart of a few milliseconds.
            if let Some(resource) = &state.spec.resource {
                let phase = state
                    .runtime
                    .statuses
                    .get(resource)
                    .map(|s| s.phase)
                    .unwrap_or_default();
                state.runtime.statuses.set_phase(
                    resource,
                    &phase,
                    "DaemonExited",
                    Some(format!("daemon {how}; restarting")),
                );
            }
            if state.backoff.is_zero() {
                let _ = myself.cast(DaemonMsg::Start);
            } else {
                myself.send_after(state.backoff, || DaemonMsg::Start);
            }
        }
        DaemonMsg::Update(spec) => {
            if spec == state.spec {
                return;
            }
            state.spec = spec;
            if let Err(e) = write_json_atomic(state.dir.join("config.json"), &state.spec.config) {
                tracing::error!(daemon = %state.spec.name, error = %e, "cannot write the daemon config");
                return;
            }
            if state.pid.is_some() {
                match state.client.command(Command::Reload).await {
                    Ok(_) => {
                        state.publish("reloaded", "Reloaded", "new configuration loaded".into())
                    }
                    Err(e) => {
                        state.publish(
                            "reload-failed",
                            "ReloadFailed",
                            format!("reload failed ({e}); restarting"),
                        );
                        kill(state);
                    }
                }
            }
        }
        DaemonMsg::HealthTick => {
            let Some(pid) = state.pid else { return };
            match state.client.healthz().await {
                Ok(Health::Live) => state.strikes = 0,
                other => {
                    state.strikes += 1;
                    if state.strikes >= HEALTH_STRIKES {
                        let why = match other {
                            Ok(Health::Unhealthy(r)) => r,
                            Err(e) => e.to_string(),
                            Ok(Health::Live) => String::new(),
                        };
                        state.publish("unresponsive", "Unresponsive", format!("pid {pid} failed {HEALTH_STRIKES} health checks ({why}); killing it"));
                        state.strikes = 0;
                        kill(state);
                    }
                }
            }
            refresh_status(state).await;
        }
        DaemonMsg::RefreshStatus => refresh_status(state).await,
        DaemonMsg::Retire(reply) => {
            state.retired = true;
            retire(state).await;
            let _ = reply.send(());
        }
        DaemonMsg::Command(command, reply) => {
            let result = state
                .client
                .command(command)
                .await
                .map_err(|e| e.to_string());
            let _ = reply.send(result);
        }
        DaemonMsg::Info(reply) => {
            let _ = reply.send(DaemonInfo {
                name: state.spec.name.clone(),
                program: state.spec.program.clone(),
                resource: state.spec.resource.clone(),
                pid: state.pid,
                state: state.state.to_string(),
                restarts: state.restarts,
                last_exit: state.last_exit.clone(),
                socket: state.socket(),
                adopted: state.adopted,
            });
        }
    }
}

/// Starts the process and waits for it to answer `/v1/healthz`.
async fn start(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState) {
    if state.pid.is_some() || state.retired {
        return;
    }
    let program = program_path(&state.runtime, &state.spec.program);
    let log = match open_log(&state.dir.join("daemon.log")) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(daemon = %state.spec.name, error = %e, "cannot open the daemon log");
            return;
        }
    };
    let log_err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(daemon = %state.spec.name, error = %e, "cannot open the daemon log");
            return;
        }
    };
    let mut command = tokio::process::Command::new(&program);
    command
        .arg("--config")
        .arg(state.dir.join("config.json"))
        .arg("--socket")
        .arg(state.socket())
        .arg("--state-dir")
        .arg(&state.dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a Ctrl-C or a signal to routerd's group
        // must not take the daemon (and its leases) down with it.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let how = format!("could not be started from {}: {e}", program.display());
            state.publish("failed", "StartFailed", how.clone());
            state.last_exit = Some(how);
            state.backoff = (state.backoff * 2).clamp(Duration::from_millis(500), BACKOFF_MAX);
            myself.send_after(state.backoff, || DaemonMsg::Start);
            return;
        }
    };
    let Some(pid) = child.id() else { return };
    state.pid = Some(pid);
    state.adopted = false;
    state.started = Instant::now();
    let _ = write_atomic(state.dir.join("pid"), format!("{pid}\n").as_bytes());
    let me = myself.clone();
    state.monitor = Some(tokio::spawn(async move {
        let how = match child.wait().await {
            Ok(status) => describe_exit(status),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let _ = me.cast(DaemonMsg::Exited { pid, how });
    }));
    let ready = wait_ready(&state.client).await;
    let first = state.exited_at.is_none();
    let downtime = state.exited_at.take().map(|t| t.elapsed());
    if !first {
        state.restarts += 1;
    }
    state.state = if ready { "Running" } else { "Starting" };
    let (verb, reason) = if first {
        ("started", "Started")
    } else {
        ("restarted", "Restarted")
    };
    let mut message = format!("{} pid {pid}", state.spec.program);
    if let Some(d) = downtime {
        message.push_str(&format!(", back after {} ms", d.as_millis()));
    }
    if !ready {
        message.push_str(", not answering /v1/healthz yet");
    }
    state.publish(verb, reason, message);
    refresh_status(state).await;
}

async fn wait_ready(client: &Client) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(client.healthz().await, Ok(Health::Live)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    // Keep the log bounded: a daemon that crash-loops must not fill the disk.
    if std::fs::metadata(path)
        .map(|m| m.len() > 4 << 20)
        .unwrap_or(false)
    {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// A live process from a previous routerd that is our daemon, if any.
async fn adoptable(state: &DaemonState) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state.dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    let socket = state.socket();
    if !cmdline.contains(&state.spec.program) || !cmdline.contains(&*socket.to_string_lossy()) {
        return None;
    }
    match state.client.healthz().await {
        Ok(Health::Live) => Some(pid),
        _ => None,
    }
}

async fn adopt(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState, pid: u32) {
    state.pid = Some(pid);
    state.adopted = true;
    state.state = "Running";
    state.started = Instant::now();
    state.monitor = Some(watch_pid(myself.clone(), pid));
    // The daemon may have been started with an older config.
    let _ = state.client.command(Command::Reload).await;
    state.publish(
        "adopted",
        "Adopted",
        format!(
            "{} pid {pid} left running by a previous routerd",
            state.spec.program
        ),
    );
}

/// Notices the exit of a process that is not our child, through a pidfd.
fn watch_pid(me: ActorRef<DaemonMsg>, pid: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let how = match pidfd_exit(pid).await {
            Ok(()) => "exited (adopted process; status unknown)".to_string(),
            Err(e) => format!("is gone ({e})"),
        };
        let _ = me.cast(DaemonMsg::Exited { pid, how });
    })
}

async fn pidfd_exit(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: the fd was just returned by pidfd_open and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `owned` is an open pidfd that the AsyncFd owns until it is
    // dropped; nothing else closes or replaces it.
    let async_fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)?;
    // A pidfd becomes readable when the process exits.
    let _guard = async_fd.readable().await?;
    Ok(())
}

fn kill(state: &DaemonState) {
    if let Some(pid) = state.pid
        && let Ok(pid) = libc::pid_t::try_from(pid)
    {
        // SAFETY: sending a signal has no memory effects; the process group
        // is the daemon's own (started with process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

async fn retire(state: &mut DaemonState) {
    let Some(pid) = state.pid else { return };
    let _ = state.client.command(Command::Stop).await;
    let gone = |pid: u32| !Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !gone(pid) {
        kill(state);
    }
    let _ = std::fs::remove_file(state.dir.join("pid"));
    state.state = "Stopped";
    state.publish(
        "stopped",
        "Stopped",
        format!(
            "{} pid {pid} stopped (resource removed)",
            state.spec.program
        ),
    );
    state.pid = None;
}

/// Copies the daemon's status into the resource status.
async fn refresh_status(state: &mut DaemonState) {
    let Some(resource) = state.spec.resource.clone() else {
        return;
    };
    let Ok(envelope) = state.client.status().await else {
        return;
    };
    let mut fields = match envelope.status {
        Value::Object(map) => map,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("detail".into(), other);
            map
        }
    };
    fields.insert(
        "daemon".into(),
        serde_json::json!({
            "name": state.spec.name,
            "pid": envelope.pid,
            "restarts": state.restarts,
            "startedAt": envelope.started_at,
        }),
    );
    // Phase and last transition are the daemon's own account.
    fields.remove("phase");
    let transition = fields.remove("lastTransition").and_then(|t| {
        Some(crate::status::Transition {
            time: t.get("time")?.as_str()?.to_string(),
            from: t.get("from")?.as_str()?.to_string(),
            to: t.get("to")?.as_str()?.to_string(),
            reason: t.get("reason")?.as_str()?.to_string(),
        })
    });
    state.runtime.statuses.set_fields(&resource, fields);
    if state
        .runtime
        .statuses
        .set_reported_phase(&resource, &envelope.phase, transition)
    {
        state
            .runtime
            .bus
            .signal(NewEvent::new("routerd.status.changed", "StatusChanged").resource(resource));
    }
}

/// Follows the daemon's events onto the bus, resuming after the last one
/// forwarded (kept in `routerd.cursor` across routerd restarts).
fn follow_events(me: ActorRef<DaemonMsg>, state: &DaemonState) -> JoinHandle<()> {
    let client = state
        .client
        .clone()
        .with_timeout(FOLLOW_WAIT + Duration::from_secs(10));
    let bus = state.runtime.bus.clone();
    let cursor_path = state.dir.join("routerd.cursor");
    let mut cursor: u64 = std::fs::read_to_string(&cursor_path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    tokio::spawn(
        async move {
            loop {
                match client.events(cursor, Some(FOLLOW_WAIT), None).await {
                    Ok(page) => {
                        if page.last_seq < cursor {
                            // The daemon's log was reset: start over.
                            cursor = 0;
                            continue;
                        }
                        if page.events.is_empty() {
                            continue;
                        }
                        for event in page.events {
                            cursor = event.seq;
                            bus.forward(event);
                        }
                        let _ = write_atomic(&cursor_path, format!("{cursor}\n").as_bytes());
                        let _ = me.cast(DaemonMsg::RefreshStatus);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        // A root span: this task lives as long as the daemon, and a child span
        // would keep every ancestor (the whole start-up trace) open with it.
        .instrument(tracing::info_span!(parent: None, "daemon.follow")),
    )
}
