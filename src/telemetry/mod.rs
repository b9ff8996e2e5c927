//! Telemetry: `tracing` spans named and attributed as Node BullMQ names its OpenTelemetry spans,
//! and (feature `metrics`) BullMQ's job counters and duration histogram.
//!
//! The library only *emits*: it never installs a subscriber, a tracer provider, a propagator or
//! a metrics recorder. Without a subscriber every span here is a no-op.
//!
//! Spans (the `tracing` name is the BullMQ operation; `otel.name` carries Node's full span name
//! and `otel.kind` its span kind, which `tracing-opentelemetry` turns into the real ones):
//!
//! | `tracing` name | `otel.name` | kind | when |
//! |---|---|---|---|
//! | `add` | `add <queue>.<job name>` | producer | [`Queue::add`](crate::Queue::add) |
//! | `addBulk` | `addBulk <queue>` | producer | [`Queue::add_bulk`](crate::Queue::add_bulk) |
//! | `process` | `process <queue>` | consumer | one per job run by a [`Worker`](crate::Worker); [`process_span`] for manual processing |
//! | `extendLocks` | `extendLocks <queue>` | internal | each lock renewal |
//! | `moveStalledJobsToWait` | `moveStalledJobsToWait <queue>` | internal | each stalled check |
//!
//! Attributes use BullMQ's names (`bullmq.queue.name`, `bullmq.job.id`, ... see [`attr`]).
//!
//! Feature `otel`: trace context travels in the job's `tm` option as Node's `bullmq-otel` does
//! it: the producer injects the context of its `add` span through the *global* OpenTelemetry
//! text-map propagator into a string map stored as JSON, and the consumer extracts it and parents
//! its `process` span on it. A trace started in Node continues in a Rust worker and the other
//! way round. As in Node, the application sets up the propagator (for W3C trace context, the one
//! Node registers by default: `opentelemetry::global::set_text_map_propagator(
//! opentelemetry_sdk::propagation::TraceContextPropagator::new())`) and a
//! `tracing_opentelemetry` layer; without them nothing is written to `tm`.

mod metrics;
mod propagate;
mod spans;

#[cfg(feature = "metrics")]
pub use self::metrics::names as metric_names;
#[cfg(feature = "metrics")]
pub(crate) use self::metrics::record_queue_jobs;
pub(crate) use self::metrics::{record_job, JobMetric};
pub use spans::process_span;
pub(crate) use spans::{instrument_job, stalled_check, traced_add, traced_add_bulk, traced_extend_locks};

/// BullMQ's span attribute names, used as `tracing` field names.
pub mod attr {
    /// The queue name.
    pub const QUEUE_NAME: &str = "bullmq.queue.name";
    /// The operation (`add`, `process`, `extendLocks`, ...).
    pub const QUEUE_OPERATION: &str = "bullmq.queue.operation";
    /// The job name.
    pub const JOB_NAME: &str = "bullmq.job.name";
    /// The job id.
    pub const JOB_ID: &str = "bullmq.job.id";
    /// Attempts made once the run is over.
    pub const JOB_ATTEMPTS_MADE: &str = "bullmq.job.attempts.made";
    /// The job's `processedOn` (ms).
    pub const JOB_PROCESSED_TIMESTAMP: &str = "bullmq.job.processed.timestamp";
    /// When the run ended (ms).
    pub const JOB_ATTEMPT_FINISHED_TIMESTAMP: &str = "bullmq.job.attempt_finished_timestamp";
    /// The return value as JSON (on the `job completed` event).
    pub const JOB_RESULT: &str = "bullmq.job.result";
    /// The error message (on the `job failed` event).
    pub const JOB_FAILED_REASON: &str = "bullmq.job.failed.reason";
    /// The job state a metric was recorded for.
    pub const JOB_STATE: &str = "bullmq.job.state";
    /// Number of jobs of a bulk add.
    pub const BULK_COUNT: &str = "bullmq.job.bulk.count";
    /// Names of the jobs of a bulk add.
    pub const BULK_NAMES: &str = "bullmq.job.bulk.names";
    /// The worker name, when it has one.
    pub const WORKER_NAME: &str = "bullmq.worker.name";
    /// The ids whose locks a renewal extends.
    pub const WORKER_JOBS_TO_EXTEND_LOCKS: &str = "bullmq.worker.jobs.to.extend.locks";
    /// The ids a stalled check moved back to wait.
    pub const WORKER_STALLED_JOBS: &str = "bullmq.worker.stalled.jobs";
}
