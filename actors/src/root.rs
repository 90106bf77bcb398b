//! The tree of `routerd serve`:
//!
//! ```text
//! RootSupervisor
//! ├─ EventBus
//! ├─ ConfigStore
//! ├─ Controllers (supervisor)
//! │  ├─ KernelWatcher
//! │  └─ links, addresses, routes, sysctls, healthchecks
//! ├─ DaemonSupervisors (supervisor; one DaemonSupervisor per managed daemon)
//! └─ ApiServer
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use ractor::Actor;
use routerd_contract::{EventLog, NewEvent, Rotation};
use routerd_kernel::Kernel;
use tokio::sync::watch;

use crate::api::ApiServer;
use crate::bus::{Bus, EventBus};
use crate::controller::{Controller, ControllerActor, ControllerArgs};
use crate::controllers::{
    BgpController, DhcpController, DnsController, DsLiteController, HealthCheckController,
    IngressController, KernelController, LanController, VrrpController,
};
use crate::kernel_watch::KernelWatcher;
use crate::reconcile::Family;
use crate::runtime::{Generation, Runtime, ServeOptions, Shutdown};
use crate::slot::Slot;
use crate::status::Statuses;
use crate::store::{ConfigStore, StoreArgs};
use crate::supervisor::{ChildSpec, Notice, Observer, Policy, Supervisor, SupervisorArgs};

/// Turns supervisor notices into events.
fn observer(bus: Bus) -> Observer {
    Arc::new(move |notice| {
        let event = match notice {
            Notice::Restarting {
                supervisor,
                child,
                error,
                after,
                restarts,
            } => NewEvent::new(format!("routerd.actor.{child}.failed"), "ActorFailed")
                .message(format!("{child} failed: {error}; restarting in {after:?}"))
                .attr("supervisor", supervisor)
                .attr("restarts", restarts),
            Notice::Restarted {
                supervisor,
                child,
                restarts,
            } => NewEvent::new(format!("routerd.actor.{child}.restarted"), "ActorRestarted")
                .message(format!("{child} is running again (restart {restarts})"))
                .attr("supervisor", supervisor)
                .attr("restarts", restarts),
            Notice::GaveUp {
                supervisor,
                child,
                error,
            } => NewEvent::new(
                format!("routerd.actor.{child}.gaveup"),
                "RestartIntensityExceeded",
            )
            .message(error)
            .attr("supervisor", supervisor),
        };
        bus.publish(event);
    })
}

fn controller_child<C: Controller>(rt: Arc<Runtime>, controller: C) -> ChildSpec {
    let name = controller.name().to_string();
    let controller = Arc::new(controller);
    let slot = Slot::new();
    if let Ok(mut slots) = rt.controller_slots.lock() {
        slots.push((name.clone(), slot.clone()));
    }
    ChildSpec::permanent(name, move |sup| {
        let args = ControllerArgs {
            runtime: rt.clone(),
            slot: slot.clone(),
        };
        let actor = ControllerActor::new(controller.clone());
        async move {
            let (r, _) = Actor::spawn_linked(None, actor, args, sup).await?;
            Ok(r.get_cell())
        }
        .boxed()
    })
}

fn supervisor_child(
    name: &'static str,
    slot: Slot<crate::supervisor::SupervisorMsg>,
    children: Vec<ChildSpec>,
    policy: Policy,
    observer: Observer,
) -> ChildSpec {
    ChildSpec::permanent(name, move |sup| {
        let args = SupervisorArgs {
            name: name.to_string(),
            children: children.clone(),
            policy,
            observer: Some(observer.clone()),
        };
        let slot = slot.clone();
        async move {
            let (r, _) = Actor::spawn_linked(None, Supervisor, args, sup).await?;
            slot.set(r.clone());
            Ok(r.get_cell())
        }
        .boxed()
    })
}

