//! What the actors of one routerd process share: the state directory, the
//! bus, the current config generation, statuses, the kernel handle, and
//! stable addresses of the actors others talk to.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use routerd_config::Config;
use routerd_kernel::Kernel;
use tokio::sync::watch;

use crate::bus::Bus;
use crate::slot::Slot;
use crate::status::Statuses;
use crate::supervisor::SupervisorMsg;

/// Options of `routerd serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The config file routerd was started with, re-read by `reload`.
    pub config_path: Option<PathBuf>,
    /// Where generations, events and daemon state live.
    pub state_dir: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// Where managed daemon binaries are found (default: beside routerd).
    pub daemon_dir: Option<PathBuf>,
    /// Where persistent sysctls are written (`/etc/sysctl.d`).
    pub sysctl_dir: PathBuf,
    /// Allows `POST /v1/debug/panic/...` (tests of supervision only).
    pub fault_injection: bool,
    /// This node's name in a RouterdCluster (`--node`); `None` outside a
    /// cluster. In a cluster, VRRP mastership is granted through Raft.
    pub cluster_node: Option<String>,
    /// A Raft voter with no data plane (`--witness`).
    pub witness: bool,
}

impl ServeOptions {
    /// The part of `config` this node applies: everything outside a
    /// cluster; in one, the resources not pinned to other nodes.
    pub fn view(&self, config: Config) -> Config {
        match &self.cluster_node {
            Some(node) => config.for_node(node),
            None => config,
        }
    }
}

/// One applied configuration.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Monotonic generation number (0: nothing applied yet).
    pub number: u64,
    /// The config: this node's view of it (see [`ServeOptions::view`]).
    pub config: Config,
    /// The YAML it was loaded from.
    pub source: String,
    /// When it was applied (RFC 3339).
    pub applied_at: String,
}

impl Generation {
    /// The empty generation routerd starts from when nothing was ever applied.
    pub fn empty() -> Generation {
        Generation {
            number: 0,
            config: Config {
                name: String::new(),
                reconcile: Default::default(),
                resources: Vec::new(),
            },
            source: String::new(),
            applied_at: String::new(),
        }
    }
}

/// Why the process should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Keep running.
    Running,
    /// Stop cleanly (signal or `stop` command).
    Requested,
}

/// The shared context.
pub struct Runtime {
    /// Options routerd was started with.
    pub options: ServeOptions,
    /// The event bus.
    pub bus: Bus,
    /// The current generation; receivers see every change.
    pub config: watch::Sender<Arc<Generation>>,
    /// Statuses of every resource.
    pub statuses: Statuses,
    /// The kernel of routerd's network namespace.
    pub kernel: Kernel,
    /// The config store actor.
    pub store: Slot<crate::store::StoreMsg>,
    /// The supervisor of the controllers.
    pub controllers: Slot<SupervisorMsg>,
    /// The supervisor of the daemon supervisors.
    pub daemons: Slot<SupervisorMsg>,
    /// The root supervisor.
    pub root: Slot<SupervisorMsg>,
    /// Controllers by name, for `renew` and fault injection.
    pub controller_slots: std::sync::Mutex<Vec<(String, Slot<crate::controller::ControllerMsg>)>>,
    /// Daemon supervisors by daemon name.
    pub daemon_slots:
        std::sync::Mutex<std::collections::BTreeMap<String, Slot<crate::daemon::DaemonMsg>>>,
    /// Set to request a clean stop.
    pub shutdown: watch::Sender<Shutdown>,
    /// When routerd started.
    pub started: SystemTime,
    /// The Raft node, in a cluster.
    pub cluster: Option<routerd_cluster::ClusterNode>,
    /// The ownership actor, in a cluster.
    pub ownership: Slot<crate::ownership::OwnershipMsg>,
    /// In-process services: DNS forwarding and the LAN loops.
    pub services: crate::services::Services,
}

impl Runtime {
    /// The current generation.
    pub fn generation(&self) -> Arc<Generation> {
        self.config.borrow().clone()
    }

    /// Asks the process to stop.
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(Shutdown::Requested);
    }

    /// The slot of the controller named `name`.
    pub fn controller(&self, name: &str) -> Option<Slot<crate::controller::ControllerMsg>> {
        self.controller_slots
            .lock()
            .ok()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// The supervisor of daemon `name`.
    pub fn daemon_slot(&self, name: &str) -> Option<Slot<crate::daemon::DaemonMsg>> {
        self.daemon_slots.lock().ok()?.get(name).cloned()
    }

    /// Names of the daemons routerd manages.
    pub fn daemon_names(&self) -> Vec<String> {
        self.daemon_slots
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Records a daemon supervisor's slot.
    pub fn remember_daemon(&self, name: &str, slot: Slot<crate::daemon::DaemonMsg>) {
        if let Ok(mut m) = self.daemon_slots.lock() {
            m.insert(name.to_string(), slot);
        }
    }

    /// Forgets a retired daemon.
    pub fn forget_daemon(&self, name: &str) {
        if let Ok(mut m) = self.daemon_slots.lock() {
            m.remove(name);
        }
    }

    /// Every controller's slot.
    pub fn all_controllers(&self) -> Vec<(String, Slot<crate::controller::ControllerMsg>)> {
        self.controller_slots
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}
