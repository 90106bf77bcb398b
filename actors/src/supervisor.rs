//! A supervisor in the Erlang/OTP mould, on ractor.
//!
//! Children are started from specs and restarted one-for-one when they fail,
//! after a backoff that grows while a child keeps failing and resets once it
//! has run stably. More than `max_restarts` restarts of one child within
//! `within` means restarting is not helping: the supervisor stops its
//! children and fails itself, escalating to its own supervisor. A panic in a
//! child is caught by ractor and arrives here as a failure, so it never
//! reaches siblings or the process.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use tracing::Instrument;

use crate::trace::{Traced, message_span, start_span};

/// Starts one incarnation of a child, linked to the given supervisor.
pub type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;

/// A child the supervisor keeps running: it is restarted after a failure
/// and after any exit it did not ask for.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among the supervisor's children.
    pub name: String,
    /// Starts the child.
    pub start: StartFn,
}

impl ChildSpec {
    /// A child started by `start`.
    pub fn permanent<F>(name: impl Into<String>, start: F) -> Self
    where
        F: Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync + 'static,
    {
        ChildSpec {
            name: name.into(),
            start: Arc::new(start),
        }
    }
}

/// Restart intensity and backoff.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Restarts of one child tolerated within `within` before escalating.
    pub max_restarts: u32,
    /// The window for `max_restarts`.
    pub within: Duration,
    /// Delay before the first restart.
    pub backoff_initial: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
    /// A child that ran this long is considered healthy again: its backoff resets.
    pub stable_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_restarts: 5,
            within: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            stable_after: Duration::from_secs(10),
        }
    }
}

/// What a supervisor tells its observer (routerd turns these into events).
#[derive(Debug, Clone)]
pub enum Notice {
    /// A child failed and will be restarted after `after`.
    Restarting {
        supervisor: String,
        child: String,
        error: String,
        after: Duration,
        restarts: u32,
    },
    /// A child is running again.
    Restarted {
        supervisor: String,
        child: String,
        restarts: u32,
    },
    /// Restart intensity exceeded: the supervisor escalates.
    GaveUp {
        supervisor: String,
        child: String,
        error: String,
    },
}

/// Receives notices.
pub type Observer = Arc<dyn Fn(Notice) + Send + Sync>;

/// Start-up arguments of a supervisor.
pub struct SupervisorArgs {
    /// The supervisor's name (for spans, notices and status).
    pub name: String,
    /// Children, started in order.
    pub children: Vec<ChildSpec>,
    /// Restart policy.
    pub policy: Policy,
    /// Optional observer of restarts.
    pub observer: Option<Observer>,
}

/// A child's state as reported by [`SupervisorMsg::Children`].
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildInfo {
    /// Child name.
    pub name: String,
    /// Whether an incarnation is running.
    pub running: bool,
    /// Restarts since the supervisor started.
    pub restarts: u32,
    /// The last failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Messages a supervisor handles.
pub enum SupervisorMsg {
    /// Backoff elapsed: start the child again.
    Restart(String),
    /// Add and start a child (replacing one of the same name).
    Add(ChildSpec, Option<RpcReplyPort<Result<(), String>>>),
    /// Stop a child and forget it.
    Remove(String, Option<RpcReplyPort<()>>),
    /// Report the children.
    Children(RpcReplyPort<Vec<ChildInfo>>),
}

impl Traced for SupervisorMsg {
    fn name(&self) -> &'static str {
        match self {
            SupervisorMsg::Restart(_) => "Restart",
            SupervisorMsg::Add(..) => "Add",
            SupervisorMsg::Remove(..) => "Remove",
            SupervisorMsg::Children(_) => "Children",
        }
    }
}

/// The supervisor actor.
pub struct Supervisor;

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    window: VecDeque<Instant>,
    restarts: u32,
    backoff: Duration,
    started: Instant,
    last_error: Option<String>,
}

/// A supervisor's state.
pub struct SupervisorState {
    name: String,
    policy: Policy,
    observer: Option<Observer>,
    children: Vec<Child>,
}

impl SupervisorState {
    fn notify(&self, notice: Notice) {
        if let Some(observer) = &self.observer {
            observer(notice);
        }
    }

