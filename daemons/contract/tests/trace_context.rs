//! A request carrying `traceparent` is served inside a span of the caller's trace.

mod common;

use std::sync::{Arc, Mutex};

use common::{Harness, raw, request, wait_until};
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Recorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("recorder lock").extend(batch);
        Ok(())
    }
}

// Current-thread runtime: the thread-local subscriber below sees the server's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn server_span_joins_the_callers_trace() {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let recorder = Recorder::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(recorder.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::start().await;
    let traceparent = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n";
    let r = raw(&h.socket, &request("GET", "/v1/healthz", traceparent, b"")).await;
    assert_eq!(r.status, 200);

    wait_until("the request span to be exported", || {
        recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.name == "http.request")
    })
    .await;
    let spans = recorder.0.lock().unwrap().clone();
    let span = spans.iter().find(|s| s.name == "http.request").unwrap();
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    h.stop().await.unwrap();
}
