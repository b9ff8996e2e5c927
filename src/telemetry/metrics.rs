//! Job metrics through the `metrics` facade (feature `metrics`), with the names and labels Node
//! BullMQ 6.7 gives its OpenTelemetry meter instruments: one counter per state a job moves to
//! (`bullmq.jobs.completed`, `.failed`, `.delayed`, `.retried`, `.waiting`, `.waiting_children`)
//! and the histogram `bullmq.job.duration` (ms since the job's `processedOn`), each labelled
//! `bullmq.queue.name`, `bullmq.job.name` and `bullmq.job.state`; plus the gauge
//! `bullmq.queue.jobs` written by [`Queue::record_job_counts_metric`](crate::Queue). Nothing is
//! recorded until the application installs a recorder. Without the feature, [`record_job`]
//! compiles to nothing.

use crate::job::Job;

/// A state a job was moved to, as BullMQ's metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobMetric {
    Completed,
    Failed,
    Delayed,
    Retried,
    Waiting,
}

/// Counts `job` moving to `state` and, when it has a `processedOn`, records how long it has
/// been processed (Node records both on every such move).
#[cfg(feature = "metrics")]
pub(crate) fn record_job(job: &Job, state: JobMetric) {
    let (counter, label) = match state {
        JobMetric::Completed => (names::JOBS_COMPLETED, "completed"),
        JobMetric::Failed => (names::JOBS_FAILED, "failed"),
        JobMetric::Delayed => (names::JOBS_DELAYED, "delayed"),
        JobMetric::Retried => (names::JOBS_RETRIED, "retried"),
        JobMetric::Waiting => (names::JOBS_WAITING, "waiting"),
    };
    let queue = job.queue_name().to_owned();
    let labels = [
        (super::attr::QUEUE_NAME, queue),
        (super::attr::JOB_NAME, job.name.clone()),
        (super::attr::JOB_STATE, label.to_owned()),
    ];
    metrics::counter!(counter, &labels).increment(1);
    if let Some(processed_on) = job.processed_on {
        let ms = crate::clock::now_ms().saturating_sub(processed_on);
        metrics::histogram!(names::JOB_DURATION, &labels).record(ms as f64);
    }
}

/// Without the feature there is nothing to record.
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn record_job(_job: &Job, _state: JobMetric) {}

/// BullMQ's metric names.
#[cfg(feature = "metrics")]
pub mod names {
    /// Counter: jobs completed.
    pub const JOBS_COMPLETED: &str = "bullmq.jobs.completed";
    /// Counter: jobs failed for good.
    pub const JOBS_FAILED: &str = "bullmq.jobs.failed";
    /// Counter: jobs moved to delayed (a retry with backoff, or a processor asking to wait).
    pub const JOBS_DELAYED: &str = "bullmq.jobs.delayed";
    /// Counter: jobs retried at once.
    pub const JOBS_RETRIED: &str = "bullmq.jobs.retried";
    /// Counter: jobs moved back to waiting.
    pub const JOBS_WAITING: &str = "bullmq.jobs.waiting";
    /// Counter: jobs moved to waiting-children (name reserved; flows are not built yet).
    pub const JOBS_WAITING_CHILDREN: &str = "bullmq.jobs.waiting_children";
    /// Histogram, ms: time from `processedOn` to the move.
    pub const JOB_DURATION: &str = "bullmq.job.duration";
    /// Gauge: jobs in the queue, labelled by state (`bullmq.queue.jobs.state`).
    pub const QUEUE_JOBS: &str = "bullmq.queue.jobs";
}

/// Records `counts` of queue `queue` as the gauge `bullmq.queue.jobs`, labelled
/// `bullmq.queue.name` and `bullmq.queue.jobs.state` (Node's `recordJobCountsMetric`).
#[cfg(feature = "metrics")]
pub(crate) fn record_queue_jobs(queue: &str, counts: &std::collections::HashMap<crate::job::JobState, u64>) {
    for (state, n) in counts {
        let labels = [("bullmq.queue.name", queue.to_owned()), ("bullmq.queue.jobs.state", state.as_str().to_owned())];
        metrics::gauge!(names::QUEUE_JOBS, &labels).set(*n as f64);
    }
}
