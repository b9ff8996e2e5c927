//! The spans, each created by the one function the rest of the crate calls around the work it
//! describes, so that the call sites stay one-liners.

use std::future::Future;

use tracing::field::{debug, Empty};
use tracing::{Instrument, Span};

use super::propagate::{adopt_parent, metadata_of};
use crate::clock::now_ms;
use crate::error::Result;
use crate::job::{BulkJob, Job, JobError, JobOptions, JobOutcome, Telemetry};

/// Marks `span` failed with `error` (OpenTelemetry status `ERROR`), as Node's `trace` does
/// when the traced call throws.
fn record_error(span: &Span, error: &dyn std::fmt::Display) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", tracing::field::display(error));
}

/// Runs one `Queue::add` inside its producer span. Unless the job's own options set
/// `omitContext`, the span's context replaces the job's `tm` (Node's `add` does the same,
/// dropping any metadata given by hand).
pub(crate) async fn traced_add<F, Fut>(queue: &str, job_name: &str, mut opts: JobOptions, add: F) -> Result<Job>
where
    F: FnOnce(JobOptions) -> Fut,
    Fut: Future<Output = Result<Job>>,
{
    let span = tracing::info_span!(
        "add",
        otel.name = %format_args!("add {queue}.{job_name}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        bullmq.queue.name = queue,
        bullmq.queue.operation = "add",
        bullmq.job.name = job_name,
        bullmq.job.id = Empty,
    );
    let omit = opts.telemetry.as_ref().and_then(|t| t.omit_context).unwrap_or(false);
    if !omit {
        if let Some(tm) = metadata_of(&span) {
            opts.telemetry = Some(Telemetry { metadata: Some(tm), omit_context: None });
        }
    }
    let result = add(opts).instrument(span.clone()).await;
    match &result {
        Ok(job) => {
            span.record("bullmq.job.id", job.id.as_str());
        }
        Err(e) => record_error(&span, e),
    }
    result
}

/// Runs one `Queue::add_bulk` inside its producer span. A job keeps `tm` given by hand; the
/// others get the span's context unless they set `omitContext` (Node's `addBulk` rule).
pub(crate) async fn traced_add_bulk<F, Fut>(queue: &str, mut jobs: Vec<BulkJob>, add: F) -> Result<Vec<Job>>
where
    F: FnOnce(Vec<BulkJob>) -> Fut,
    Fut: Future<Output = Result<Vec<Job>>>,
{
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let span = tracing::info_span!(
        "addBulk",
        otel.name = %format_args!("addBulk {queue}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        bullmq.queue.name = queue,
        bullmq.queue.operation = "addBulk",
        bullmq.job.bulk.names = debug(&names),
        bullmq.job.bulk.count = jobs.len(),
    );
    if let Some(tm) = metadata_of(&span) {
        for job in &mut jobs {
            let t = job.opts.telemetry.get_or_insert_with(Default::default);
            if t.metadata.is_none() && t.omit_context != Some(true) {
                t.metadata = Some(tm.clone());
            }
        }
    }
    let result = add(jobs).instrument(span.clone()).await;
    if let Err(e) = &result {
        record_error(&span, e);
    }
    result
}

/// The consumer span of one run of `job` by the worker named `worker` (if it has a name),
/// `process <queue>`, parented (feature `otel`) on the producer's context carried in the job's
/// `tm`. For manual processing: run your handling of a fetched job inside it
/// (`.instrument(process_span(&job, None))`). A [`Worker`](crate::Worker) does this for every job.
pub fn process_span(job: &Job, worker: Option<&str>) -> Span {
    let queue = job.queue_name();
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = %format_args!("process {queue}"),
        otel.kind = "consumer",
        bullmq.queue.name = queue,
        bullmq.queue.operation = "process",
        bullmq.worker.name = worker,
        bullmq.job.id = job.id.as_str(),
        bullmq.job.name = job.name.as_str(),
        bullmq.job.processed.timestamp = job.processed_on,
        bullmq.job.attempts.made = Empty,
        bullmq.job.attempt_finished_timestamp = Empty,
    );
    adopt_parent(&span, job.opts.telemetry.as_ref().and_then(|t| t.metadata.as_deref()));
    span
}

/// Runs a worker's processor future for `job` inside the job's consumer span, and records its
/// outcome there as Node does: a `job completed` event with the result or a `job failed` event
/// with the reason, then the attempts made and the finish time.
pub(crate) fn instrument_job<F>(
    job: &Job,
    worker: Option<&str>,
    run: F,
) -> impl Future<Output = F::Output> + Send + 'static
where
    F: Future<Output = std::result::Result<JobOutcome, JobError>> + Send + 'static,
{
    let span = process_span(job, worker);
    let attempts_made = job.attempts_made;
    let outer = span.clone();
    async move {
        let out = run.await;
        let span = Span::current();
        // An attempt is used by a completion or a failure, not by a delay or a push back.
        let used = match &out {
            Ok(JobOutcome::Completed(value)) => {
                tracing::info!(bullmq.job.result = %value, "job completed");
                1
            }
            Err(e) => {
                tracing::info!(bullmq.job.failed.reason = %e.message, "job failed");
                1
            }
            Ok(_) => 0,
        };
        span.record("bullmq.job.attempts.made", attempts_made + used);
        span.record("bullmq.job.attempt_finished_timestamp", now_ms());
        out
    }
    .instrument(outer)
}

/// Runs one lock renewal call of the worker named `worker` inside an `extendLocks <queue>` span
/// naming the jobs.
pub(crate) async fn traced_extend_locks<Fut: Future>(
    queue: &str,
    worker: Option<&str>,
    jobs: &[(String, String)],
    call: Fut,
) -> Fut::Output {
    let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    let span = tracing::debug_span!(
        parent: None,
        "extendLocks",
        otel.name = %format_args!("extendLocks {queue}"),
        otel.kind = "internal",
        bullmq.queue.name = queue,
        bullmq.queue.operation = "extendLocks",
        bullmq.worker.name = worker,
        bullmq.worker.jobs.to.extend.locks = debug(&ids),
    );
    call.instrument(span).await
}

/// Runs one stalled check of the worker named `worker` inside a `moveStalledJobsToWait <queue>`
/// span, recording the ids it moved and a `job stalled` event for each.
pub(crate) async fn stalled_check<Fut, E>(
    queue: &str,
    worker: Option<&str>,
    call: Fut,
) -> std::result::Result<Vec<String>, E>
where
    Fut: Future<Output = std::result::Result<Vec<String>, E>>,
    E: std::fmt::Display,
{
    let span = tracing::debug_span!(
        parent: None,
        "moveStalledJobsToWait",
        otel.name = %format_args!("moveStalledJobsToWait {queue}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        otel.status_description = Empty,
        bullmq.queue.name = queue,
        bullmq.queue.operation = "moveStalledJobsToWait",
        bullmq.worker.name = worker,
        bullmq.worker.stalled.jobs = Empty,
    );
    let result = call.instrument(span.clone()).await;
    match &result {
        Ok(ids) => {
            span.record("bullmq.worker.stalled.jobs", debug(ids));
            for id in ids {
                tracing::debug!(parent: &span, bullmq.job.id = id.as_str(), "job stalled");
            }
        }
        Err(e) => record_error(&span, e),
    }
    result
}