    fn child_of(&mut self, cell: &ActorCell) -> Option<usize> {
        let id = cell.get_id();
        self.children
            .iter()
            .position(|c| c.cell.as_ref().is_some_and(|c| c.get_id() == id))
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let span = start_span(&args.name);
        async move {
            let mut state = SupervisorState {
                name: args.name,
                policy: args.policy,
                observer: args.observer,
                children: Vec::new(),
            };
            for spec in args.children {
                // A child that cannot start at all is a configuration or
                // programming error: fail the supervisor's own start.
                let cell = (spec.start)(myself.get_cell()).await.map_err(|e| {
                    format!("{}: starting child {} failed: {e}", state.name, spec.name)
                })?;
                state.children.push(Child {
                    backoff: state.policy.backoff_initial,
                    spec,
                    cell: Some(cell),
                    window: VecDeque::new(),
                    restarts: 0,
                    started: Instant::now(),
                    last_error: None,
                });
            }
            Ok(state)
        }
        .instrument(span)
        .await
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        stop_all(state).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span(&state.name, &msg);
        async move {
            match msg {
                SupervisorMsg::Restart(name) => restart(&myself, state, &name).await,
                SupervisorMsg::Add(spec, reply) => {
                    let result = add(&myself, state, spec).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                    Ok(())
                }
                SupervisorMsg::Remove(name, reply) => {
                    if let Some(i) = state.children.iter().position(|c| c.spec.name == name) {
                        let child = state.children.remove(i);
                        if let Some(cell) = child.cell {
                            cell.unlink(myself.get_cell());
                            let _ = cell
                                .stop_and_wait(None, Some(Duration::from_secs(10)))
                                .await;
                        }
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(());
                    }
                    Ok(())
                }
                SupervisorMsg::Children(reply) => {
                    let infos = state
                        .children
                        .iter()
                        .map(|c| ChildInfo {
                            name: c.spec.name.clone(),
                            running: c.cell.is_some(),
                            restarts: c.restarts,
                            last_error: c.last_error.clone(),
                        })
                        .collect();
                    let _ = reply.send(infos);
                    Ok(())
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, error) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".into());
                (cell, format!("exited unexpectedly: {reason}"))
            }
            _ => return Ok(()),
        };
        let Some(i) = state.child_of(&cell) else {
            return Ok(());
        };
        child_failed(&myself, state, i, error).await
    }
}

async fn child_failed(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    i: usize,
    error: String,
) -> Result<(), ActorProcessingErr> {
    let policy = state.policy;
    let now = Instant::now();
    let child = &mut state.children[i];
    tracing::warn!(supervisor = %state.name, child = %child.spec.name, %error, "child failed");
    child.cell = None;
    child.last_error = Some(error.clone());
    child.window.push_back(now);
    while child
        .window
        .front()
        .is_some_and(|t| now.duration_since(*t) > policy.within)
    {
        child.window.pop_front();
    }
    if child.window.len() > policy.max_restarts as usize {
        let name = child.spec.name.clone();
        let message = format!(
            "{}: child {name} failed {} times within {:?}; giving up (last error: {error})",
            state.name,
            child.window.len(),
            policy.within
        );
        state.notify(Notice::GaveUp {
            supervisor: state.name.clone(),
            child: name,
            error: message.clone(),
        });
        stop_all(state).await;
        return Err(message.into());
    }
    let stable = now.duration_since(child.started) >= policy.stable_after;
    // The first failure in the window restarts quickly; repeated failures
    // (restarts that fail count too) back off.
    child.backoff = if stable || child.window.len() <= 1 {
        policy.backoff_initial
    } else {
        (child.backoff * 2).min(policy.backoff_max)
    };
    let after = child.backoff;
    let name = child.spec.name.clone();
    let restarts = child.restarts + 1;
    state.notify(Notice::Restarting {
        supervisor: state.name.clone(),
        child: name.clone(),
        error,
        after,
        restarts,
    });
    if after.is_zero() {
        let _ = myself.cast(SupervisorMsg::Restart(name));
    } else {
        myself.send_after(after, move || SupervisorMsg::Restart(name));
    }
    Ok(())
}

async fn restart(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    name: &str,
) -> Result<(), ActorProcessingErr> {
    let Some(i) = state.children.iter().position(|c| c.spec.name == name) else {
        return Ok(());
    };
    if state.children[i].cell.is_some() {
        return Ok(());
    }
    let start = state.children[i].spec.start.clone();
    match start(myself.get_cell()).await {
        Ok(cell) => {
            let child = &mut state.children[i];
            child.cell = Some(cell);
            child.restarts += 1;
            child.started = Instant::now();
            let notice = Notice::Restarted {
                supervisor: state.name.clone(),
                child: name.to_string(),
                restarts: state.children[i].restarts,
            };
            state.notify(notice);
            Ok(())
        }
        Err(e) => {
            Box::pin(child_failed(
                myself,
                state,
                i,
                format!("restart failed: {e}"),
            ))
            .await
        }
    }
}

async fn add(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    spec: ChildSpec,
) -> Result<(), String> {
    if let Some(i) = state.children.iter().position(|c| c.spec.name == spec.name) {
        let old = state.children.remove(i);
        if let Some(cell) = old.cell {
            cell.unlink(myself.get_cell());
            let _ = cell
                .stop_and_wait(None, Some(Duration::from_secs(10)))
                .await;
        }
    }
    let cell = (spec.start)(myself.get_cell())
        .await
        .map_err(|e| format!("starting {} failed: {e}", spec.name))?;
    state.children.push(Child {
        backoff: state.policy.backoff_initial,
        spec,
        cell: Some(cell),
        window: VecDeque::new(),
        restarts: 0,
        started: Instant::now(),
        last_error: None,
    });
    Ok(())
}

/// Stops children in reverse start order, waiting for each.
async fn stop_all(state: &mut SupervisorState) {
    for child in state.children.iter_mut().rev() {
        if let Some(cell) = child.cell.take() {
            let _ = cell
                .stop_and_wait(None, Some(Duration::from_secs(10)))
                .await;
        }
    }
}

/// Asks a supervisor for its children.
pub async fn children(supervisor: &ActorRef<SupervisorMsg>) -> Vec<ChildInfo> {
    match supervisor
        .call(SupervisorMsg::Children, Some(Duration::from_secs(5)))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(infos)) => infos,
        _ => Vec::new(),
    }
}