/// The cluster's actors: config sync and ownership, under one supervisor.
fn cluster_children(
    rt: Arc<Runtime>,
    node: routerd_cluster::ClusterNode,
    node_id: u64,
    policy: routerd_ownership::Policy,
    offer: Option<String>,
) -> ChildSpec {
    use crate::cluster_sync::{ClusterSync, SyncArgs};
    use crate::ownership::{OwnershipActor, OwnershipArgs};
    let sync = {
        let (rt, node) = (rt.clone(), node.clone());
        ChildSpec::permanent("cluster-sync", move |sup| {
            let args = SyncArgs {
                runtime: rt.clone(),
                cluster: node.clone(),
                offer: offer.clone(),
            };
            async move {
                let (r, _) = Actor::spawn_linked(None, ClusterSync, args, sup).await?;
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let ownership = {
        let (rt, node) = (rt.clone(), node.clone());
        ChildSpec::permanent("ownership", move |sup| {
            let args = OwnershipArgs {
                runtime: rt.clone(),
                cluster: node.clone(),
                node_id,
                policy,
            };
            let slot = rt.ownership.clone();
            async move {
                let (r, _) = Actor::spawn_linked(None, OwnershipActor, args, sup).await?;
                slot.set(r.clone());
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let observer = observer(rt.bus.clone());
    supervisor_child(
        "cluster",
        Slot::new(),
        vec![sync, ownership],
        Policy::default(),
        observer,
    )
}

/// Runs the control plane until a stop is requested or the tree gives up.
/// `from_file` says the initial generation was just made from the `-c` file.
pub async fn serve(
    options: ServeOptions,
    initial: Generation,
    from_file: bool,
    cluster: Option<crate::cluster_sync::ClusterSetup>,
) -> Result<(), String> {
    std::fs::create_dir_all(&options.state_dir)
        .map_err(|e| format!("{}: {e}", options.state_dir.display()))?;
    let events = EventLog::open(
        options.state_dir.join("events.jsonl"),
        "routerd",
        Rotation::default(),
    )
    .map_err(|e| format!("cannot open the event log: {e}"))?;
    let bus = Bus::new(events);
    let kernel = Kernel::connect().map_err(|e| format!("cannot open netlink: {e}"))?;
    let initial = Generation {
        config: options.view(initial.config.clone()),
        ..initial
    };
    let (config, _) = watch::channel(Arc::new(initial));
    let (shutdown, mut shutdown_rx) = watch::channel(Shutdown::Running);
    let (cluster_node, cluster_extra) = match cluster {
        Some(setup) => {
            let node = routerd_cluster::ClusterNode::start(setup.config)
                .await
                .map_err(|e| format!("cannot start the cluster node: {e}"))?;
            // Idempotent; the lowest id initializes a fresh cluster. Retried
            // in the background so a router comes up without its peers.
            let boot = node.clone();
            tokio::spawn(async move {
                for _ in 0..600 {
                    match boot.bootstrap().await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "cluster bootstrap not done yet");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            });
            (Some(node), Some((setup.node_id, setup.policy, setup.offer)))
        }
        None => (None, None),
    };
    let rt = Arc::new(Runtime {
        options,
        bus: bus.clone(),
        config,
        statuses: Statuses::with_notifier({
            let bus = bus.clone();
            Arc::new(move |id: &str| {
                bus.signal(
                    NewEvent::new("routerd.status.changed", "StatusChanged")
                        .resource(id.to_string()),
                )
            })
        }),
        kernel,
        store: Slot::new(),
        controllers: Slot::new(),
        daemons: Slot::new(),
        root: Slot::new(),
        controller_slots: Mutex::new(Vec::new()),
        daemon_slots: Mutex::new(Default::default()),
        shutdown,
        started: SystemTime::now(),
        cluster: cluster_node.clone(),
        ownership: Slot::new(),
        services: Default::default(),
    });
    let observer = observer(bus.clone());

    let watcher = {
        let rt = rt.clone();
        ChildSpec::permanent("kernel-watcher", move |sup| {
            let rt = rt.clone();
            async move {
                let (r, _) = Actor::spawn_linked(None, KernelWatcher, rt, sup).await?;
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let mut controllers = vec![watcher];
    // A witness votes and stores config but has no data plane.
    if !rt.options.witness {
        for family in Family::ALL {
            controllers.push(controller_child(rt.clone(), KernelController::new(family)));
        }
        controllers.push(controller_child(rt.clone(), HealthCheckController));
        controllers.push(controller_child(rt.clone(), VrrpController));
        controllers.push(controller_child(rt.clone(), DhcpController));
        controllers.push(controller_child(rt.clone(), DnsController));
        controllers.push(controller_child(rt.clone(), LanController));
        controllers.push(controller_child(rt.clone(), DsLiteController));
        controllers.push(controller_child(rt.clone(), IngressController));
        controllers.push(controller_child(rt.clone(), BgpController));
    }

    let bus_child = {
        let bus = bus.clone();
        ChildSpec::permanent("event-bus", move |sup| {
            let bus = bus.clone();
            async move {
                let (r, _) = Actor::spawn_linked(None, EventBus, bus, sup).await?;
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let store_child = {
        let rt = rt.clone();
        ChildSpec::permanent("config-store", move |sup| {
            let args = StoreArgs {
                runtime: rt.clone(),
            };
            async move {
                let (r, _) = Actor::spawn_linked(None, ConfigStore, args, sup).await?;
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let api_child = {
        let rt = rt.clone();
        ChildSpec::permanent("api-server", move |sup| {
            let rt = rt.clone();
            async move {
                let (r, _) = Actor::spawn_linked(None, ApiServer, rt, sup).await?;
                Ok(r.get_cell())
            }
            .boxed()
        })
    };
    let mut root_children = vec![bus_child, store_child];
    if let (Some(node), Some((node_id, policy, offer))) = (cluster_node.clone(), cluster_extra) {
        root_children.push(cluster_children(rt.clone(), node, node_id, policy, offer));
    }
    root_children.extend([
        supervisor_child(
            "controllers",
            rt.controllers.clone(),
            controllers,
            Policy::default(),
            observer.clone(),
        ),
        supervisor_child(
            "daemon-supervisors",
            rt.daemons.clone(),
            Vec::new(),
            Policy::default(),
            observer.clone(),
        ),
        api_child,
    ]);
    let (root, root_handle) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            name: "RootSupervisor".into(),
            children: root_children,
            policy: Policy {
                max_restarts: 3,
                within: Duration::from_secs(60),
                ..Policy::default()
            },
            observer: Some(observer),
        },
    )
    .await
    .map_err(|e| format!("the control plane failed to start: {e}"))?;
    rt.root.set(root.clone());
    let generation = rt.generation();
    bus.publish(
        NewEvent::new("routerd.started", "Started")
            .message(format!(
                "routerd {} serving generation {} on {}",
                env!("CARGO_PKG_VERSION"),
                generation.number,
                rt.options.socket.display()
            ))
            .attr("generation", generation.number)
            .attr("pid", std::process::id()),
    );

    if from_file {
        let file = rt
            .options
            .config_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        bus.publish(
            NewEvent::new("routerd.config.applied", "ConfigApplied")
                .message(format!(
                    "generation {} taken from {file} at start",
                    generation.number
                ))
                .attr("generation", generation.number),
        );
    }
    crate::sdnotify::notify(&format!(
        "READY=1\nSTATUS=serving generation {}",
        generation.number
    ));
    // Pinged only while the tree's key actors answer: a wedged or half-dead
    // control plane lets systemd's watchdog restart routerd.
    let _watchdog = crate::sdnotify::watchdog_interval().map(|period| {
        let rt = rt.clone();
        crate::task::Task::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                if responsive(&rt, period).await {
                    crate::sdnotify::notify("WATCHDOG=1");
                }
            }
        })
    });
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut root_handle = root_handle;
    let outcome = tokio::select! {
        _ = shutdown_rx.wait_for(|s| *s == Shutdown::Requested) => Ok("stop requested"),
        _ = sigterm.recv() => Ok("SIGTERM"),
        _ = tokio::signal::ctrl_c() => Ok("SIGINT"),
        _ = &mut root_handle => Err("the supervision tree gave up (restart intensity exceeded); see events.jsonl".to_string()),
    };
    if let Ok(why) = &outcome {
        crate::sdnotify::notify("STOPPING=1");
        bus.publish(
            NewEvent::new("routerd.stopping", "Stopping").message(format!("stopping: {why}")),
        );
        root.stop(Some((*why).to_string()));
        let _ = tokio::time::timeout(Duration::from_secs(15), root_handle).await;
    }
    outcome.map(|_| ())
}

/// Whether the tree is working, not merely present: the root and the
/// controllers' supervisors answer a message and the config store exists.
async fn responsive(rt: &Runtime, within: Duration) -> bool {
    use crate::supervisor::SupervisorMsg;
    if rt.store.get().is_none() {
        return false;
    }
    for slot in [&rt.root, &rt.controllers] {
        let Some(actor) = slot.get() else {
            return false;
        };
        match actor.call(SupervisorMsg::Children, Some(within)).await {
            Ok(ractor::rpc::CallResult::Success(_)) => {}
            _ => return false,
        }
    }
    true
}
