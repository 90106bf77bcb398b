//! Keeps this node's config on the cluster's committed generation, and
//! hands the `-c` file to the cluster when it changed.
//!
//! Every node serves its last stored generation at once, with or without
//! quorum (a router must come up routing); it then follows the replicated
//! state machine: whenever the committed generation is newer than the one
//! served, it is validated, stored as the same generation number, and made
//! current. A node that was down catches up the same way, whether the
//! generation reached it through the log or in a snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use routerd_cluster::{ClusterNode, Request};
use routerd_contract::NewEvent;
use tracing::Instrument;

use crate::runtime::Runtime;
use crate::store::StoreMsg;
use crate::task::Task;
use crate::trace::{Traced, message_span, start_span};

/// Re-check even without an applied-entry notification.
const PERIOD: Duration = Duration::from_secs(1);
/// How long the `-c` file is offered to the cluster before giving up.
const OFFER_FOR: Duration = Duration::from_secs(300);

/// What `routerd serve` prepares for a node of a cluster.
pub struct ClusterSetup {
    /// The Raft node's settings.
    pub config: routerd_cluster::ClusterConfig,
    /// This node's id.
    pub node_id: u64,
    /// What to do without quorum.
    pub policy: routerd_ownership::Policy,
    /// The `-c` file, when it should be offered to the cluster.
    pub offer: Option<String>,
}

/// Messages of the sync actor.
pub enum SyncMsg {
    /// Compare the committed generation with the served one.
    Check,
    /// Try to hand the `-c` file to the cluster.
    Offer,
}

impl Traced for SyncMsg {
    fn name(&self) -> &'static str {
        match self {
            SyncMsg::Check => "Check",
            SyncMsg::Offer => "Offer",
        }
    }
}

/// Start-up arguments.
pub struct SyncArgs {
    pub runtime: Arc<Runtime>,
    pub cluster: ClusterNode,
    /// The `-c` file's text, when it changed since routerd last took it in.
    pub offer: Option<String>,
}

/// State of the sync actor.
pub struct SyncState {
    rt: Arc<Runtime>,
    cluster: ClusterNode,
    offer: Option<(String, Instant)>,
    offering: Option<Task>,
    _feeds: Vec<Task>,
}

/// The config-sync actor.
pub struct ClusterSync;

impl Actor for ClusterSync {
    type Msg = SyncMsg;
    type State = SyncState;
    type Arguments = SyncArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SyncMsg>,
        args: SyncArgs,
    ) -> Result<SyncState, ActorProcessingErr> {
        let _span = start_span("ClusterSync").entered();
        let mut applied = args.cluster.subscribe();
        let me = myself.clone();
        let feed = Task::spawn(async move {
            // Lagged is fine: any wake-up re-reads the whole state.
            while !matches!(
                applied.recv().await,
                Err(tokio::sync::broadcast::error::RecvError::Closed)
            ) {
                let _ = me.cast(SyncMsg::Check);
            }
        });
        let me = myself.clone();
        let tick = Task::spawn(async move {
            let mut t = tokio::time::interval(PERIOD);
            loop {
                t.tick().await;
                if me.cast(SyncMsg::Check).is_err() {
                    break;
                }
            }
        });
        if args.offer.is_some() {
            let _ = myself.cast(SyncMsg::Offer);
        }
        Ok(SyncState {
            rt: args.runtime,
            cluster: args.cluster,
            offer: args.offer.map(|o| (o, Instant::now())),
            offering: None,
            _feeds: vec![feed, tick],
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SyncMsg>,
        msg: SyncMsg,
        state: &mut SyncState,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span("ClusterSync", &msg);
        async {
            match msg {
                SyncMsg::Check => check(state),
                SyncMsg::Offer => offer(&myself, state),
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

fn check(state: &SyncState) {
    let served = state.rt.generation().number;
    let committed = state.cluster.with_state(|s| {
        s.config
            .current()
            .filter(|g| g.generation > served)
            .map(|g| (g.generation, g.yaml.clone(), g.source.clone()))
    });
    if let Some((number, source, label)) = committed
        && let Some(store) = state.rt.store.get()
    {
        let _ = store.cast(StoreMsg::Replicated {
            number,
            source,
            label,
        });
    }
}

fn offer(myself: &ActorRef<SyncMsg>, state: &mut SyncState) {
    let Some((text, since)) = state.offer.clone() else {
        return;
    };
    if state.offering.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    // Already committed (another node offered the same file): done.
    let same = state
        .cluster
        .with_state(|s| s.config.current().is_some_and(|g| g.yaml == text));
    if same {
        state.offer = None;
        return;
    }
    if since.elapsed() > OFFER_FOR {
        state.rt.bus.publish(
            NewEvent::new("routerd.cluster.config", "OfferAbandoned").message(
                "the -c file could not be committed (no quorum); it is not applied cluster-wide",
            ),
        );
        state.offer = None;
        return;
    }
    let cluster = state.cluster.clone();
    let bus = state.rt.bus.clone();
    let me = myself.clone();
    let state_dir = state.rt.options.state_dir.clone();
    let text_for_memory = text.clone();
    let label = state
        .rt
        .options
        .config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    state.offering = Some(Task::spawn(async move {
        match cluster
            .propose(Request::PutConfig {
                yaml: text,
                source: label,
            })
            .await
        {
            Ok(response) => {
                if let Err(e) = crate::store::remember_file(&state_dir, &text_for_memory) {
                    tracing::warn!(error = %e, "cannot record the committed -c file");
                }
                bus.publish(
                    NewEvent::new("routerd.cluster.config", "FileCommitted")
                        .message(format!("the -c file was committed: {response:?}")),
                );
                let _ = me.cast(SyncMsg::Check);
            }
            Err(e) => {
                tracing::debug!(error = %e, "offering the -c file failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = me.cast(SyncMsg::Offer);
            }
        }
    }));
}
