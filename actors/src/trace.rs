//! One span per actor message, so every step the control plane takes shows
//! up in a trace with the actor, the message and the resource it concerns.
//!
//! ractor already carries the sender's span along with each message; the
//! handler's span is opened as its child, which is what joins a request to
//! everything it caused into one trace.

use tracing::Span;

/// Describes a message for tracing.
pub trait Traced {
    /// Short message name, e.g. `Reconcile`.
    fn name(&self) -> &'static str;
    /// The resource the message is about (`Kind/name`), if any.
    fn resource(&self) -> Option<String> {
        None
    }
}

/// The span a message is handled in.
pub fn message_span(actor: &str, message: &impl Traced) -> Span {
    let resource = message.resource().unwrap_or_default();
    tracing::info_span!(
        "actor.message",
        otel.name = format!("{actor} {}", message.name()),
        actor = actor,
        message = message.name(),
        resource = resource.as_str(),
    )
}

/// The span an actor starts (or restarts) in.
pub fn start_span(actor: &str) -> Span {
    tracing::info_span!(
        "actor.start",
        otel.name = format!("{actor} start"),
        actor = actor,
        message = "start",
    )
}
