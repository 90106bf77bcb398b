//! ApiServer: routerd's own daemon contract on its Unix socket, plus the
//! routes routerctl uses (config, plan, apply, resources, daemons, actors).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use routerd_config::Diagnostics;
use routerd_contract::server::{
    Command, CommandOutcome, Daemon, DaemonStatus, Health, ServerInfo, bind_unix, contract_router,
    serve_listener,
};
use routerd_kernel::ProcSysctl;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::controller::{ControllerInfo, ControllerMsg};
use crate::daemon::{DaemonInfo, DaemonMsg};
use crate::gate::ConfigLookup;
use crate::reconcile::desired;
use crate::runtime::Runtime;
use crate::store::{ApplyError, StoreMsg};
use crate::supervisor::{ChildInfo, children};
use crate::trace::start_span;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// routerd as a contract daemon.
pub struct RouterdDaemon {
    runtime: Arc<Runtime>,
}

async fn controller_infos(runtime: &Runtime) -> Vec<ControllerInfo> {
    let mut infos = Vec::new();
    for (name, slot) in runtime.all_controllers() {
        let info = match slot.get() {
            Some(actor) => match actor
                .call(ControllerMsg::Info, Some(Duration::from_secs(5)))
                .await
            {
                Ok(ractor::rpc::CallResult::Success(info)) => info,
                _ => ControllerInfo {
                    name: name.clone(),
                    last_error: Some("not answering".into()),
                    ..Default::default()
                },
            },
            None => ControllerInfo {
                name: name.clone(),
                last_error: Some("restarting".into()),
                ..Default::default()
            },
        };
        infos.push(info);
    }
    infos
}

async fn daemon_infos(runtime: &Runtime) -> Vec<DaemonInfo> {
    let mut infos = Vec::new();
    for name in runtime.daemon_names() {
        if let Some(actor) = runtime.daemon_slot(&name).and_then(|s| s.get())
            && let Ok(ractor::rpc::CallResult::Success(info)) = actor
                .call(DaemonMsg::Info, Some(Duration::from_secs(5)))
                .await
        {
            infos.push(info);
        }
    }
    infos
}

/// The supervision tree with restart counts.
async fn actor_tree(runtime: &Runtime) -> Value {
    let mut tree = serde_json::Map::new();
    for (name, slot) in [
        ("RootSupervisor", &runtime.root),
        ("Controllers", &runtime.controllers),
        ("DaemonSupervisors", &runtime.daemons),
    ] {
        let kids: Vec<ChildInfo> = match slot.get() {
            Some(actor) => children(&actor).await,
            None => Vec::new(),
        };
        tree.insert(
            name.into(),
            json!({ "running": slot.get().is_some(), "children": kids }),
        );
    }
    Value::Object(tree)
}

impl Daemon for RouterdDaemon {
    async fn status(&self) -> DaemonStatus {
        let rt = &self.runtime;
        let generation = rt.generation();
        let statuses = rt.statuses.all();
        let mut phases = std::collections::BTreeMap::<String, usize>::new();
        for s in statuses.values() {
            *phases.entry(s.phase.clone()).or_default() += 1;
        }
        let controllers = controller_infos(rt).await;
        let degraded = controllers.iter().any(|c| c.last_error.is_some())
            || statuses.values().any(|s| s.phase == "Failed");
        DaemonStatus {
            phase: if degraded { "Degraded" } else { "Running" }.into(),
            detail: json!({
                "router": generation.config.name,
                "generation": generation.number,
                "appliedAt": generation.applied_at,
                "resources": generation.config.resources.len(),
                "phases": phases,
                "controllers": controllers,
                "daemons": daemon_infos(rt).await,
                "actors": actor_tree(rt).await,
                "stateDir": rt.options.state_dir,
            }),
        }
    }

    fn health(&self) -> Health {
        if self.runtime.controllers.get().is_none() {
            Health::Unhealthy("the controllers are restarting".into())
        } else if self.runtime.store.get().is_none() {
            Health::Unhealthy("the config store is restarting".into())
        } else {
            Health::Live
        }
    }

