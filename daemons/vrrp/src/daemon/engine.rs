//! The engine: owns every running instance, feeds it packets, timers and grants,
//! and carries out its actions (adverts, addresses, announcements, events).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use routerd_contract::atomic::{read_json, write_json_atomic};
use routerd_contract::event::{EventLog, NewEvent};
use routerd_contract::server::CommandOutcome;
use routerd_kernel::{Kernel, ROUTERD_VRRP_PROTO};
use routerd_vrrp_core::packet::{MULTICAST_V4, MULTICAST_V6};
use routerd_vrrp_core::{Action, Event, Grant, GrantOutcome, GrantRole, Instance, Received};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::persist::{PersistedGrant, PersistedInstance, PersistedState, STATE_FILE};
use super::status::{daemon_status, instance_json, phase};
use super::{GrantRequest, Request, Shutdown};
use crate::clock::{instant_from_mono_ns, mono_now_ns, mono_ns_from_instant};
use crate::net::announce::announce;
use crate::net::link::{LinkInfo, lookup};
use crate::net::socket::{Incoming, VrrpSocket};
use crate::spec::{InstanceSpec, VrrpSpec};

/// The engine wakes at least this often (heartbeat for `/v1/healthz`).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// At most one `vrrp.packet.dropped` event per instance per this period.
const DROP_EVENT_PERIOD: Duration = Duration::from_secs(10);

struct Packet {
    id: u64,
    incoming: Incoming,
}

struct Running {
    id: u64,
    spec: InstanceSpec,
    inst: Instance,
    link: LinkInfo,
    source: IpAddr,
    socket: Arc<VrrpSocket>,
    reader: tokio::task::JoinHandle<()>,
    drops_reported: u64,
    drops_reported_at: Option<Instant>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The engine task; run it with [`Engine::run`].
pub struct Engine {
    name: String,
    kernel: Kernel,
    instances: Vec<Running>,
    requests: mpsc::Receiver<Request>,
    packets_tx: mpsc::Sender<Packet>,
    packets_rx: mpsc::Receiver<Packet>,
    events: Arc<EventLog>,
    state_path: PathBuf,
    shutdown: Shutdown,
    heartbeat: watch::Sender<tokio::time::Instant>,
    next_id: u64,
    /// Per group, when the newest applied grant was issued (CLOCK_MONOTONIC
    /// ns, routerd's clock at decision time).
    issued: std::collections::HashMap<String, u64>,
}

impl Engine {
    pub(crate) async fn start(
        spec: VrrpSpec,
        state_dir: &Path,
        events: Arc<EventLog>,
        requests: mpsc::Receiver<Request>,
        heartbeat: watch::Sender<tokio::time::Instant>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Engine> {
        let kernel = Kernel::connect().context("cannot open netlink")?;
        let (packets_tx, packets_rx) = mpsc::channel(256);
        let state_path = state_dir.join(STATE_FILE);
        let stored: PersistedState = match read_json(&state_path) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable state file");
                PersistedState::default()
            }
        };
        let mut engine = Engine {
            name: spec.name.clone(),
            kernel,
            instances: Vec::new(),
            requests,
            packets_tx,
            packets_rx,
            events,
            state_path,
            shutdown,
            heartbeat,
            next_id: 0,
            issued: std::collections::HashMap::new(),
        };
        for s in spec.instances {
            let stored = stored.instances.get(&s.name).filter(|p| p.group == s.group);
            // A stored VRRP-only role is not resumed: routerd decided it for a
            // quorum loss that may be long over, and a restarted daemon waits
            // fenced for routerd to say again.
            let grant = stored
                .and_then(|p| p.grant)
                .filter(|g| g.role != GrantRole::Vrrp)
                .map(|g| Grant {
                    epoch: g.epoch,
                    role: g.role,
                    deadline: g.deadline_mono_ns.map(instant_from_mono_ns),
                });
            let name = s.name.clone();
            engine
                .start_instance(s, grant)
                .await
                .with_context(|| format!("cannot start instance {name}"))?;
        }
        engine.persist(true);
        Ok(engine)
    }

