//! Trace-context propagation through the job's `tm` option (feature `otel`).
//!
//! Node's `bullmq-otel` stores `JSON.stringify(carrier)` where `carrier` is the plain object that
//! `propagation.inject` filled (with the default W3C propagator: `{"traceparent": "00-…"}`), and
//! a consumer parses it and runs `propagation.extract` on it. We do the same with the global
//! propagator of the `opentelemetry` crate and a string map, so both sides read each other's
//! `tm`. Without the feature both functions do nothing.

use tracing::Span;

/// The context of `span` as `tm` text, or `None` when there is nothing to propagate (no
/// OpenTelemetry layer, no propagator, or the feature is off).
#[cfg(feature = "otel")]
pub(crate) fn metadata_of(span: &Span) -> Option<String> {
    use std::collections::HashMap;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let cx = span.context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    // Rust's W3C propagator writes an empty `tracestate`; Node's leaves it out. An empty header
    // means the same as none, so drop it and store what a Node producer stores.
    // Sorted keys: a stable text, whatever the map's order.
    let sorted: std::collections::BTreeMap<_, _> = carrier.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    if sorted.is_empty() {
        return None;
    }
    serde_json::to_string(&sorted).ok()
}

/// Without `otel` there is no context to propagate.
#[cfg(not(feature = "otel"))]
pub(crate) fn metadata_of(_span: &Span) -> Option<String> {
    None
}

/// Parents `span` (not yet entered) on the context serialised in `tm`. Text that is not a JSON
/// object of strings, or that holds no valid remote span, is ignored: the span stays a root.
#[cfg(feature = "otel")]
pub(crate) fn adopt_parent(span: &Span, tm: Option<&str>) {
    use opentelemetry::trace::TraceContextExt;
    use std::collections::HashMap;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let Some(tm) = tm else { return };
    let carrier: HashMap<String, String> = match serde_json::from_str(tm) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "ignoring job telemetry metadata that is not a JSON object of strings");
            return;
        }
    };
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    if cx.span().span_context().is_valid() {
        // Fails only without an OpenTelemetry layer, where there is nothing to parent.
        let _ = span.set_parent(cx);
    }
}

/// Without `otel` a job's `tm` is carried through untouched and never read.
#[cfg(not(feature = "otel"))]
pub(crate) fn adopt_parent(_span: &Span, _tm: Option<&str>) {}
