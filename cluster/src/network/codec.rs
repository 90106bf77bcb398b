//! openraft values in and out of `RaftPayload` (serde JSON, see cluster.proto).

use routerd_proto::v1::RaftPayload;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<RaftPayload, tonic::Status> {
    serde_json::to_vec(v)
        .map(|json| RaftPayload { json })
        .map_err(|e| tonic::Status::internal(format!("encoding: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(p: &RaftPayload) -> Result<T, tonic::Status> {
    serde_json::from_slice(&p.json)
        .map_err(|e| tonic::Status::invalid_argument(format!("decoding: {e}")))
}

/// Attaches the current span's trace context to an outgoing request.
pub(crate) fn traced<T>(msg: T) -> tonic::Request<T> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut req = tonic::Request::new(msg);
    let cx = tracing::Span::current().context();
    routerd_proto::trace::inject(&cx, req.metadata_mut());
    req
}

/// Joins the current span to the caller's trace, if the request carries one.
pub(crate) fn join_trace<T>(req: &tonic::Request<T>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = routerd_proto::trace::extract(req.metadata());
    let _ = tracing::Span::current().set_parent(cx);
}
