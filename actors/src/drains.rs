//! Operator drains of IngressService backends: `routerctl ingress drain`
//! takes a backend out of new connections without editing the YAML.
//!
//! A drain is `service/backend` with an optional end. The set lives in
//! `ingress-drains.json` in the state directory (written atomically), so a
//! restarted routerd keeps draining what it drained. The ingress controller
//! reads it on every reconcile and forgets drains whose end has passed.
//!
//! In a cluster the file is per node: a drain holds on the node it was made
//! on (see `docs/ingress.md` for the gap and how to drain on every node).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use routerd_config::kinds::IngressService;
use routerd_contract::NewEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::runtime::Runtime;

/// The file under the state directory.
pub const FILE: &str = "ingress-drains.json";
/// The topic the API publishes on a change; the ingress controller listens.
pub const TOPIC_PREFIX: &str = "routerd.ingressservice";

/// One drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drain {
    /// When it was made (Unix ms).
    pub since_unix_ms: u64,
    /// When it ends by itself (Unix ms); `None`: until undrained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_unix_ms: Option<u64>,
}

/// Drains by `service/backend`.
pub type Drains = BTreeMap<String, Drain>;

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The key of a backend.
pub fn key(service: &str, backend: &str) -> String {
    format!("{service}/{backend}")
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The drains in force at `now` (ended ones left out). A missing or
/// unreadable file is no drain; an unreadable one is logged.
pub fn load(state_dir: &Path, now: u64) -> Drains {
    let text = match std::fs::read_to_string(path(state_dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Drains::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read {FILE}; no drains");
            return Drains::new();
        }
    };
    match serde_json::from_str::<Drains>(&text) {
        Ok(mut d) => {
            d.retain(|_, drain| drain.until_unix_ms.is_none_or(|u| u > now));
            d
        }
        Err(e) => {
            tracing::warn!(error = %e, "{FILE} is not a drain list; no drains");
            Drains::new()
        }
    }
}

/// Writes the drain set.
pub fn save(state_dir: &Path, drains: &Drains) -> std::io::Result<()> {
    routerd_contract::atomic::write_json_atomic(path(state_dir), drains)
}

/// Splits `IngressService/name/backend` or `name/backend`.
pub fn parse_target(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix("IngressService/").unwrap_or(text);
    let (service, backend) = rest.split_once('/')?;
    if service.is_empty() || backend.is_empty() || backend.contains('/') {
        return None;
    }
    Some((service.to_string(), backend.to_string()))
}

/// Body of `POST /v1/ingress/drain` and `/v1/ingress/undrain`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainRequest {
    /// `name/backend` or `IngressService/name/backend`.
    pub backend: String,
    /// Drain for this long (Go duration, e.g. `10m`), then undrain by itself.
    #[serde(default)]
    pub r#for: Option<String>,
}

/// A refused request: its HTTP status and what to tell the operator.
/// Small on purpose: handlers return it in `Result`, and a `Response` is
/// large for an error variant.
#[derive(Debug)]
pub struct DrainError {
    code: StatusCode,
    message: String,
}

impl IntoResponse for DrainError {
    fn into_response(self) -> Response {
        (self.code, Json(json!({ "error": self.message }))).into_response()
    }
}

fn error(code: StatusCode, message: impl Into<String>) -> DrainError {
    DrainError {
        code,
        message: message.into(),
    }
}

/// The service and backend named by `text`, checked against the config.
fn resolve(rt: &Runtime, text: &str) -> Result<(String, String), DrainError> {
    let Some((service, backend)) = parse_target(text) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("`{text}` is not SERVICE/BACKEND (or IngressService/SERVICE/BACKEND)"),
        ));
    };
    let generation = rt.generation();
    let Some(spec) = generation.config.spec_of::<IngressService>(&service) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no IngressService/{service} on this router"),
        ));
    };
    let names: Vec<String> = (0..spec.backends.len())
        .map(|i| spec.backend_name(i))
        .collect();
    if !names.contains(&backend) {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "IngressService/{service} has no backend `{backend}` (it has {})",
                names.join(", ")
            ),
        ));
    }
    Ok((service, backend))
}

fn parse_for(text: &str) -> Result<Duration, DrainError> {
    let d: routerd_config::types::GoDuration = text.parse().map_err(|e: String| {
        error(
            StatusCode::BAD_REQUEST,
            format!("--for `{text}`: {e} (like 30s, 10m, 1h)"),
        )
    })?;
    if d.0.is_zero() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "--for must be longer than 0s",
        ));
    }
    Ok(d.0)
}