    /// Runs until the shutdown signal, then leaves Master properly (priority 0,
    /// addresses removed): an orderly stop. A kill -9 never gets here, so the
    /// addresses stay and a restart can resume.
    pub async fn run(mut self) {
        loop {
            let now = Instant::now();
            let wake = self
                .instances
                .iter()
                .filter_map(|r| r.inst.next_deadline())
                .min()
                .unwrap_or(now + MAX_SLEEP)
                .min(now + MAX_SLEEP);
            tokio::select! {
                biased;
                () = self.shutdown.wait() => break,
                Some(req) = self.requests.recv() => self.request(req).await,
                Some(pkt) = self.packets_rx.recv() => self.packet(pkt).await,
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => self.timers().await,
            }
            self.heartbeat.send_replace(tokio::time::Instant::now());
        }
        for idx in 0..self.instances.len() {
            self.feed(idx, Event::Shutdown).await;
        }
        self.persist(true);
        self.events
            .append(
                NewEvent::new("vrrp.stopped", "stop")
                    .message("routerd-vrrp stopped; every instance left Master"),
            )
            .ok();
    }

    async fn start_instance(
        &mut self,
        spec: InstanceSpec,
        grant: Option<Grant>,
    ) -> anyhow::Result<()> {
        let vips: Vec<IpAddr> = spec.addresses.iter().map(|a| a.addr()).collect();
        let link = lookup(&self.kernel, &spec.interface, spec.is_ipv4(), &vips).await?;
        let source = spec.source_address.or(link.primary).with_context(|| {
            format!(
                "interface {} has no {} to send from; set sourceAddress",
                spec.interface,
                if spec.is_ipv4() {
                    "IPv4 address"
                } else {
                    "IPv6 link-local address"
                }
            )
        })?;
        let config = spec.core_config(source).map_err(anyhow::Error::msg)?;
        let mut inst = Instance::new(config)?;
        let socket = Arc::new(
            VrrpSocket::open(&spec.interface, link.index, source)
                .with_context(|| format!("cannot open the VRRP socket on {}", spec.interface))?,
        );
        let now = Instant::now();
        if let Some(g) = grant {
            inst.apply_grant(now, g);
        }
        let resume = inst.fenced() && inst.grant().is_some_and(|g| g.permits_master(now));
        if !resume {
            // Stale addresses of a previous run that did not stop in order.
            self.remove_stale_vips(&spec, link.index).await;
        }
        self.next_id += 1;
        let id = self.next_id;
        let reader = tokio::spawn(read_loop(id, Arc::clone(&socket), self.packets_tx.clone()));
        tracing::info!(instance = %spec.name, %source, resume, "instance started");
        self.instances.push(Running {
            id,
            spec,
            inst,
            link,
            source,
            socket,
            reader,
            drops_reported: 0,
            drops_reported_at: None,
        });
        let idx = self.instances.len() - 1;
        self.feed(idx, Event::Startup).await;
        Ok(())
    }

    async fn remove_stale_vips(&self, spec: &InstanceSpec, ifindex: u32) {
        let Ok(addresses) = self.kernel.addresses().await else {
            return;
        };
        for a in addresses {
            if a.ifindex == ifindex
                && a.protocol == ROUTERD_VRRP_PROTO
                && spec.addresses.iter().any(|v| v.addr() == a.addr)
            {
                if let Err(e) = self
                    .kernel
                    .remove_address(ifindex, a.addr, a.prefix_len)
                    .await
                {
                    tracing::warn!(error = %e, "cannot remove a stale virtual address");
                } else {
                    tracing::info!(instance = %spec.name, address = %a.addr, "removed a stale virtual address");
                }
            }
        }
    }

    async fn request(&mut self, req: Request) {
        match req {
            Request::Grants(grants, reply) => {
                let roles = |e: &Engine| -> Vec<Option<(GrantRole, u64)>> {
                    e.instances
                        .iter()
                        .map(|r| r.inst.grant().map(|g| (g.role, g.epoch)))
                        .collect()
                };
                let before = roles(self);
                let answer = self.grants(grants).await;
                // A new role or epoch is stored before the answer goes out (a
                // restart must not come back with an older role); a renewal
                // that only moves the deadline may wait.
                let changed = roles(self) != before;
                self.persist(changed);
                let _ = reply.send(answer);
            }
            Request::Status(reply) => {
                let states = self
                    .instances
                    .iter()
                    .map(|r| r.inst.state())
                    .collect::<Vec<_>>();
                let entries = self
                    .instances
                    .iter()
                    .map(|r| instance_json(&r.spec, &r.inst, &r.source.to_string()))
                    .collect();
                let _ = reply.send(daemon_status(
                    &self.name,
                    phase(states.into_iter()),
                    entries,
                ));
            }
            Request::Reload(spec, reply) => {
                let outcome = self.reload(*spec).await;
                let _ = reply.send(outcome);
                self.persist(true);
            }
        }
    }

