//! W3C trace context (`traceparent`, `tracestate`) carried in gRPC metadata, so a
//! write forwarded from a follower or a Raft RPC joins the caller's trace.
//!
//! Uses the process's global propagator (installed by routerd's telemetry init);
//! without one, inject writes nothing and extract yields an empty context.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::{Context, global};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

/// Writes `cx` into a request's metadata.
pub fn inject(cx: &Context, metadata: &mut MetadataMap) {
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut MetadataInjector(metadata)));
}

/// Reads the caller's context from a request's metadata.
pub fn extract(metadata: &MetadataMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&MetadataExtractor(metadata)))
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // A key or value that is not valid metadata is dropped: tracing must never fail a call.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn traceparent_round_trips_through_metadata() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let sent = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let mut md = MetadataMap::new();
        inject(
            &Context::new().with_remote_span_context(sent.clone()),
            &mut md,
        );
        assert_eq!(
            md.get("traceparent").and_then(|v| v.to_str().ok()),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );

        let got = extract(&md);
        assert_eq!(got.span().span_context().trace_id(), sent.trace_id());
        assert_eq!(got.span().span_context().span_id(), sent.span_id());
    }
}
