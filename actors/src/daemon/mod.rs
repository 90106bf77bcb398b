//! DaemonSupervisor: one actor per managed daemon process.
//!
//! It starts the daemon (or adopts one left running by a previous routerd,
//! so restarting routerd drops no lease or session), notices its exit at
//! once (it holds the child, or a pidfd for an adopted process), restarts it
//! with backoff, watches `/v1/healthz`, and follows `/v1/events` onto the
//! bus. Controllers never talk to daemons directly; they ask this actor.
//!
//! No handler waits on the daemon: calls to its socket run in tasks that
//! report back as messages, so the actor always answers `Info`, `Retire`
//! and commands promptly, even when the daemon hangs.

mod process;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_contract::atomic::{write_atomic, write_json_atomic};
use routerd_contract::server::{Command, Health, StatusEnvelope};
use routerd_contract::{Client, NewEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::runtime::Runtime;
use crate::slot::Slot;
use crate::task::Task;
use crate::trace::{Traced, message_span, start_span};
use process::Previous;

/// How long a (re)started daemon has to answer `/v1/healthz`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Health checks of a running daemon.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// A health or status call that takes longer counts as a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive failed health checks before the daemon is killed and restarted.
const HEALTH_STRIKES: u32 = 3;
/// A daemon that ran this long restarts without delay after its next exit.
const STABLE_AFTER: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest event long-poll.
const FOLLOW_WAIT: Duration = Duration::from_secs(25);

/// The directory of daemon `name` under routerd's state directory.
pub fn daemon_dir(state_dir: &std::path::Path, name: &str) -> PathBuf {
    state_dir.join("daemons").join(name)
}

/// The contract socket of daemon `name`.
pub fn daemon_socket(state_dir: &std::path::Path, name: &str) -> PathBuf {
    daemon_dir(state_dir, name).join("daemon.sock")
}

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
    /// Status fields whose change, not only a phase change, tells the
    /// resources that read them (a delegated prefix, learned DNS servers).
    pub watched: Vec<String>,
    /// Further resources the daemon serves, each with its own status.
    pub sub_resources: Vec<SubResource>,
}

impl DaemonSpec {
    /// A daemon serving (at most) one resource, with no watched fields.
    pub fn new(name: String, program: &str, resource: Option<String>, config: Value) -> Self {
        DaemonSpec {
            name,
            program: program.into(),
            resource,
            config,
            watched: Vec::new(),
            sub_resources: Vec::new(),
        }
    }
}

/// A resource whose status is one part of a daemon's status: the object
/// under `key`, whose `phase` is the resource's phase. One DHCPv6 client
/// serves both the prefix delegation and the information of a link, for
/// example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubResource {
    /// `Kind/name`.
    pub resource: String,
    /// The key of its part in the daemon's status.
    pub key: String,
}

/// The current spec, shared with the supervisor's start closure so that a
/// restarted DaemonSupervisor starts from the newest spec, not the first.
pub type SharedSpec = Arc<Mutex<DaemonSpec>>;

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
    /// `Starting`, `Running`, `Restarting` or `Stopped`.
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
    /// (Re)start the process.
    Start,
    /// The started process answers /v1/healthz (or did not in time).
    Ready { pid: u32, ready: bool },
    /// The process ended.
    Exited { pid: u32, how: String },
    /// Time to check health.
    HealthTick,
    /// A health check's result.
    Health {
        pid: u32,
        result: Result<Health, String>,
    },
    /// Time to copy the daemon's status into the resource status.
    RefreshStatus,
    /// The daemon's status.
    Status(Box<StatusEnvelope>),
    /// The spec changed (new config): rewrite and reload.
    Update(DaemonSpec),
    /// A reload after an update failed: restart to apply the new config.
    ReloadFailed(String),
    /// Stop the process for good (its resource was removed).
    Retire(RpcReplyPort<()>),
    /// Relay a command to the daemon.
    Command(Command, RpcReplyPort<Result<Value, RelayError>>),
    /// Report.
    Info(RpcReplyPort<DaemonInfo>),
}

