//! The contract's endpoints: status, health, commands (events live in `events.rs`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::json;

use super::layers::{json_error, read_body};
use super::{Command, CommandOutcome, Daemon, Health, ServerInfo, StatusEnvelope, events};
use crate::event::EventLog;

struct Contract<D> {
    info: ServerInfo,
    daemon: Arc<D>,
    events: Arc<EventLog>,
    started_at: String,
}

/// The contract's routes for one daemon: `/v1/status`, `/v1/healthz`, `/v1/events`,
/// `/v1/commands/{command}`.
///
/// Merge extra routes into it with [`Router::merge`]; [`serve`](super::serve) then adds
/// the shared layers ([`contract_layers`](super::contract_layers)) around everything.
pub fn contract_router<D: Daemon>(
    info: ServerInfo,
    daemon: Arc<D>,
    events: Arc<EventLog>,
) -> Router {
    let contract = Arc::new(Contract {
        info,
        daemon,
        events: Arc::clone(&events),
        started_at: crate::event::now_rfc3339(),
    });
    Router::new()
        .route("/v1/status", get(status::<D>))
        .route("/v1/healthz", get(healthz::<D>))
        .route("/v1/commands/{command}", post(command::<D>))
        .with_state(contract)
        .merge(events::router(events))
}

async fn status<D: Daemon>(State(c): State<Arc<Contract<D>>>) -> Json<StatusEnvelope> {
    let status = c.daemon.status().await;
    Json(StatusEnvelope {
        daemon: c.info.daemon.clone(),
        instance: c.info.instance.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started_at: c.started_at.clone(),
        phase: status.phase,
        last_event_seq: c.events.last_seq(),
        status: status.detail,
    })
}

async fn healthz<D: Daemon>(State(c): State<Arc<Contract<D>>>) -> Response {
    match c.daemon.health() {
        Health::Live => Json(json!({"status": "ok"})).into_response(),
        Health::Unhealthy(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "reason": reason})),
        )
            .into_response(),
    }
}

async fn command<D: Daemon>(
    State(c): State<Arc<Contract<D>>>,
    Path(name): Path<String>,
    body: Body,
) -> Response {
    let command: Command = match name.parse() {
        Ok(command) => command,
        Err(unknown) => return json_error(StatusCode::NOT_FOUND, unknown.to_string()),
    };
    // Commands take no body, but one is read (and dropped) under the size limit so an
    // oversized upload gets a clean 413 rather than a reset connection.
    if let Err(refusal) = read_body(body).await {
        return refusal;
    }
    tracing::info!(%command, "command received");
    let (status, body) = match c.daemon.command(command).await {
        CommandOutcome::Done(detail) => (
            StatusCode::OK,
            json!({"command": command, "result": "done", "detail": detail}),
        ),
        CommandOutcome::Unsupported(why) => (
            StatusCode::CONFLICT,
            json!({"command": command, "error": why}),
        ),
        CommandOutcome::Failed(why) => {
            tracing::warn!(%command, "command failed: {why}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"command": command, "error": why}),
            )
        }
    };
    (status, Json(body)).into_response()
}
