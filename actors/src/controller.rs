//! The controller framework: an actor that turns bus events into
//! reconciles of just the resources they affect.
//!
//! Events arriving close together are merged into one reconcile (a config
//! apply or a burst of kernel notifications triggers one pass, not hundreds).
//! A failed reconcile is retried with a growing delay; a panic inside one
//! is caught by the supervisor, which restarts the controller, and the new
//! incarnation starts with a full reconcile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use routerd_contract::{Event, TopicGlob};
use serde::Serialize;
use tracing::Instrument;

use crate::reconcile::Scope;
use crate::runtime::{Generation, Runtime};
use crate::slot::Slot;
use crate::trace::{Traced, message_span, start_span};

/// Events closer together than this are reconciled together.
const DEBOUNCE: Duration = Duration::from_millis(10);
/// Retry delays after failed reconciles.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Why a reconcile runs, for status and event reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cause {
    /// The config changed (or the controller started).
    pub config: bool,
    /// The kernel changed under us: anything fixed is drift repaired.
    pub drift: bool,
}

impl Cause {
    fn merge(&mut self, other: Cause) {
        self.config |= other.config;
        self.drift |= other.drift;
    }
}

/// One kind family's reconcile logic.
pub trait Controller: Send + Sync + 'static {
    /// Name, e.g. `addresses`.
    fn name(&self) -> &'static str;
    /// Topic globs the controller listens to.
    fn topics(&self) -> Vec<&'static str>;
    /// The resources an event affects, and why it matters.
    fn scope(&self, event: &Event, generation: &Generation) -> (Scope, Cause);
    /// How often to re-check everything when the kernel cannot notify
    /// (sysctls have no netlink notifications); `None` for never.
    fn resync_every(&self) -> Option<Duration> {
        None
    }
    /// Brings the scoped resources to their desired state.
    fn reconcile<'a>(
        &'a self,
        runtime: &'a Arc<Runtime>,
        scope: Scope,
        cause: Cause,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// What a controller reports about itself.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ControllerInfo {
    /// Name.
    pub name: String,
    /// Reconciles run by this incarnation.
    pub reconciles: u64,
    /// Duration of the last reconcile, in milliseconds.
    pub last_duration_ms: Option<f64>,
    /// The last error, if the last reconcile failed.
    pub last_error: Option<String>,
}

/// Messages of a controller actor.
pub enum ControllerMsg {
    /// A bus event the controller subscribed to.
    Event(Event),
    /// Run the pending reconcile.
    Reconcile,
    /// Reconcile everything now (`renew`).
    Renew,
    /// Periodic re-check (see [`Controller::resync_every`]).
    Resync,
    /// Report the controller's state.
    Info(RpcReplyPort<ControllerInfo>),
    /// Panic inside the handler (fault injection for supervision tests).
    Panic,
}

impl Traced for ControllerMsg {
    fn name(&self) -> &'static str {
        match self {
            ControllerMsg::Event(_) => "Event",
            ControllerMsg::Reconcile => "Reconcile",
            ControllerMsg::Renew => "Renew",
            ControllerMsg::Resync => "Resync",
            ControllerMsg::Info(_) => "Info",
            ControllerMsg::Panic => "Panic",
        }
    }

    fn resource(&self) -> Option<String> {
        match self {
            ControllerMsg::Event(e) => e.resource.clone(),
            _ => None,
        }
    }
}

/// The actor running a [`Controller`].
pub struct ControllerActor<C: Controller> {
    controller: Arc<C>,
}

impl<C: Controller> ControllerActor<C> {
    /// Wraps a controller.
    pub fn new(controller: Arc<C>) -> Self {
        ControllerActor { controller }
    }
}

/// Start-up arguments of a controller actor.
pub struct ControllerArgs {
    /// Shared context.
    pub runtime: Arc<Runtime>,
    /// Where the controller publishes its address.
    pub slot: Slot<ControllerMsg>,
}

/// A controller's state.
pub struct ControllerState {
    runtime: Arc<Runtime>,
    slot: Slot<ControllerMsg>,
    subscriptions: Vec<u64>,
    resync: Option<crate::task::Task>,
    pending: Option<(Scope, Cause)>,
    scheduled: bool,
    failures: u32,
    info: ControllerInfo,
}

