//! The probe loop: owns the spec and tracker, probes on schedule, handles
//! `renew`/`reload` messages, emits events and persists state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use routerd_contract::event::{EventLog, NewEvent};
use routerd_contract::server::CommandOutcome;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::persist::{self, Restored};
use super::{Request, Shutdown, StatusView, events, phase_json};
use crate::phase::{LastResult, Tracker};
use crate::probe::{self, ProbeResult, Resolved, TargetOrigin};
use crate::spec::ProbeSpec;

/// Streaks and counters are saved at least this often between transitions, so
/// a crash loses little; transitions themselves are saved at once.
const PERSIST_EVERY: Duration = Duration::from_secs(30);

/// The probe loop of one health check; run it with [`ProbeLoop::run`].
pub struct ProbeLoop {
    spec: ProbeSpec,
    tracker: Tracker,
    restored: bool,
    resolved: Option<Resolved>,
    events: Arc<EventLog>,
    status_path: PathBuf,
    last_persist: Instant,
    requests: mpsc::Receiver<Request>,
    status: watch::Sender<StatusView>,
    shutdown: Shutdown,
}

impl ProbeLoop {
    pub(crate) fn new(
        spec: ProbeSpec,
        state_dir: &Path,
        events: Arc<EventLog>,
        requests: mpsc::Receiver<Request>,
        shutdown: Shutdown,
    ) -> (ProbeLoop, watch::Receiver<StatusView>) {
        let status_path = state_dir.join(persist::STATUS_FILE);
        let (state, restore_problem) = match persist::load(&status_path, &spec.name) {
            Restored::State(state) => (Some(state), None),
            Restored::Missing => (None, None),
            Restored::Unusable(why) => {
                tracing::warn!(path = %status_path.display(), %why, "not restoring status");
                (None, Some(why))
            }
        };
        let restored = state.is_some();
        let tracker = Tracker::from_state(
            state.unwrap_or_default(),
            spec.healthy_threshold,
            spec.unhealthy_threshold,
            spec.enabled,
        );
        let view = StatusView {
            spec: spec.clone(),
            resolved_target: None,
            target_origin: None,
            restored,
            tracker: tracker.state().clone(),
            ticked_at: Instant::now(),
        };
        let (status, status_rx) = watch::channel(view);
        let probe_loop = ProbeLoop {
            spec,
            tracker,
            restored,
            resolved: None,
            events,
            status_path,
            last_persist: Instant::now(),
            requests,
            status,
            shutdown,
        };
        let started = events::started(
            &probe_loop.spec,
            probe_loop.tracker.state(),
            restored,
            restore_problem.as_deref(),
        );
        probe_loop.emit(started);
        (probe_loop, status_rx)
    }

