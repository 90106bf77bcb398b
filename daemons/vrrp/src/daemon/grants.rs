//! `POST /v1/grants`: routerd's ownership grants, merged into the contract router.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use routerd_vrrp_core::GrantRole;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::VrrpDaemon;

/// The request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsBody {
    /// One grant per group.
    pub grants: Vec<GrantRequest>,
}

/// One grant as routerd sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantRequest {
    /// Ownership group key.
    pub group: String,
    /// Ownership epoch.
    pub epoch: u64,
    /// owner, standby or vrrp.
    pub role: GrantRole,
    /// Absolute CLOCK_MONOTONIC deadline in ns; `null`: no expiry.
    #[serde(default)]
    pub deadline_mono_ns: Option<u64>,
    /// When routerd decided this grant (CLOCK_MONOTONIC ns): a grant issued
    /// before the newest one applied for its group is stale and ignored.
    #[serde(default)]
    pub issued_mono_ns: Option<u64>,
}

/// The `/v1/grants` route, to merge into the contract router.
pub fn grants_router(daemon: Arc<VrrpDaemon>) -> Router {
    Router::new()
        .route("/v1/grants", post(grants))
        .with_state(daemon)
}

async fn grants(State(daemon): State<Arc<VrrpDaemon>>, Json(body): Json<GrantsBody>) -> Response {
    match daemon.grants(body.grants).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => (http_status(503), Json(json!({"error": e}))).into_response(),
    }
}

fn http_status(code: u16) -> axum::http::StatusCode {
    axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}