impl<C: Controller> Actor for ControllerActor<C> {
    type Msg = ControllerMsg;
    type State = ControllerState;
    type Arguments = ControllerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ControllerMsg>,
        args: ControllerArgs,
    ) -> Result<ControllerState, ActorProcessingErr> {
        let name = self.controller.name();
        let _span = start_span(&format!("Controller/{name}")).entered();
        let mut subscriptions = Vec::new();
        for topic in self.controller.topics() {
            let glob =
                TopicGlob::parse(topic).map_err(|e| format!("{name}: bad topic {topic}: {e}"))?;
            let me = myself.clone();
            subscriptions.push(args.runtime.bus.subscribe(
                glob,
                Box::new(move |event| me.cast(ControllerMsg::Event(event.clone())).is_ok()),
            ));
        }
        args.slot.set(myself.clone());
        // Every incarnation starts by reconciling everything: whatever
        // happened while it was down is caught up.
        myself.cast(ControllerMsg::Reconcile)?;
        let resync = self.controller.resync_every().map(|period| {
            crate::task::Task::adopt(myself.send_interval(period, || ControllerMsg::Resync))
        });
        Ok(ControllerState {
            runtime: args.runtime,
            slot: args.slot,
            subscriptions,
            resync,
            pending: Some((
                Scope::All,
                Cause {
                    config: true,
                    drift: false,
                },
            )),
            scheduled: true,
            failures: 0,
            info: ControllerInfo {
                name: name.to_string(),
                ..Default::default()
            },
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ControllerMsg>,
        state: &mut ControllerState,
    ) -> Result<(), ActorProcessingErr> {
        for id in state.subscriptions.drain(..) {
            state.runtime.bus.unsubscribe(id);
        }
        // Dropping the task stops the timer.
        state.resync = None;
        state.slot.clear(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ControllerMsg>,
        msg: ControllerMsg,
        state: &mut ControllerState,
    ) -> Result<(), ActorProcessingErr> {
        let actor = format!("Controller/{}", self.controller.name());
        let span = message_span(&actor, &msg);
        self.on_message(myself, msg, state).instrument(span).await
    }
}

impl<C: Controller> ControllerActor<C> {
    async fn on_message(
        &self,
        myself: ActorRef<ControllerMsg>,
        msg: ControllerMsg,
        state: &mut ControllerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ControllerMsg::Event(event) => {
                let generation = state.runtime.generation();
                let (scope, cause) = self.controller.scope(&event, &generation);
                if !scope.is_empty() {
                    schedule(&myself, state, scope, cause, DEBOUNCE);
                    if state.failures > 0 {
                        // A retry may be far off; fresh news deserves a prompt pass.
                        myself.send_after(DEBOUNCE, || ControllerMsg::Reconcile);
                    }
                }
            }
            ControllerMsg::Renew => {
                schedule(
                    &myself,
                    state,
                    Scope::All,
                    Cause {
                        config: true,
                        drift: false,
                    },
                    Duration::ZERO,
                );
                // Now, even if a retry is already scheduled further out.
                let _ = myself.cast(ControllerMsg::Reconcile);
            }
            ControllerMsg::Reconcile => {
                state.scheduled = false;
                let Some((scope, cause)) = state.pending.take() else {
                    return Ok(());
                };
                let started = Instant::now();
                let result = self
                    .controller
                    .reconcile(&state.runtime, scope.clone(), cause)
                    .await;
                state.info.reconciles += 1;
                state.info.last_duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                match result {
                    Ok(()) => {
                        state.failures = 0;
                        state.info.last_error = None;
                    }
                    Err(e) => {
                        tracing::warn!(controller = self.controller.name(), error = %e, "reconcile failed; retrying");
                        state.failures += 1;
                        state.info.last_error = Some(e);
                        // 200 ms after the first failure, doubling up to the cap.
                        let delay = RETRY_MIN
                            .saturating_mul(1 << (state.failures - 1).min(8))
                            .min(RETRY_MAX);
                        schedule(&myself, state, scope, cause, delay);
                    }
                }
            }
            ControllerMsg::Resync => {
                // What a resync finds was changed behind routerd's back.
                schedule(
                    &myself,
                    state,
                    Scope::All,
                    Cause {
                        config: false,
                        drift: true,
                    },
                    Duration::ZERO,
                );
            }
            ControllerMsg::Info(reply) => {
                let _ = reply.send(state.info.clone());
            }
            ControllerMsg::Panic => {
                panic!(
                    "fault injection: panic in controller {}",
                    self.controller.name()
                );
            }
        }
        Ok(())
    }
}

fn schedule(
    myself: &ActorRef<ControllerMsg>,
    state: &mut ControllerState,
    scope: Scope,
    cause: Cause,
    delay: Duration,
) {
    match &mut state.pending {
        Some((pending, pending_cause)) => {
            pending.merge(scope);
            pending_cause.merge(cause);
        }
        None => state.pending = Some((scope, cause)),
    }
    if !state.scheduled {
        state.scheduled = true;
        if delay.is_zero() {
            let _ = myself.cast(ControllerMsg::Reconcile);
        } else {
            myself.send_after(delay, || ControllerMsg::Reconcile);
        }
    }
}