impl Traced for DaemonMsg {
    fn name(&self) -> &'static str {
        match self {
            DaemonMsg::Start => "Start",
            DaemonMsg::Ready { .. } => "Ready",
            DaemonMsg::Exited { .. } => "Exited",
            DaemonMsg::HealthTick => "HealthTick",
            DaemonMsg::Health { .. } => "Health",
            DaemonMsg::RefreshStatus => "RefreshStatus",
            DaemonMsg::Status(_) => "Status",
            DaemonMsg::Update(_) => "Update",
            DaemonMsg::ReloadFailed(_) => "ReloadFailed",
            DaemonMsg::Retire(_) => "Retire",
            DaemonMsg::Command(..) => "Command",
            DaemonMsg::Info(_) => "Info",
        }
    }
}

/// Why a relayed command was not carried out.
#[derive(Debug, Clone)]
pub enum RelayError {
    /// The daemon is not running (stopped on request, or restarting).
    NotRunning(String),
    /// The daemon refused or did not answer.
    Failed(String),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::NotRunning(m) | RelayError::Failed(m) => f.write_str(m),
        }
    }
}

/// Start-up arguments.
pub struct DaemonArgs {
    /// Shared context.
    pub runtime: Arc<Runtime>,
    /// What to run (kept current by `Update`).
    pub spec: SharedSpec,
    /// Where the actor publishes its address.
    pub slot: Slot<DaemonMsg>,
}

/// The daemon supervisor actor.
pub struct DaemonSupervisor;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Restarting,
    /// Stopped on request (`stop` through routerd, or retired): not restarted.
    Stopped,
}

/// Its state.
pub struct DaemonState {
    runtime: Arc<Runtime>,
    spec: SharedSpec,
    name: String,
    program: String,
    resource: Option<String>,
    slot: Slot<DaemonMsg>,
    dir: PathBuf,
    client: Client,
    pid: Option<u32>,
    phase: Phase,
    adopted: bool,
    restarts: u32,
    backoff: Duration,
    started: Instant,
    exited_at: Option<Instant>,
    last_exit: Option<String>,
    strikes: u32,
    retired: bool,
    monitor: Option<Task>,
    health_probe: Option<Task>,
    status_probe: Option<Task>,
    background: Vec<Task>,
}

impl DaemonState {
    fn socket(&self) -> PathBuf {
        self.dir.join("daemon.sock")
    }

    /// An event about this daemon, with the attributes every one carries.
    fn event(&self, verb: &str, reason: &str, message: String) -> NewEvent {
        let mut event = NewEvent::new(format!("routerd.daemon.{}.{verb}", self.name), reason)
            .message(message)
            .attr("daemon", self.name.clone())
            .attr("restarts", self.restarts);
        if let Some(pid) = self.pid {
            event = event.attr("pid", pid);
        }
        if let Some(resource) = &self.resource {
            event = event.resource(resource.clone());
        }
        event
    }

    fn publish(&self, verb: &str, reason: &str, message: String) {
        self.runtime.bus.publish(self.event(verb, reason, message));
    }