    /// Probes every interval (the first at once) until the shutdown signal.
    pub async fn run(mut self) {
        tracing::info!(
            name = %self.spec.name,
            protocol = self.spec.protocol.as_str(),
            phase = %self.tracker.phase(),
            restored = self.restored,
            "probe loop started"
        );
        let shutdown = self.shutdown.clone();
        let mut next = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = shutdown.wait() => break,
                Some(request) = self.requests.recv() => {
                    if let Some(reschedule) = self.handle(request).await {
                        next = reschedule;
                    }
                }
                () = sleep_until(next) => {
                    if self.spec.enabled {
                        tokio::select! {
                            () = shutdown.wait() => break,
                            result = self.probe() => drop(result),
                        }
                    }
                    next = (next + self.spec.interval()).max(Instant::now());
                }
            }
            self.publish();
            if self.last_persist.elapsed() >= PERSIST_EVERY {
                self.persist();
            }
        }
        self.persist();
        self.emit(events::stopped(&self.spec, self.tracker.state()));
        tracing::info!(name = %self.spec.name, "probe loop stopped");
    }

    /// Runs one probe, feeds the tracker and reports a transition.
    async fn probe(&mut self) -> ProbeResult {
        let (resolved, result) = probe::run(&self.spec).await;
        // Keep showing the last address that resolved when resolution fails.
        if resolved.is_some() {
            self.resolved = resolved;
        }
        if let Some(transition) = self.tracker.observe(SystemTime::now(), &result) {
            tracing::info!(
                name = %self.spec.name,
                from = %transition.from,
                to = %transition.to,
                "phase changed"
            );
            let target = self.resolved.as_ref().map(ToString::to_string);
            let event = events::transition(
                &self.spec,
                &transition,
                self.tracker.state(),
                target.as_deref(),
                Some(&result),
            );
            self.emit(event);
            self.persist();
        }
        result
    }

    /// Handles one message; returns a new time for the next probe, if any.
    async fn handle(&mut self, request: Request) -> Option<Instant> {
        match request {
            Request::Renew(reply) => {
                if !self.spec.enabled {
                    let _ = reply.send(CommandOutcome::Unsupported(
                        "the health check is disabled".into(),
                    ));
                    return None;
                }
                let before = self.tracker.phase();
                let result = self.probe().await;
                let mut answer = json!(LastResult::new(SystemTime::now(), &result));
                if let (Some(obj), serde_json::Value::Object(phase)) =
                    (answer.as_object_mut(), phase_json(self.tracker.state()))
                {
                    obj.extend(phase);
                    obj.insert("previousPhase".into(), json!(before.as_str()));
                    obj.insert(
                        "target".into(),
                        json!(self.resolved.as_ref().map(ToString::to_string)),
                    );
                }
                let _ = reply.send(CommandOutcome::Done(answer));
                None
            }
            Request::Reload(spec, reply) => {
                let (outcome, reschedule) = self.reload(*spec);
                let _ = reply.send(outcome);
                reschedule
            }
        }
    }

    fn reload(&mut self, spec: ProbeSpec) -> (CommandOutcome, Option<Instant>) {
        if spec.name != self.spec.name {
            return (
                CommandOutcome::Failed(format!(
                    "the name cannot change on reload ({:?} -> {:?}); start a new health check instead",
                    self.spec.name, spec.name
                )),
                None,
            );
        }
        let probe_changed = !spec.same_probe(&self.spec);
        let timing_changed = spec.interval_ms != self.spec.interval_ms;
        let enabling = spec.enabled && !self.spec.enabled;
        if probe_changed {
            self.tracker.reset_streaks();
            self.resolved = None;
        }
        let now = SystemTime::now();
        let transition = self.tracker.configure(
            now,
            spec.healthy_threshold,
            spec.unhealthy_threshold,
            spec.enabled,
        );
        self.spec = spec;
        self.emit(events::reloaded(&self.spec, probe_changed));
        if let Some(transition) = transition {
            let event =
                events::transition(&self.spec, &transition, self.tracker.state(), None, None);
            self.emit(event);
        }
        self.persist();
        tracing::info!(name = %self.spec.name, probe_changed, "spec reloaded");
        let answer = json!({
            "reloaded": true,
            "probeChanged": probe_changed,
            "spec": &self.spec,
            "phase": self.tracker.phase().as_str(),
        });
        // A new target or cadence is probed right away rather than after the
        // old interval runs out.
        let reschedule = (probe_changed || timing_changed || enabling).then(Instant::now);
        (CommandOutcome::Done(answer), reschedule)
    }

    fn publish(&self) {
        let resolved = self.resolved.as_ref();
        self.status.send_replace(StatusView {
            spec: self.spec.clone(),
            resolved_target: resolved.map(ToString::to_string),
            target_origin: resolved.map(|r| match r.origin {
                TargetOrigin::Literal => "literal",
                TargetOrigin::Hostname => "hostname",
                TargetOrigin::DefaultGateway => "defaultGateway",
            }),
            restored: self.restored,
            tracker: self.tracker.state().clone(),
            ticked_at: Instant::now(),
        });
    }

    fn persist(&mut self) {
        self.last_persist = Instant::now();
        if let Err(e) = persist::save(&self.status_path, &self.spec.name, self.tracker.state()) {
            tracing::warn!(path = %self.status_path.display(), error = %e, "cannot save status");
        }
    }

    /// Appends an event; a full disk must not stop the probing, so failures are logged.
    fn emit(&self, event: NewEvent) {
        if let Err(e) = self.events.append(event) {
            tracing::warn!(error = %e, "cannot append event");
        }
    }
}