    async fn command(&self, command: Command) -> CommandOutcome {
        let rt = &self.runtime;
        match command {
            Command::Reload => match store_call(rt, StoreMsg::Reload).await {
                Ok(Ok(outcome)) => CommandOutcome::Done(json!(outcome)),
                Ok(Err(ApplyError::Invalid(d))) => CommandOutcome::Failed(format!(
                    "the config file is invalid; nothing changed:\n{d}"
                )),
                Ok(Err(e @ ApplyError::Storage(_))) if rt.options.config_path.is_none() => {
                    CommandOutcome::Unsupported(e.to_string())
                }
                Ok(Err(e)) => CommandOutcome::Failed(e.to_string()),
                Err(e) => CommandOutcome::Failed(e),
            },
            Command::Renew => {
                let mut renewed = Vec::new();
                for (name, slot) in rt.all_controllers() {
                    if slot.cast(ControllerMsg::Renew) {
                        renewed.push(name);
                    }
                }
                CommandOutcome::Done(json!({ "reconciling": renewed }))
            }
            Command::Stop => {
                rt.request_shutdown();
                CommandOutcome::Done(
                    json!({ "stopping": true, "daemons": "left running; a restarted routerd adopts them" }),
                )
            }
        }
    }
}

async fn store_call<F>(
    rt: &Runtime,
    build: F,
) -> Result<Result<crate::store::ApplyOutcome, ApplyError>, String>
where
    F: FnOnce(ractor::RpcReplyPort<Result<crate::store::ApplyOutcome, ApplyError>>) -> StoreMsg,
{
    let store = rt
        .store
        .get()
        .ok_or("the config store is restarting; try again")?;
    match store.call(build, Some(CALL_TIMEOUT)).await {
        Ok(ractor::rpc::CallResult::Success(r)) => Ok(r),
        _ => Err("the config store did not answer".into()),
    }
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({ "error": message.into() }))).into_response()
}

fn invalid(d: &Diagnostics) -> Response {
    let lines: Vec<String> = d.errors().map(|x| x.to_string()).collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": "the config is invalid; nothing changed", "diagnostics": d.0, "lines": lines })),
    )
        .into_response()
}

fn body_text(body: axum::body::Bytes) -> Result<String, Box<Response>> {
    String::from_utf8(body.to_vec())
        .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, "the body is not UTF-8 YAML")))
}

#[derive(Deserialize)]
struct LabelQuery {
    file: Option<String>,
}

async fn get_config(State(rt): State<Arc<Runtime>>) -> Response {
    let g = rt.generation();
    Json(json!({
        "generation": g.number,
        "appliedAt": g.applied_at,
        "document": g.config.to_document(),
        "source": g.source,
    }))
    .into_response()
}

fn cluster_of(rt: &Runtime) -> Result<routerd_cluster::ClusterNode, Box<Response>> {
    rt.cluster.clone().ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            "this routerd is not in a cluster (no RouterdCluster in its config)",
        ))
    })
}

