//! OpenTelemetry end to end: a real OTLP/gRPC receiver runs inside the test
//! (opentelemetry-proto's service on tonic), listening inside the router's
//! namespace; routerd and its healthcheck daemon export to it. Spans must
//! arrive from every actor of the tree and from the daemon, and a call that
//! crosses from routerd into the daemon must be one trace.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, Lab, lab_config};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use routerd_lab::wait_until;

/// One received span, reduced to what the assertions need.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    attributes: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = Vec::new();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push(Span {
                        service: service.clone(),
                        name: span.name.clone(),
                        trace_id: span.trace_id.clone(),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(&a.value)))
                            .collect(),
                    });
                }
            }
        }
        if let Ok(mut spans) = self.spans.lock() {
            spans.extend(out);
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[test]
fn spans_arrive_from_every_actor_and_from_the_daemon_in_one_trace() {
    let mut lab = Lab::new("otel");
    // The receiver's socket lives in the router's namespace, so routerd
    // exports to its own loopback and nothing leaves the lab.
    let listener = lab
        .router
        .in_netns(|| std::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the receiver in the namespace");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let receiver = Receiver::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let service = TraceServiceServer::new(receiver.clone());
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });

    let config = lab.write_config("routerd.yaml", &lab_config(""));
    let endpoint = format!("http://127.0.0.1:{port}");
    lab.serve(
        Some(&config),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    lab.wait_settled();
    // A call that crosses processes: routerctl -> routerd's API -> the
    // daemon's supervisor -> routerd-healthcheck's /v1/commands/renew.
    lab.ctl(&["daemon", "command", "healthcheck-peer", "renew"]);

    let actors = [
        "RootSupervisor",
        "EventBus",
        "ConfigStore",
        "controllers",
        "KernelWatcher",
        "Controller/links",
        "Controller/addresses",
        "Controller/routes",
        "Controller/sysctls",
        "Controller/healthchecks",
        "daemon-supervisors",
        "DaemonSupervisor/healthcheck-peer",
        "ApiServer",
    ];
    let check = |spans: &[Span]| -> Result<BTreeSet<String>, String> {
        let routerd_actors: BTreeSet<String> = spans
            .iter()
            .filter(|s| s.service == "routerd")
            .filter_map(|s| s.attributes.get("actor").cloned())
            .collect();
        let missing: Vec<&str> = actors
            .iter()
            .copied()
            .filter(|a| !routerd_actors.contains(*a))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no spans yet from {missing:?}; have {routerd_actors:?}"
            ));
        }
        // The daemon's request span shares its trace with the routerd
        // actor message that made the call.
        let routerd_traces: BTreeSet<&Vec<u8>> = spans
            .iter()
            .filter(|s| {
                s.service == "routerd"
                    && s.attributes
                        .get("actor")
                        .is_some_and(|a| a.starts_with("DaemonSupervisor/"))
            })
            .map(|s| &s.trace_id)
            .collect();
        let daemon_requests = spans
            .iter()
            .filter(|s| s.service == "routerd-healthcheck" && s.name == "http.request")
            .count();
        let joined = spans
            .iter()
            .filter(|s| s.service == "routerd-healthcheck" && s.name == "http.request")
            .any(|s| routerd_traces.contains(&s.trace_id));
        if joined {
            Ok(routerd_actors)
        } else {
            Err(format!(
                "no daemon request span in a DaemonSupervisor trace ({daemon_requests} daemon request spans, {} supervisor traces)",
                routerd_traces.len()
            ))
        }
    };
    let mut last = String::new();
    let seen = wait_until(
        "spans from every actor and the daemon, joined in one trace",
        DEADLINE,
        || {
            let spans = receiver.spans.lock().ok()?.clone();
            match check(&spans) {
                Ok(seen) => Some(seen),
                Err(why) => {
                    if why != last {
                        eprintln!("{why}");
                        last = why;
                    }
                    None
                }
            }
        },
    );
    eprintln!("actors with spans: {seen:?}");
    let spans = receiver.spans.lock().expect("spans").clone();
    // Message spans carry the actor, the message and (where there is one) the resource.
    assert!(
        spans
            .iter()
            .any(|s| s.attributes.get("message").map(String::as_str) == Some("Reconcile"))
    );
    assert!(
        spans
            .iter()
            .any(|s| s.service == "routerd-healthcheck" && s.name == "probe"),
        "no probe spans from the daemon"
    );
    drop(lab);
    runtime.shutdown_timeout(Duration::from_secs(2));
}