    fn spec(&self) -> Option<DaemonSpec> {
        self.spec.lock().ok().map(|s| s.clone())
    }
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
        let spec = args
            .spec
            .lock()
            .map_err(|_| "daemon spec lock poisoned")?
            .clone();
        let span = start_span(&format!("DaemonSupervisor/{}", spec.name));
        async move {
            let dir = daemon_dir(&args.runtime.options.state_dir, &spec.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // What a daemon left running by a previous routerd was started
            // with, to tell whether adopting it means restarting it.
            let previous_config: Option<Value> = std::fs::read(dir.join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            write_json_atomic(dir.join("config.json"), &spec.config)
                .map_err(|e| format!("{}: cannot write the daemon config: {e}", dir.display()))?;
            let client = Client::new(dir.join("daemon.sock")).with_timeout(CALL_TIMEOUT);
            args.slot.set(myself.clone());
            let mut state = DaemonState {
                runtime: args.runtime,
                spec: args.spec,
                name: spec.name.clone(),
                program: spec.program.clone(),
                resource: spec.resource.clone(),
                slot: args.slot,
                dir,
                client,
                pid: None,
                phase: Phase::Starting,
                adopted: false,
                restarts: 0,
                backoff: Duration::ZERO,
                started: Instant::now(),
                exited_at: None,
                last_exit: None,
                strikes: 0,
                retired: false,
                monitor: None,
                health_probe: None,
                status_probe: None,
                background: Vec::new(),
            };
            match process::previous(&state.dir, &state.program, &state.socket()).await {
                Previous::Live(pid) => {
                    let changed = previous_config.as_ref() != Some(&spec.config);
                    adopt(&myself, &mut state, pid, changed).await
                }
                Previous::Hung(pid) => {
                    // Ours but wedged: it holds the socket and would keep a
                    // new daemon from binding it.
                    process::kill(pid);
                    process::wait_gone(pid, Duration::from_secs(2)).await;
                    state.publish(
                        "killed",
                        "HungAtStart",
                        format!(
                            "{} pid {pid} left by a previous routerd did not answer; killed it",
                            state.program
                        ),
                    );
                    myself.cast(DaemonMsg::Start)?;
                }
                Previous::None => myself.cast(DaemonMsg::Start)?,
            }
            state.background.push(follow_events(myself.clone(), &state));
            state.background.push(Task::adopt(
                myself.send_interval(HEALTH_INTERVAL, || DaemonMsg::HealthTick),
            ));
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
        state.slot.clear(&myself);
        // The process is deliberately left running unless it was retired:
        // a restarted routerd adopts it.
        if state.retired
            && let Some(pid) = state.pid
        {
            process::kill(pid);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DaemonMsg>,
        msg: DaemonMsg,
        state: &mut DaemonState,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span(&format!("DaemonSupervisor/{}", state.name), &msg);
        on_message(myself, msg, state).instrument(span).await;
        Ok(())
    }
}

async fn on_message(myself: ActorRef<DaemonMsg>, msg: DaemonMsg, state: &mut DaemonState) {
    match msg {
        DaemonMsg::Start => start(&myself, state),
        DaemonMsg::Ready { pid, ready } => {
            if state.pid != Some(pid) {
                return;
            }
            let first = state.exited_at.is_none();
            let downtime = state.exited_at.take().map(|t| t.elapsed());
            if !first {
                state.restarts += 1;
            }
            state.phase = if ready {
                Phase::Running
            } else {
                Phase::Starting
            };
            let (verb, reason) = if first {
                ("started", "Started")
            } else {
                ("restarted", "Restarted")
            };
            let mut message = format!("{} pid {pid}", state.program);
            if let Some(d) = downtime {
                message.push_str(&format!(", back after {} ms", d.as_millis()));
            }
            if !ready {
                message.push_str(", not answering /v1/healthz yet");
            }
            state.publish(verb, reason, message);
            refresh_status(&myself, state);
        }
        DaemonMsg::Exited { pid, how } => exited(&myself, state, pid, how),
        DaemonMsg::HealthTick => {
            let Some(pid) = state.pid else { return };
            if state
                .health_probe
                .as_ref()
                .is_some_and(|t| !t.is_finished())
            {
                return;
            }
            let client = state.client.clone();
            let me = myself.clone();
            state.health_probe = Some(Task::spawn(
                async move {
                    let result = client.healthz().await.map_err(|e| e.to_string());
                    let _ = me.cast(DaemonMsg::Health { pid, result });
                }
                .in_current_span(),
            ));
        }
        DaemonMsg::Health { pid, result } => {
            if state.pid != Some(pid) {
                return;
            }
            match result {
                Ok(Health::Live) => state.strikes = 0,
                other => {
                    state.strikes += 1;
                    if state.strikes >= HEALTH_STRIKES {
                        let why = match other {
                            Ok(Health::Unhealthy(r)) => r,
                            Err(e) => e,
                            Ok(Health::Live) => String::new(),
                        };
                        state.publish(
                            "unresponsive",
                            "Unresponsive",
                            format!("pid {pid} failed {HEALTH_STRIKES} health checks ({why}); killing it"),
                        );
                        state.strikes = 0;
                        process::kill(pid);
                    }
                }
            }
            refresh_status(&myself, state);
        }
        DaemonMsg::RefreshStatus => refresh_status(&myself, state),
        DaemonMsg::Status(envelope) => apply_status(state, *envelope),
        DaemonMsg::Update(spec) => update(&myself, state, spec),
        DaemonMsg::ReloadFailed(why) => {
            if let Some(pid) = state.pid {
                state.publish(
                    "reload-failed",
                    "ReloadFailed",
                    format!("reload failed ({why}); restarting"),
                );
                process::kill(pid);
            }
        }
        DaemonMsg::Retire(reply) => retire(state, reply),
        DaemonMsg::Command(command, reply) => relay(&myself, state, command, reply),
        DaemonMsg::Info(reply) => {
            let _ = reply.send(DaemonInfo {
                name: state.name.clone(),
                program: state.program.clone(),
                resource: state.resource.clone(),
                pid: state.pid,
                state: format!("{:?}", state.phase),
                restarts: state.restarts,
                last_exit: state.last_exit.clone(),
                socket: state.socket(),
                adopted: state.adopted,
            });
        }
    }
}

/// Starts the process; readiness is reported back as [`DaemonMsg::Ready`].
fn start(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState) {
    if state.pid.is_some() || state.retired || state.phase == Phase::Stopped {
        return;
    }
    let program =
        process::program_path(state.runtime.options.daemon_dir.as_deref(), &state.program);
    match process::spawn(myself, &program, &state.dir, &state.socket()) {
        Ok((pid, monitor)) => {
            state.pid = Some(pid);
            state.adopted = false;
            state.started = Instant::now();
            state.strikes = 0;
            state.monitor = Some(monitor);
            let _ = write_atomic(state.dir.join("pid"), format!("{pid}\n").as_bytes());
            let client = state.client.clone();
            let me = myself.clone();
            state.background.retain(|t| !t.is_finished());
            state.background.push(Task::spawn(
                async move {
                    let ready = process::wait_ready(&client, READY_TIMEOUT).await;
                    let _ = me.cast(DaemonMsg::Ready { pid, ready });
                }
                .in_current_span(),
            ));
        }
        Err(how) => {
            state.publish("failed", "StartFailed", how.clone());
            state.last_exit = Some(how);
            state.backoff = (state.backoff * 2).clamp(Duration::from_millis(500), BACKOFF_MAX);
            myself.send_after(state.backoff, || DaemonMsg::Start);
        }
    }
}

fn exited(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState, pid: u32, how: String) {
    if state.pid != Some(pid) {
        return;
    }
    state.pid = None;
    state.monitor = None;
    state.last_exit = Some(how.clone());
    state.exited_at = Some(Instant::now());
    if state.retired {
        return;
    }
    if state.phase == Phase::Stopped {
        let _ = std::fs::remove_file(state.dir.join("pid"));
        // Nothing probes any more: the last phase would be stale, and
        // resources gated on it must not act on it.
        let subs = state.spec().map(|s| s.sub_resources).unwrap_or_default();
        for resource in state
            .resource
            .iter()
            .chain(subs.iter().map(|s| &s.resource))
        {
            state.runtime.statuses.set_phase(
                resource,
                "Stopped",
                "DaemonStopped",
                Some("stopped on request; renew starts it".into()),
            );
        }
        state.publish(
            "stopped",
            "Stopped",
            format!(
                "{} {how} on request; `renew` starts it again",
                state.program
            ),
        );
        return;
    }
    state.phase = Phase::Restarting;
    let ran = state.started.elapsed();
    state.backoff = if ran >= STABLE_AFTER || state.restarts == 0 {
        Duration::ZERO
    } else {
        (state.backoff * 2).clamp(Duration::from_millis(100), BACKOFF_MAX)
    };
    state.publish(
        "exited",
        "Exited",
        format!("{} {how}; restarting in {:?}", state.program, state.backoff),
    );
    // The phase stays what the daemon last reported: it restores it from its
    // state file, and resources gated on it must not flap for a restart of a
    // few milliseconds.
    if let Some(resource) = &state.resource {
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

fn update(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState, spec: DaemonSpec) {
    if state.spec().as_ref() == Some(&spec) {
        return;
    }
    let config = spec.config.clone();
    // The resource served can change with the config (a link's DHCPv6
    // client that gains or loses its prefix delegation).
    state.resource = spec.resource.clone();
    if let Ok(mut current) = state.spec.lock() {
        *current = spec;
    }
    if let Err(e) = write_json_atomic(state.dir.join("config.json"), &config) {
        tracing::error!(daemon = %state.name, error = %e, "cannot write the daemon config");
        return;
    }
    if state.pid.is_none() {
        return;
    }
    let client = state.client.clone();
    let me = myself.clone();
    let reloaded = state.event("reloaded", "Reloaded", "new configuration loaded".into());
    let bus = state.runtime.bus.clone();
    state.background.retain(|t| !t.is_finished());
    state.background.push(Task::spawn(
        async move {
            match client.command(Command::Reload).await {
                Ok(_) => bus.publish(reloaded),
                Err(e) => {
                    let _ = me.cast(DaemonMsg::ReloadFailed(e.to_string()));
                }
            }
        }
        .in_current_span(),
    ));
}

/// Stops the daemon for good and answers when it is gone.
fn retire(state: &mut DaemonState, reply: RpcReplyPort<()>) {
    state.retired = true;
    state.phase = Phase::Stopped;
    let pid = state.pid;
    let client = state.client.clone();
    let pid_file = state.dir.join("pid");
    let bus = state.runtime.bus.clone();
    let retired = state.event(
        "stopped",
        "Retired",
        format!(
            "{} stopped: its resource was removed or disabled",
            state.program
        ),
    );
    state.background.push(Task::spawn(
        async move {
            if let Some(pid) = pid {
                let _ = client.command(Command::Stop).await;
                if !process::wait_gone(pid, Duration::from_secs(3)).await {
                    process::kill(pid);
                    process::wait_gone(pid, Duration::from_secs(2)).await;
                }
            }
            let _ = std::fs::remove_file(pid_file);
            bus.publish(retired);
            let _ = reply.send(());
        }
        .in_current_span(),
    ));
}

/// Relays a command. `stop` keeps the daemon stopped (no restart) until a
/// `renew`, which starts it again; a command to a stopped daemon is refused.
fn relay(
    myself: &ActorRef<DaemonMsg>,
    state: &mut DaemonState,
    command: Command,
    reply: RpcReplyPort<Result<Value, RelayError>>,
) {
    if state.pid.is_none() {
        let answer = match (state.phase, command) {
            (Phase::Stopped, Command::Renew) if !state.retired => {
                state.phase = Phase::Starting;
                let _ = myself.cast(DaemonMsg::Start);
                Ok(serde_json::json!({ "started": true }))
            }
            (Phase::Stopped, Command::Stop) => {
                Ok(serde_json::json!({ "stopped": true, "already": true }))
            }
            (phase, _) => Err(RelayError::NotRunning(format!(
                "{} is not running ({phase:?}){}",
                state.name,
                if phase == Phase::Stopped {
                    "; renew starts it"
                } else {
                    ""
                }
            ))),
        };
        let _ = reply.send(answer);
        return;
    }
    if command == Command::Stop {
        state.phase = Phase::Stopped;
    }
    let client = state.client.clone().with_timeout(Duration::from_secs(30));
    state.background.retain(|t| !t.is_finished());
    state.background.push(Task::spawn(
        async move {
            let _ = reply.send(
                client
                    .command(command)
                    .await
                    .map_err(|e| RelayError::Failed(e.to_string())),
            );
        }
        .in_current_span(),
    ));
}

async fn adopt(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState, pid: u32, changed: bool) {
    state.pid = Some(pid);
    state.adopted = true;
    state.phase = Phase::Running;
    state.started = Instant::now();
    state.monitor = Some(process::watch_pid(myself.clone(), pid));
    // The daemon may have been started with an older config. One that
    // cannot reload is restarted with the new one (its state file carries
    // what it held); one whose config did not change is left alone.
    let reloaded = state.client.command(Command::Reload).await.is_ok();
    if changed && !reloaded {
        state.publish(
            "restarting",
            "ConfigChanged",
            format!(
                "{} pid {pid} left running by a previous routerd cannot reload its changed config; restarting it",
                state.program
            ),
        );
        process::kill(pid);
        return;
    }
    state.publish(
        "adopted",
        "Adopted",
        format!(
            "{} pid {pid} left running by a previous routerd",
            state.program
        ),
    );
    refresh_status(myself, state);
}

/// Fetches the daemon's status in a task; it arrives as [`DaemonMsg::Status`].
fn refresh_status(myself: &ActorRef<DaemonMsg>, state: &mut DaemonState) {
    let serves =
        state.resource.is_some() || state.spec().is_some_and(|s| !s.sub_resources.is_empty());
    if !serves
        || state
            .status_probe
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    {
        return;
    }
    let client = state.client.clone();
    let me = myself.clone();
    state.status_probe = Some(Task::spawn(
        async move {
            if let Ok(envelope) = client.status().await {
                let _ = me.cast(DaemonMsg::Status(Box::new(envelope)));
            }
        }
        .in_current_span(),
    ));
}

/// Copies the daemon's status into its resource's status.
fn apply_status(state: &mut DaemonState, envelope: StatusEnvelope) {
    let resource = state.resource.clone();
    let mut fields = match envelope.status {
        Value::Object(map) => map,
        other => {
            let mut map = serde_json::Map::new();
            map.insert("detail".into(), other);
            map
        }
    };
    let daemon = serde_json::json!({
        "name": state.name,
        "pid": envelope.pid,
        "restarts": state.restarts,
        "startedAt": envelope.started_at,
    });
    fields.insert("daemon".into(), daemon.clone());
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
    let (watched, subs) = state
        .spec()
        .map(|s| (s.watched, s.sub_resources))
        .unwrap_or_default();
    let statuses = &state.runtime.statuses;
    for sub in &subs {
        let Some(Value::Object(part)) = fields.get(&sub.key) else {
            continue;
        };
        let mut part = part.clone();
        let phase = part
            .remove("phase")
            .and_then(|p| p.as_str().map(str::to_string))
            .unwrap_or_default();
        part.insert("daemon".into(), daemon.clone());
        let keys: Vec<String> = part.keys().cloned().collect();
        statuses.set_fields_watched(&sub.resource, part, &keys);
        statuses.set_reported_phase(&sub.resource, &phase, None);
    }
    if let Some(resource) = &resource {
        statuses.set_fields_watched(resource, fields, &watched);
        statuses.set_reported_phase(resource, &envelope.phase, transition);
    }
}

/// Follows the daemon's events onto the bus, resuming after the last one
/// forwarded (kept in `routerd.cursor` across routerd restarts).
fn follow_events(me: ActorRef<DaemonMsg>, state: &DaemonState) -> Task {
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
    Task::spawn(
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
                        if me.cast(DaemonMsg::RefreshStatus).is_err() {
                            // The actor is gone; so is this follower.
                            return;
                        }
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