async fn get_cluster(State(rt): State<Arc<Runtime>>) -> Response {
    let cluster = match cluster_of(&rt) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let status = cluster.status();
    let committed = cluster.with_state(|s| s.config.current().map(|g| g.generation));
    let ownership = match rt.ownership.get() {
        Some(actor) => match actor
            .call(
                crate::ownership::OwnershipMsg::Status,
                Some(Duration::from_secs(5)),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(v)) => v,
            _ => Value::Null,
        },
        None => Value::Null,
    };
    Json(json!({
        "node": rt.options.cluster_node,
        "witness": rt.options.witness,
        "raft": status,
        "generation": { "served": rt.generation().number, "committed": committed },
        "ownership": ownership,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberBody {
    id: u64,
    name: String,
    address: String,
    #[serde(default)]
    witness: bool,
    #[serde(default = "yes")]
    voter: bool,
}

fn yes() -> bool {
    true
}

async fn post_member(State(rt): State<Arc<Runtime>>, Json(m): Json<MemberBody>) -> Response {
    let cluster = match cluster_of(&rt) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let member = routerd_cluster::Member {
        id: m.id,
        name: m.name,
        addr: m.address,
        witness: m.witness,
    };
    match cluster.add_member(member, m.voter).await {
        Ok(()) => Json(json!({ "added": m.id, "voter": m.voter })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn delete_member(State(rt): State<Arc<Runtime>>, Path(id): Path<u64>) -> Response {
    let cluster = match cluster_of(&rt) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match cluster.remove_member(id).await {
        Ok(()) => Json(json!({ "removed": id })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

#[derive(Deserialize)]
struct TransferBody {
    to: u64,
}

async fn post_transfer_leader(
    State(rt): State<Arc<Runtime>>,
    Json(t): Json<TransferBody>,
) -> Response {
    let cluster = match cluster_of(&rt) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match cluster.transfer_leader(t.to).await {
        Ok(()) => Json(json!({ "leader": t.to })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn post_validate(Query(q): Query<LabelQuery>, body: axum::body::Bytes) -> Response {
    let text = match body_text(body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let label = q.file.unwrap_or_else(|| "request".into());
    match crate::store::load_off_runtime(label, text).await.1 {
        Ok(loaded) => {
            Json(json!({ "valid": true, "diagnostics": loaded.warnings.0 })).into_response()
        }
        Err(d) => Json(json!({ "valid": false, "diagnostics": d.0 })).into_response(),
    }
}

async fn post_plan(
    State(rt): State<Arc<Runtime>>,
    Query(q): Query<LabelQuery>,
    body: axum::body::Bytes,
) -> Response {
    let text = match body_text(body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let label = q.file.unwrap_or_else(|| "request".into());
    let loaded = match crate::store::load_off_runtime(label, text).await.1 {
        Ok(l) => l,
        Err(d) => return invalid(&d),
    };
    let lookup = ConfigLookup {
        statuses: &rt.statuses,
        config: &loaded.config,
    };
    let state = desired(&loaded.config, &lookup);
    let observed = match rt.kernel.observe().await {
        Ok(o) => o,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the kernel: {e}"),
            );
        }
    };
    let mut plan = routerd_kernel::plan(&state.desired, &observed, &ProcSysctl);
    crate::reconcile::keep_held(&mut plan, &state);
    let current = rt.generation();
    let (added, removed, modified) = crate::store::diff(&current.config, &loaded.config);
    Json(json!({
        "changes": plan.changes,
        "pending": plan.pending,
        "blocked": state.blocked.iter().map(|(r, why)| json!({"resource": r, "reason": why})).collect::<Vec<_>>(),
        "summary": plan.summary(),
        "text": crate::reconcile::plan_text(&plan, &state.blocked, &loaded.config.reconcile.protected_interfaces),
        "resources": { "added": added, "removed": removed, "modified": modified },
        "warnings": loaded.warnings.0,
    }))
    .into_response()
}

async fn post_apply(
    State(rt): State<Arc<Runtime>>,
    Query(q): Query<LabelQuery>,
    body: axum::body::Bytes,
) -> Response {
    let text = match body_text(body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let label = q.file.unwrap_or_else(|| "request".into());
    match store_call(&rt, |reply| StoreMsg::Apply {
        source: text,
        label,
        reply,
    })
    .await
    {
        Ok(Ok(outcome)) => Json(json!(outcome)).into_response(),
        Ok(Err(ApplyError::Invalid(d))) => invalid(&d),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
}

fn resource_json(rt: &Runtime, r: &routerd_config::Resource) -> Value {
    json!({
        "apiVersion": r.api_version,
        "kind": r.kind,
        "name": r.name,
        "spec": r.spec.to_json(),
        "status": rt.statuses.get(&r.id()),
    })
}

/// Matches a kind the way a person types it: any case, plural allowed.
fn kind_matches(kind: &str, wanted: &str) -> bool {
    let wanted = wanted.to_ascii_lowercase();
    let kind = kind.to_ascii_lowercase();
    wanted == kind
        || wanted.strip_suffix("es") == Some(kind.as_str())
        || wanted.strip_suffix('s') == Some(kind.as_str())
}

async fn get_resources(State(rt): State<Arc<Runtime>>, Query(q): Query<KindQuery>) -> Response {
    let g = rt.generation();
    let items: Vec<Value> = g
        .config
        .resources
        .iter()
        .filter(|r| q.kind.as_deref().is_none_or(|k| kind_matches(r.kind, k)))
        .map(|r| resource_json(&rt, r))
        .collect();
    if items.is_empty()
        && let Some(k) = &q.kind
    {
        let known = routerd_config::registry::KINDS
            .iter()
            .any(|e| kind_matches(e.kind, k));
        if !known {
            return error(StatusCode::NOT_FOUND, format!("no kind `{k}`"));
        }
    }
    Json(json!({ "generation": g.number, "items": items })).into_response()
}

async fn get_resource(
    State(rt): State<Arc<Runtime>>,
    Path((kind, name)): Path<(String, String)>,
) -> Response {
    let g = rt.generation();
    let Some(r) = g
        .config
        .resources
        .iter()
        .find(|r| kind_matches(r.kind, &kind) && r.name == name)
    else {
        return error(StatusCode::NOT_FOUND, format!("no resource {kind}/{name}"));
    };
    let id = r.id();
    let events: Vec<_> = rt
        .bus
        .log()
        .since(rt.bus.log().last_seq().saturating_sub(2000), None, 2000)
        .into_iter()
        .filter(|e| e.resource.as_deref() == Some(id.as_str()))
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut v = resource_json(&rt, r);
    v["events"] = json!(events);
    Json(v).into_response()
}

async fn get_daemons(State(rt): State<Arc<Runtime>>) -> Response {
    Json(json!({ "items": daemon_infos(&rt).await })).into_response()
}

async fn get_daemon(State(rt): State<Arc<Runtime>>, Path(name): Path<String>) -> Response {
    let Some(actor) = rt.daemon_slot(&name).and_then(|s| s.get()) else {
        return error(StatusCode::NOT_FOUND, format!("no daemon `{name}`"));
    };
    let info = match actor
        .call(DaemonMsg::Info, Some(Duration::from_secs(5)))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(info)) => info,
        _ => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the supervisor of `{name}` is not answering"),
            );
        }
    };
    let status = routerd_contract::Client::new(info.socket.clone())
        .status()
        .await;
    let status = match status {
        Ok(s) => json!(s),
        Err(e) => json!({ "error": e.to_string() }),
    };
    Json(json!({ "supervisor": info, "daemon": status })).into_response()
}

/// Query of `/v1/bgp/{view}`.
#[derive(Debug, Deserialize)]
struct BgpQuery {
    /// One BGPRouter (default: every one).
    router: Option<String>,
    /// Routes view: one prefix, or the routes covering an address.
    prefix: Option<String>,
}

/// `GET /v1/bgp/{summary|neighbors|routes}`: each routerd-bgp's answer,
/// by router name.
async fn get_bgp(
    State(rt): State<Arc<Runtime>>,
    Path(view): Path<String>,
    Query(q): Query<BgpQuery>,
) -> Response {
    if !matches!(view.as_str(), "summary" | "neighbors" | "routes") {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown view `{view}`; valid views are summary, neighbors, routes"),
        );
    }
    let prefix = crate::controllers::bgp::PREFIX;
    let daemons: Vec<String> = rt
        .daemon_names()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .filter(|n| {
            q.router
                .as_deref()
                .is_none_or(|r| n.strip_prefix(prefix) == Some(r))
        })
        .collect();
    if daemons.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            match &q.router {
                Some(r) => format!("no BGP router `{r}` runs here"),
                None => "no BGP router runs here".into(),
            },
        );
    }
    let mut path = format!("/v1/bgp/{view}");
    if let Some(p) = &q.prefix {
        let encoded: String = p
            .bytes()
            .map(|b| match b {
                b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'.' | b':' | b'-' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        path.push_str(&format!("?prefix={encoded}"));
    }
    let mut routers = serde_json::Map::new();
    for name in daemons {
        let socket = crate::daemon::daemon_socket(&rt.options.state_dir, &name);
        let client = routerd_contract::Client::new(socket).with_timeout(CALL_TIMEOUT);
        let answer = match client
            .request_raw(http::Method::GET, &path, None, None)
            .await
        {
            Ok((code, body)) if code.is_success() => {
                serde_json::from_slice(&body).unwrap_or_else(|e| json!({ "error": e.to_string() }))
            }
            Ok((code, body)) => json!({
                "error": format!("{code}: {}", String::from_utf8_lossy(&body).trim()),
            }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let router = name.strip_prefix(prefix).unwrap_or(&name).to_string();
        routers.insert(router, answer);
    }
    Json(json!({ "routers": routers })).into_response()
}

async fn post_daemon_command(
    State(rt): State<Arc<Runtime>>,
    Path((name, command)): Path<(String, String)>,
) -> Response {
    let Ok(command) = command.parse::<Command>() else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown command `{command}`; valid commands are reload, renew, stop"),
        );
    };
    let Some(actor) = rt.daemon_slot(&name).and_then(|s| s.get()) else {
        return error(StatusCode::NOT_FOUND, format!("no daemon `{name}`"));
    };
    match actor
        .call(
            |reply| DaemonMsg::Command(command, reply),
            Some(CALL_TIMEOUT),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(Ok(detail))) => {
            Json(json!({ "command": command, "result": "done", "detail": detail })).into_response()
        }
        Ok(ractor::rpc::CallResult::Success(Err(crate::daemon::RelayError::NotRunning(e)))) => {
            error(StatusCode::CONFLICT, e)
        }
        Ok(ractor::rpc::CallResult::Success(Err(crate::daemon::RelayError::Failed(e)))) => {
            error(StatusCode::BAD_GATEWAY, e)
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the supervisor of `{name}` is not answering"),
        ),
    }
}

async fn get_actors(State(rt): State<Arc<Runtime>>) -> Response {
    Json(json!({ "tree": actor_tree(&rt).await, "controllers": controller_infos(&rt).await }))
        .into_response()
}

async fn post_panic(State(rt): State<Arc<Runtime>>, Path(name): Path<String>) -> Response {
    if !rt.options.fault_injection {
        return error(
            StatusCode::FORBIDDEN,
            "fault injection is disabled; start routerd with --fault-injection",
        );
    }
    match rt.controller(&name) {
        Some(slot) if slot.cast(ControllerMsg::Panic) => {
            Json(json!({ "injected": name })).into_response()
        }
        Some(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("controller `{name}` is restarting"),
        ),
        None => error(StatusCode::NOT_FOUND, format!("no controller `{name}`")),
    }
}

/// The whole API router.
pub fn router(rt: Arc<Runtime>) -> Router {
    let contract = contract_router(
        ServerInfo {
            daemon: "routerd".into(),
            instance: rt.generation().config.name.clone(),
        },
        Arc::new(RouterdDaemon {
            runtime: rt.clone(),
        }),
        rt.bus.log().clone(),
    );
    let extra = Router::new()
        .route("/v1/config", get(get_config))
        .route("/v1/validate", post(post_validate))
        .route("/v1/plan", post(post_plan))
        .route("/v1/apply", post(post_apply))
        .route("/v1/resources", get(get_resources))
        .route("/v1/resources/{kind}/{name}", get(get_resource))
        .route("/v1/daemons", get(get_daemons))
        .route("/v1/daemons/{name}", get(get_daemon))
        .route(
            "/v1/daemons/{name}/commands/{command}",
            post(post_daemon_command),
        )
        .route("/v1/bgp/{view}", get(get_bgp))
        .route("/v1/actors", get(get_actors))
        .route("/v1/cluster", get(get_cluster))
        .route("/v1/cluster/members", post(post_member))
        .route(
            "/v1/cluster/members/{id}",
            axum::routing::delete(delete_member),
        )
        .route("/v1/cluster/transfer-leader", post(post_transfer_leader))
        .route("/v1/debug/panic/{controller}", post(post_panic))
        .merge(crate::drains::routes())
        .with_state(rt);
    contract.merge(extra)
}

/// The API server actor: owns the listening socket and its serving task.
pub struct ApiServer;

/// Its state.
pub struct ApiState {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Actor for ApiServer {
    type Msg = ();
    type State = ApiState;
    type Arguments = Arc<Runtime>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        rt: Arc<Runtime>,
    ) -> Result<ApiState, ActorProcessingErr> {
        let _span = start_span("ApiServer").entered();
        let listener = bind_unix(&rt.options.socket).map_err(|e| format!("API socket: {e}"))?;
        let (stop, stopped) = oneshot::channel();
        let router = router(rt);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = serve_listener(listener, router, shutdown).await {
                tracing::error!(error = %e, "the API server stopped");
            }
        });
        Ok(ApiState {
            stop: Some(stop),
            task: Some(task),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<()>,
        state: &mut ApiState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stop) = state.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = state.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(6), task).await;
        }
        Ok(())
    }
}
