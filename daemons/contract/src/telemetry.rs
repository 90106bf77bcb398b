//! Logging and tracing setup shared by every routerd process, and W3C trace-context
//! propagation over the contract's HTTP calls.

use std::io::IsTerminal;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable that switches OTLP export on; its value is the collector's gRPC endpoint.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the span exporter alive; flushes and shuts it down when dropped.
///
/// Hold it in `main` for the life of the process.
#[must_use = "dropping the guard shuts the span exporter down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    export: Option<Export>,
}

/// The OTLP pipeline: the tracer provider and the runtime its gRPC channel lives on.
#[derive(Debug)]
struct Export {
    provider: SdkTracerProvider,
    runtime: ExportRuntime,
}

impl TelemetryGuard {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(export) = self.export.take() {
            export.shutdown();
        }
    }
}

impl Export {
    fn shutdown(self) {
        // Flushing needs the export runtime, so it is stopped only afterwards.
        if let Err(e) = self.provider.force_flush() {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: shutting the span exporter down failed: {e}");
        }
        self.runtime.stop();
    }
}

/// A one-thread Tokio runtime dedicated to the exporter's gRPC channel.
///
/// The SDK's batch processor exports from its own thread and blocks on the channel;
/// if the channel lived on the daemon's runtime, a current-thread daemon flushing at
/// exit would wait on itself. Its own runtime also lets `init` run outside any runtime.
#[derive(Debug)]
struct ExportRuntime {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ExportRuntime {
    fn start() -> std::io::Result<ExportRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("otlp-export".to_string())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(ExportRuntime {
            handle,
            stop,
            thread,
        })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Installs the process's tracing subscriber: `RUST_LOG` filter (default `info`),
/// compact logs on stderr and, only when [`OTLP_ENDPOINT_ENV`] is set, OTLP span export.
///
/// Safe to call more than once (tests): later calls leave the first subscriber in place.
pub fn init(service_name: &str) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: under routerd or systemd stderr goes to a log.
    let fmt = tracing_subscriber::fmt::layer()
        .compact()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);

    let endpoint = std::env::var(OTLP_ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    // Problems are reported after the subscriber is installed, so they are not lost.
    let (export, problem) = match endpoint {
        None => (None, None),
        Some(_) => match otlp_export(service_name) {
            Ok(export) => (Some(export), None),
            Err(why) => (None, Some(why)),
        },
    };
    let otel_layer = export.as_ref().map(|export| {
        tracing_opentelemetry::layer().with_tracer(export.provider.tracer(service_name.to_string()))
    });

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel_layer)
        .try_init()
        .is_ok();
    if let Some(why) = problem {
        tracing::warn!("OTLP span export disabled: {why}");
    }
    match export {
        Some(export) if installed => {
            global::set_tracer_provider(export.provider.clone());
            tracing::info!(service = service_name, "exporting spans over OTLP");
            TelemetryGuard {
                export: Some(export),
            }
        }
        // Another subscriber was installed first: our layer is not in use.
        Some(export) => {
            export.shutdown();
            TelemetryGuard { export: None }
        }
        None => TelemetryGuard { export: None },
    }
}

fn otlp_export(service_name: &str) -> Result<Export, String> {
    let runtime = ExportRuntime::start().map_err(|e| format!("starting its runtime: {e}"))?;
    // The channel spawns its connection worker on the runtime current at build time.
    let built = {
        let _enter = runtime.handle.enter();
        // Endpoint, headers and timeouts come from the OTEL_EXPORTER_OTLP_* variables.
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
    };
    let exporter = match built {
        Ok(exporter) => exporter,
        Err(e) => {
            runtime.stop();
            return Err(e.to_string());
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_string())
                .build(),
        )
        .build();
    Ok(Export { provider, runtime })
}

/// Writes the current span's trace context into `headers` as `traceparent`.
///
/// Writes nothing when the span has no OpenTelemetry context (export off).
pub fn inject_context(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

/// Reads a remote trace context (`traceparent`) from `headers`.
pub fn extract_context(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn init_twice_does_not_panic() {
        let first = init("contract-test");
        let second = init("contract-test");
        assert!(!second.exporting());
        drop((first, second));
    }

    #[test]
    fn otlp_pipeline_starts_and_stops_without_a_runtime() {
        // The channel connects lazily and an empty batch is never sent: no network.
        let export = otlp_export("contract-test").unwrap();
        export.shutdown();
    }

    #[test]
    fn extract_reads_traceparent() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(PARENT));
        let cx = extract_context(&headers);
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!extract_context(&HeaderMap::new()).has_active_span());
    }

    #[test]
    fn a_span_joined_to_a_remote_parent_propagates_its_trace() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut incoming = HeaderMap::new();
            incoming.insert("traceparent", HeaderValue::from_static(PARENT));
            let span = tracing::info_span!("http.request");
            span.set_parent(extract_context(&incoming)).unwrap();
            let _entered = span.enter();

            let mut outgoing = HeaderMap::new();
            inject_context(&mut outgoing);
            let traceparent = outgoing["traceparent"].to_str().unwrap();
            assert!(
                traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{traceparent}"
            );
            assert!(!traceparent.contains("00f067aa0ba902b7"), "a new span id");
        });
    }

    #[test]
    fn inject_without_otel_writes_nothing() {
        let mut headers = HeaderMap::new();
        inject_context(&mut headers);
        assert!(headers.get("traceparent").is_none());
    }
}