    async fn grants(&mut self, grants: Vec<GrantRequest>) -> serde_json::Value {
        let mut results = Vec::new();
        for g in grants {
            // routerd sends each grant on its own connection, so two can
            // overtake each other: a renewal issued before a standby must
            // not arrive after it and make this daemon Master again (chaos
            // saw exactly that on a LAN link flap).
            if let Some(issued) = g.issued_mono_ns {
                if self.issued.get(&g.group).is_some_and(|last| issued < *last) {
                    let state = self
                        .instances
                        .iter()
                        .find(|r| r.spec.group == g.group)
                        .map(|r| r.inst.state().as_str());
                    results
                        .push(json!({"group": g.group, "result": "ignoredStale", "state": state}));
                    continue;
                }
                self.issued.insert(g.group.clone(), issued);
            }
            let grant = Grant {
                epoch: g.epoch,
                role: g.role,
                deadline: g.deadline_mono_ns.map(instant_from_mono_ns),
            };
            let targets: Vec<usize> = (0..self.instances.len())
                .filter(|i| self.instances[*i].spec.group == g.group)
                .collect();
            if targets.is_empty() {
                results.push(json!({"group": g.group, "result": "unknownGroup"}));
                continue;
            }
            let mut accepted = false;
            let mut states = Vec::new();
            for idx in targets {
                let before = self.instances[idx].inst.grant();
                let now = Instant::now();
                let (outcome, actions) = self.instances[idx].inst.apply_grant(now, grant);
                let changed = before.is_none_or(|b| b.epoch != grant.epoch || b.role != grant.role);
                accepted |= outcome == GrantOutcome::Accepted;
                self.execute(idx, actions).await;
                let r = &self.instances[idx];
                if changed || outcome == GrantOutcome::IgnoredOlderEpoch {
                    let reason = if outcome == GrantOutcome::Accepted {
                        "accepted"
                    } else {
                        "ignoredOlderEpoch"
                    };
                    let event = NewEvent::new("vrrp.grant", reason)
                        .resource(r.spec.name.clone())
                        .message(format!(
                            "{} grant for {} epoch {}",
                            g.role.as_str(),
                            g.group,
                            g.epoch
                        ))
                        .attr("group", g.group.clone())
                        .attr("role", g.role.as_str())
                        .attr("epoch", g.epoch)
                        .attr("deadlineMonoNs", json!(g.deadline_mono_ns))
                        .attr("state", r.inst.state().as_str());
                    let _ = self.events.append(event);
                }
                states.push(json!({"instance": r.spec.name, "state": r.inst.state().as_str()}));
            }
            let result = if accepted {
                "accepted"
            } else {
                "ignoredOlderEpoch"
            };
            let state = states.first().and_then(|s| s.get("state")).cloned();
            results.push(
                json!({"group": g.group, "result": result, "state": state, "instances": states}),
            );
        }
        json!({"results": results, "monoNowNs": mono_now_ns()})
    }