/// Serializes writers of the file within this process.
static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn change(
    rt: &Runtime,
    service: &str,
    backend: &str,
    drain: Option<Drain>,
) -> Result<(Drains, bool), DrainError> {
    let _guard = WRITE.lock().map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the drain list lock is poisoned",
        )
    })?;
    let mut drains = load(&rt.options.state_dir, now_ms());
    let k = key(service, backend);
    let changed = match drain {
        Some(d) => drains.insert(k, d.clone()) != Some(d),
        None => drains.remove(&k).is_some(),
    };
    if changed {
        save(&rt.options.state_dir, &drains).map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write {}: {e}", FILE),
            )
        })?;
    }
    Ok((drains, changed))
}

async fn post_drain(State(rt): State<Arc<Runtime>>, Json(req): Json<DrainRequest>) -> Response {
    let (service, backend) = match resolve(&rt, &req.backend) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let now = now_ms();
    let until = match req.r#for.as_deref().map(parse_for).transpose() {
        Ok(d) => d.map(|d| now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
        Err(r) => return r.into_response(),
    };
    let drain = Drain {
        since_unix_ms: now,
        until_unix_ms: until,
    };
    let (drains, _) = match change(&rt, &service, &backend, Some(drain)) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let message = match &req.r#for {
        Some(f) => format!("{backend} drained for {f}: no new connections; open ones continue"),
        None => {
            format!("{backend} drained until undrained: no new connections; open ones continue")
        }
    };
    rt.bus.publish(
        NewEvent::new(
            format!("{TOPIC_PREFIX}.{service}.drained"),
            "BackendDrained",
        )
        .resource(format!("IngressService/{service}"))
        .message(message.clone())
        .attr("backend", backend.clone())
        .attr("untilUnixMs", until),
    );
    Json(json!({ "drained": key(&service, &backend), "untilUnixMs": until, "message": message, "drains": drains }))
        .into_response()
}

async fn post_undrain(State(rt): State<Arc<Runtime>>, Json(req): Json<DrainRequest>) -> Response {
    let (service, backend) = match resolve(&rt, &req.backend) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let (drains, changed) = match change(&rt, &service, &backend, None) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let message = if changed {
        format!("{backend} undrained: it takes new connections again while healthy")
    } else {
        format!("{backend} was not drained")
    };
    if changed {
        rt.bus.publish(
            NewEvent::new(
                format!("{TOPIC_PREFIX}.{service}.undrained"),
                "BackendUndrained",
            )
            .resource(format!("IngressService/{service}"))
            .message(message.clone())
            .attr("backend", backend.clone()),
        );
    }
    Json(json!({ "undrained": key(&service, &backend), "changed": changed, "message": message, "drains": drains }))
        .into_response()
}

async fn get_drains(State(rt): State<Arc<Runtime>>) -> Response {
    Json(json!({ "drains": load(&rt.options.state_dir, now_ms()) })).into_response()
}

/// The drain routes of routerd's API.
pub fn routes() -> Router<Arc<Runtime>> {
    Router::new()
        .route("/v1/ingress/drains", get(get_drains))
        .route("/v1/ingress/drain", post(post_drain))
        .route("/v1/ingress/undrain", post(post_undrain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_both_spellings() {
        assert_eq!(
            parse_target("IngressService/web/b1"),
            Some(("web".into(), "b1".into()))
        );
        assert_eq!(parse_target("web/b1"), Some(("web".into(), "b1".into())));
        assert_eq!(parse_target("web"), None);
        assert_eq!(parse_target("web/"), None);
        assert_eq!(parse_target("a/b/c"), None);
    }

    #[test]
    fn drains_persist_and_end_by_themselves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Drains::new();
        d.insert(
            key("web", "b1"),
            Drain {
                since_unix_ms: 1,
                until_unix_ms: None,
            },
        );
        d.insert(
            key("web", "b2"),
            Drain {
                since_unix_ms: 1,
                until_unix_ms: Some(1000),
            },
        );
        save(dir.path(), &d).expect("save");
        assert_eq!(load(dir.path(), 999).len(), 2);
        let later = load(dir.path(), 1000);
        assert_eq!(
            later.keys().collect::<Vec<_>>(),
            ["web/b1"],
            "b2's drain ended"
        );
        std::fs::write(dir.path().join(FILE), "not json").expect("write");
        assert!(
            load(dir.path(), 0).is_empty(),
            "a broken file drains nothing"
        );
    }
}
