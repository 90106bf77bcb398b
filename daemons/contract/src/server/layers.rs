//! What every contract server puts around its routes: a tracing span per request,
//! JSON errors, a body limit and a JSON 404.

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, Uri, header};
use opentelemetry::trace::TraceContextExt;
use serde_json::json;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::extract_context;

/// Largest request body any contract endpoint accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of a non-JSON error body is kept when it is rewrapped as JSON.
const MAX_ERROR_TEXT: usize = 64 * 1024;

/// Wraps a (merged) router in the contract's shared behaviour: an `http.request`
/// tracing span joined to the caller's `traceparent`, JSON bodies for every error
/// (including axum's own rejections and 405s), the body limit, and a JSON 404 fallback.
///
/// [`serve`](super::serve) calls this; use it directly only when serving some other way.
pub fn contract_layers(router: Router) -> Router {
    router
        .fallback(not_found)
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(trace_request))
}

/// A JSON error response: `{"error": message}`.
pub(crate) fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]; a longer one is a JSON 413,
/// refused from its `Content-Length` alone when it announces one, without reading it.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, Response> {
    let announced = body.size_hint().lower();
    if announced > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            let over_limit =
                std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if over_limit {
                too_large()
            } else {
                json_error(
                    StatusCode::BAD_REQUEST,
                    format!("reading request body: {error}"),
                )
            }
        })
}

fn too_large() -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

async fn not_found(uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
}

async fn trace_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
    );
    let parent = extract_context(request.headers());
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled by the filter; then there is nothing to join.
        let _ = span.set_parent(parent);
    }
    async move {
        let response = next.run(request).await;
        tracing::Span::current().record("status", response.status().as_u16());
        tracing::debug!(status = response.status().as_u16(), "request handled");
        response
    }
    .instrument(span)
    .await
}

/// Rewrites any non-JSON error response (axum's rejections are plain text, its 405 is
/// empty) as `{"error": ...}`, keeping status and headers such as `Allow`.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        method_not_allowed(&method, &path, parts.headers.get(header::ALLOW))
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut rewritten = json_error(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name, value.clone());
        }
    }
    rewritten
}

fn method_not_allowed(method: &Method, path: &str, allow: Option<&HeaderValue>) -> String {
    match allow.and_then(|v| v.to_str().ok()) {
        Some(allowed) => format!("method {method} is not allowed on {path} (allowed: {allowed})"),
        None => format!("method {method} is not allowed on {path}"),
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