    async fn reload(&mut self, spec: VrrpSpec) -> CommandOutcome {
        let mut kept = Vec::new();
        let mut changed = Vec::new();
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut failed = Vec::new();
        let wanted: BTreeMap<&str, &InstanceSpec> = spec
            .instances
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        // Removed and changed instances stop first (orderly: they leave Master).
        let mut carried = BTreeMap::new();
        let mut idx = 0;
        while idx < self.instances.len() {
            let name = self.instances[idx].spec.name.clone();
            match wanted.get(name.as_str()) {
                Some(new) if **new == self.instances[idx].spec => {
                    kept.push(name);
                    idx += 1;
                }
                Some(new) if only_priority_differs(&self.instances[idx].spec, new) => {
                    self.instances[idx].spec = (*new).clone();
                    self.feed(idx, Event::SetPriority(new.priority)).await;
                    changed.push(name);
                    idx += 1;
                }
                other => {
                    self.feed(idx, Event::Shutdown).await;
                    let r = self.instances.remove(idx);
                    if other.is_some() {
                        carried.insert(name.clone(), (r.spec.group.clone(), r.inst.grant()));
                        changed.push(name);
                    } else {
                        removed.push(name);
                    }
                }
            }
        }
        for s in &spec.instances {
            if self.instances.iter().any(|r| r.spec.name == s.name) {
                continue;
            }
            let grant = carried
                .get(&s.name)
                .filter(|(group, _)| *group == s.group)
                .and_then(|(_, g)| *g);
            if !carried.contains_key(&s.name) {
                added.push(s.name.clone());
            }
            if let Err(e) = self.start_instance(s.clone(), grant).await {
                failed.push(json!({"instance": s.name, "error": format!("{e:#}")}));
            }
        }
        self.name = spec.name;
        let detail = json!({"kept": kept, "changed": changed, "added": added, "removed": removed, "failed": failed});
        let _ = self.events.append(
            NewEvent::new(
                "vrrp.reloaded",
                if failed.is_empty() { "ok" } else { "partial" },
            )
            .attr("detail", detail.clone()),
        );
        if failed.is_empty() {
            CommandOutcome::Done(detail)
        } else {
            CommandOutcome::Failed(detail.to_string())
        }
    }

    async fn packet(&mut self, pkt: Packet) {
        let Some(idx) = self.instances.iter().position(|r| r.id == pkt.id) else {
            return;
        };
        let r = &mut self.instances[idx];
        let peers = &r.spec.unicast_peers;
        if !peers.is_empty() && !peers.contains(&pkt.incoming.src) {
            r.inst.count_drop(routerd_vrrp_core::DropReason::Source);
        } else {
            let incoming = pkt.incoming;
            let received = Received {
                src: incoming.src,
                dst: incoming.dst,
                ttl: incoming.ttl,
                bytes: &incoming.payload,
            };
            let actions = r.inst.handle(Instant::now(), Event::Packet(received));
            self.execute(idx, actions).await;
        }
        self.report_drops(idx);
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        for idx in 0..self.instances.len() {
            if self.instances[idx]
                .inst
                .next_deadline()
                .is_some_and(|d| d <= now)
            {
                self.feed(idx, Event::Timer).await;
            }
        }
    }

    async fn feed(&mut self, idx: usize, event: Event<'_>) {
        let actions = self.instances[idx].inst.handle(Instant::now(), event);
        self.execute(idx, actions).await;
    }

    async fn execute(&mut self, idx: usize, actions: Vec<Action>) {
        let mut transitioned = false;
        for action in actions {
            let r = &self.instances[idx];
            match action {
                Action::SendAdvert { priority } => send_advert(r, priority),
                Action::AddVips => {
                    for a in &r.spec.addresses {
                        if let Err(e) = self
                            .kernel
                            .add_tagged_address(
                                r.link.index,
                                a.addr(),
                                a.prefix_len(),
                                ROUTERD_VRRP_PROTO,
                            )
                            .await
                        {
                            tracing::error!(instance = %r.spec.name, error = %e, "cannot add a virtual address");
                        }
                    }
                }
                Action::RemoveVips => {
                    for a in &r.spec.addresses {
                        if let Err(e) = self
                            .kernel
                            .remove_address(r.link.index, a.addr(), a.prefix_len())
                            .await
                        {
                            tracing::error!(instance = %r.spec.name, error = %e, "cannot remove a virtual address");
                        }
                    }
                }
                Action::AnnounceVips => {
                    let vips: Vec<IpAddr> = r.spec.addresses.iter().map(|a| a.addr()).collect();
                    if let Err(e) = announce(&r.link.name, r.link.index, r.link.mac, &vips) {
                        tracing::warn!(instance = %r.spec.name, error = %e, "cannot announce the virtual addresses");
                    }
                }
                Action::Transition { from, to, reason } => {
                    transitioned = true;
                    tracing::info!(instance = %r.spec.name, from = from.as_str(), to = to.as_str(), reason = reason.as_str(), "state changed");
                    let grant = r.inst.grant();
                    let event = NewEvent::new("vrrp.state.changed", reason.as_str())
                        .resource(r.spec.name.clone())
                        .message(format!(
                            "{} {} -> {} ({})",
                            r.spec.name,
                            from.as_str(),
                            to.as_str(),
                            reason.as_str()
                        ))
                        .attr("group", r.spec.group.clone())
                        .attr("from", from.as_str())
                        .attr("to", to.as_str())
                        .attr("masterAddress", json!(r.inst.master_address()))
                        .attr("epoch", json!(grant.map(|g| g.epoch)))
                        .attr("fenced", r.inst.fenced());
                    if let Err(e) = self.events.append(event) {
                        tracing::warn!(error = %e, "cannot append an event");
                    }
                }
            }
        }
        if transitioned {
            self.persist(true);
        }
    }

