//! Turns netlink notifications into bus signals, so drift is repaired the
//! moment the kernel reports it, without polling.
//!
//! Notifications arriving within a few milliseconds are batched: applying a
//! thousand routes produces one signal, not a thousand.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use routerd_contract::NewEvent;
use routerd_kernel::Notification;
use tracing::Instrument;

use crate::runtime::Runtime;
use crate::trace::{Traced, message_span, start_span};

const BATCH_WINDOW: Duration = Duration::from_millis(5);
const BATCH_MAX: usize = 4096;

/// Messages of the kernel watcher.
pub enum WatchMsg {
    /// The notification stream ended: restart to resubscribe.
    Ended,
}

impl Traced for WatchMsg {
    fn name(&self) -> &'static str {
        "Ended"
    }
}

/// The kernel watcher actor.
pub struct KernelWatcher;

/// Its state: the task reading notifications.
pub struct WatchState {
    // Held, not just spawned: ractor skips post_stop when an actor panics,
    // and the reader must die with its actor either way.
    _task: crate::task::Task,
}

impl Actor for KernelWatcher {
    type Msg = WatchMsg;
    type State = WatchState;
    type Arguments = Arc<Runtime>;

    async fn pre_start(
        &self,
        myself: ActorRef<WatchMsg>,
        runtime: Arc<Runtime>,
    ) -> Result<WatchState, ActorProcessingErr> {
        let span = start_span("KernelWatcher");
        let mut rx = runtime
            .kernel
            .watch()
            .instrument(span)
            .await
            .map_err(|e| format!("cannot subscribe to kernel notifications: {e}"))?;
        // Whatever changed before this subscription is unknown: reconcile all.
        runtime
            .bus
            .signal(NewEvent::new("routerd.kernel.resync", "WatchStarted"));
        let task = crate::task::Task::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
                while batch.len() < BATCH_MAX {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(n)) => batch.push(n),
                        _ => break,
                    }
                }
                publish(&runtime, batch);
            }
            let _ = myself.cast(WatchMsg::Ended);
        });
        Ok(WatchState { _task: task })
    }

    async fn handle(
        &self,
        _myself: ActorRef<WatchMsg>,
        msg: WatchMsg,
        _state: &mut WatchState,
    ) -> Result<(), ActorProcessingErr> {
        let _span = message_span("KernelWatcher", &msg).entered();
        Err("the kernel notification stream ended".into())
    }
}

fn publish(runtime: &Runtime, batch: Vec<Notification>) {
    let mut links = BTreeSet::new();
    let mut addresses = BTreeSet::new();
    let mut routes = BTreeSet::new();
    let mut resync = false;
    for n in batch {
        match n {
            Notification::LinkChanged { ifname, .. } | Notification::LinkRemoved { ifname, .. } => {
                links.insert(ifname);
            }
            Notification::AddressAdded { ifname, .. }
            | Notification::AddressRemoved { ifname, .. } => {
                addresses.insert(ifname);
            }
            Notification::RouteAdded {
                destination,
                table,
                protocol,
            }
            | Notification::RouteRemoved {
                destination,
                table,
                protocol,
            } => {
                routes.insert((destination, table, protocol));
            }
            Notification::Resync => resync = true,
        }
    }
    let bus = &runtime.bus;
    if resync {
        bus.signal(NewEvent::new("routerd.kernel.resync", "NotificationsLost"));
    }
    if !links.is_empty() {
        bus.signal(
            NewEvent::new("routerd.kernel.link.changed", "LinkChanged")
                .attr("ifnames", links.into_iter().collect::<Vec<_>>()),
        );
    }
    if !addresses.is_empty() {
        bus.signal(
            NewEvent::new("routerd.kernel.address.changed", "AddressChanged")
                .attr("ifnames", addresses.into_iter().collect::<Vec<_>>()),
        );
    }
    if !routes.is_empty() {
        // Controllers scope by destination; past this many they reconcile
        // everything rather than carry a huge list around.
        const MAX_LISTED: usize = 4096;
        let count = routes.len();
        let listed: Vec<serde_json::Value> = routes
            .into_iter()
            .take(MAX_LISTED)
            .map(|(destination, table, protocol)| {
                serde_json::json!({ "destination": destination.to_string(), "table": table, "protocol": protocol })
            })
            .collect();
        bus.signal(
            NewEvent::new("routerd.kernel.route.changed", "RouteChanged")
                .attr("routes", listed)
                .attr("count", count)
                .attr("truncated", count > MAX_LISTED),
        );
    }
}
