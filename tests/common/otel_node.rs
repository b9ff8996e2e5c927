//! Running `tests/node/otel.mjs`, the Node side of the telemetry interop tests (BullMQ with
//! bullmq-otel and the OpenTelemetry Node SDK).

use serde_json::Value;

/// Runs `otel.mjs` with `args` (queue and Redis URL added) and returns its JSON reply.
pub async fn otel_node(queue: &str, args: Value) -> Value {
    super::node::node_script("otel.mjs", "bullmq", queue, args).await
}