    fn report_drops(&mut self, idx: usize) {
        let r = &mut self.instances[idx];
        let total = r.inst.counters().dropped_total();
        if total == r.drops_reported {
            return;
        }
        let now = Instant::now();
        if r.drops_reported_at
            .is_some_and(|t| now < t + DROP_EVENT_PERIOD)
        {
            return;
        }
        let by_reason: serde_json::Map<String, serde_json::Value> = r
            .inst
            .counters()
            .dropped_all()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str().to_string(), json!(n)))
            .collect();
        let event = NewEvent::new("vrrp.packet.dropped", "dropped")
            .resource(r.spec.name.clone())
            .message(format!(
                "{} packets dropped since the last report",
                total - r.drops_reported
            ))
            .attr("since", total - r.drops_reported)
            .attr("totals", serde_json::Value::Object(by_reason));
        let _ = self.events.append(event);
        r.drops_reported = total;
        r.drops_reported_at = Some(now);
    }

    /// Stores every instance's state and grant. `durable`: fsynced (a new
    /// role or epoch, a transition); otherwise written and renamed without
    /// fsync, which survives kill -9 (the page cache outlives the process)
    /// and is all a renewal needs: after a power loss CLOCK_MONOTONIC starts
    /// over and every stored deadline is void anyway. A restart must see the
    /// newest deadline, or it would drop VIPs that are still granted.
    fn persist(&mut self, durable: bool) {
        let state = PersistedState {
            instances: self
                .instances
                .iter()
                .map(|r| {
                    (
                        r.spec.name.clone(),
                        PersistedInstance {
                            group: r.spec.group.clone(),
                            state: r.inst.state().as_str().to_string(),
                            grant: r.inst.grant().map(|g| PersistedGrant {
                                role: g.role,
                                epoch: g.epoch,
                                deadline_mono_ns: g.deadline.map(mono_ns_from_instant),
                            }),
                        },
                    )
                })
                .collect(),
        };
        let written = if durable {
            write_json_atomic(&self.state_path, &state).map_err(|e| e.to_string())
        } else {
            write_fast(&self.state_path, &state)
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the state file");
        }
    }
}

fn only_priority_differs(old: &InstanceSpec, new: &InstanceSpec) -> bool {
    let mut same = new.clone();
    same.priority = old.priority;
    same == *old && old.priority < 255 && new.priority < 255
}

fn send_advert(r: &Running, priority: u8) {
    let advert = r.inst.advert(priority);
    let group = if r.source.is_ipv4() {
        IpAddr::V4(MULTICAST_V4)
    } else {
        IpAddr::V6(MULTICAST_V6)
    };
    let dsts: Vec<IpAddr> = if r.spec.unicast_peers.is_empty() {
        vec![group]
    } else {
        r.spec.unicast_peers.clone()
    };
    for dst in dsts {
        let bytes = advert.encode(r.source, dst);
        if let Err(e) = r.socket.send(&bytes, dst) {
            tracing::debug!(instance = %r.spec.name, %dst, error = %e, "cannot send an advert");
        }
    }
}

async fn read_loop(id: u64, socket: Arc<VrrpSocket>, tx: mpsc::Sender<Packet>) {
    let mut errors = 0u32;
    loop {
        match socket.recv().await {
            Ok(incoming) => {
                errors = 0;
                if tx.send(Packet { id, incoming }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, "VRRP socket receive failed");
                // Bounded back-off so a persistent error cannot spin the CPU.
                tokio::time::sleep(Duration::from_millis(10 * u64::from(errors.min(100)))).await;
            }
        }
    }
}

/// Write to a temporary file and rename over `path`, without fsync.
fn write_fast(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("tmp-fast");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
