//! The daemon's own routes, merged into the contract router:
//! `POST /v1/grants` (the body routerd sends routerd-vrrp),
//! `GET /v1/bgp/{summary,neighbors,routes}`, and `POST /v1/commands/renew`
//! taking an optional peer (the contract's generic command route takes no
//! body, and a route refresh is usually meant for one neighbour).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ipnet::IpNet;
use routerd_contract::server::CommandOutcome;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::BgpDaemon;
use crate::speaker::{GrantRequest, RouteQuery};

/// The `/v1/grants` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsBody {
    /// One grant per group.
    pub grants: Vec<GrantRequest>,
}

/// `renew`'s optional body (or query): which peer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    #[serde(default)]
    peer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesQuery {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// The routes to merge into the contract router.
pub fn bgp_router(daemon: Arc<BgpDaemon>) -> Router {
    Router::new()
        .route("/v1/grants", post(grants))
        .route("/v1/bgp/summary", get(summary))
        .route("/v1/bgp/neighbors", get(neighbors))
        .route("/v1/bgp/routes", get(routes))
        .route("/v1/commands/renew", post(renew))
        .with_state(daemon)
}

fn answer(r: Result<serde_json::Value, &'static str>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": e}))).into_response(),
    }
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

async fn grants(State(d): State<Arc<BgpDaemon>>, Json(body): Json<GrantsBody>) -> Response {
    answer(d.grants(body.grants).await)
}

async fn summary(State(d): State<Arc<BgpDaemon>>) -> Response {
    answer(d.summary().await)
}

async fn neighbors(State(d): State<Arc<BgpDaemon>>) -> Response {
    answer(d.neighbors().await)
}

async fn routes(State(d): State<Arc<BgpDaemon>>, Query(q): Query<RoutesQuery>) -> Response {
    let prefix = match q.prefix.as_deref().map(parse_prefix).transpose() {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    answer(
        d.routes(RouteQuery {
            prefix,
            limit: q.limit.unwrap_or(1000),
        })
        .await,
    )
}

/// A prefix, or an address read as its host route.
fn parse_prefix(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not a prefix"))
}

async fn renew(
    State(d): State<Arc<BgpDaemon>>,
    Query(q): Query<RenewBody>,
    body: Bytes,
) -> Response {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        RenewBody::default()
    } else {
        match serde_json::from_slice::<RenewBody>(&body) {
            Ok(b) => b,
            Err(e) => return bad_request(format!("renew body: {e}")),
        }
    };
    let peer = from_body.peer.or(q.peer);
    tracing::info!(command = "renew", ?peer, "command received");
    let (status, body) = match d.refresh(peer).await {
        CommandOutcome::Done(detail) => (
            StatusCode::OK,
            json!({"command": "renew", "result": "done", "detail": detail}),
        ),
        CommandOutcome::Unsupported(why) => (
            StatusCode::CONFLICT,
            json!({"command": "renew", "error": why}),
        ),
        CommandOutcome::Failed(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"command": "renew", "error": why}),
        ),
    };
    (status, Json(body)).into_response()
}
