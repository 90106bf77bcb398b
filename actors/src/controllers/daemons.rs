//! Shared by the controllers that run daemons: bring the set of running
//! daemons with a name prefix to the wanted set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use ractor::Actor;

use crate::daemon::{DaemonArgs, DaemonMsg, DaemonSpec, DaemonSupervisor, SharedSpec};
use crate::runtime::Runtime;
use crate::slot::Slot;
use crate::supervisor::{ChildSpec, SupervisorMsg};

/// Starts, updates and retires the daemons named `PREFIX...` so that exactly
/// `wanted` run (plus `held`: running ones whose fate is not decided yet).
pub async fn sync_daemons(
    runtime: &Arc<Runtime>,
    prefix: &str,
    wanted: BTreeMap<String, DaemonSpec>,
    held: &BTreeSet<String>,
) -> Result<(), String> {
    let daemons = runtime
        .daemons
        .get()
        .ok_or("the daemon supervisors are not running")?;
    let running: BTreeSet<String> = runtime
        .daemon_names()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    for name in running
        .iter()
        .filter(|n| !wanted.contains_key(*n) && !held.contains(*n))
    {
        if let Some(slot) = runtime.daemon_slot(name)
            && let Some(actor) = slot.get()
        {
            let _ = actor
                .call(DaemonMsg::Retire, Some(Duration::from_secs(10)))
                .await;
        }
        let _ = daemons
            .call(
                |reply| SupervisorMsg::Remove(name.clone(), Some(reply)),
                Some(Duration::from_secs(15)),
            )
            .await;
        runtime.forget_daemon(name);
    }
    for (name, spec) in wanted {
        if let Some(slot) = runtime.daemon_slot(&name).filter(|s| s.get().is_some()) {
            slot.cast(DaemonMsg::Update(spec));
            continue;
        }
        let slot = Slot::new();
        runtime.remember_daemon(&name, slot.clone());
        let child = daemon_child(runtime.clone(), spec, slot);
        match daemons
            .call(
                |reply| SupervisorMsg::Add(child, Some(reply)),
                Some(Duration::from_secs(15)),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(Ok(()))) => {}
            Ok(ractor::rpc::CallResult::Success(Err(e))) => return Err(e),
            _ => {
                return Err(format!(
                    "the daemon supervisors did not answer adding {name}"
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn daemon_child(
    runtime: Arc<Runtime>,
    spec: DaemonSpec,
    slot: Slot<DaemonMsg>,
) -> ChildSpec {
    let name = spec.name.clone();
    // The start closure reads the spec through this cell, which the
    // DaemonSupervisor keeps current: a restart after a crash starts from
    // the newest config, not the one the child was added with.
    let spec: SharedSpec = Arc::new(Mutex::new(spec));
    ChildSpec::permanent(name, move |sup| {
        let args = DaemonArgs {
            runtime: runtime.clone(),
            spec: spec.clone(),
            slot: slot.clone(),
        };
        async move {
            let (actor, _) = Actor::spawn_linked(None, DaemonSupervisor, args, sup).await?;
            Ok(actor.get_cell())
        }
        .boxed()
    })
}
