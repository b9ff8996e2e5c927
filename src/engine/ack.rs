//! Acknowledging a job one at a time: complete, fail (with the retry decision), fail at pickup,
//! delay, push back, wait for children, and lock extension. (Completions in batches are in
//! `batch`.) Every move shows the job's lease; Redis refuses a wrong or expired one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::lease::{Lease, Taken};
use super::{Accepted, Engine};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::job::{next_attempt, Job, JobError, KeepJobs, NextAttempt, Retention};
use crate::keys::QueueKeys;
use crate::scripts::{
    ExtendLocks, FetchReply, FinishTarget, MoveJobFromActiveToWait, MoveToDelayed, MoveToFinished,
    MoveToWaitingChildren, RetryJob,
};
use crate::telemetry::{record_job, JobMetric};

/// What a failure did.
#[derive(Debug)]
pub enum FailOutcome<J> {
    /// The job will run again after `delay` (zero: it is waiting already).
    Retried {
        /// The backoff delay.
        delay: Duration,
    },
    /// The job failed for good; `next` is the next job when one was asked for.
    Failed {
        /// The next job, locked with the same token.
        next: Option<Box<J>>,
    },
}

/// The retry decision for a failed attempt (PROTOCOL.md §19), and what the failure stores.
struct Decision {
    /// Retry after this long; `None`: fail for good.
    retry_in: Option<Duration>,
    /// The failed reason to store (an unknown backoff type replaces the error's).
    reason: String,
    /// The job's `stacktrace` with this failure appended, as JSON.
    stack_json: String,
}

/// The job's stacktrace with `entry` appended, kept to its `stack_trace_limit`, as JSON.
fn stack_with(job: &Job, entry: String) -> String {
    let mut stack = job.stacktrace.clone();
    stack.push(entry);
    if let Some(limit) = job.opts.stack_trace_limit {
        let drop = stack.len().saturating_sub(limit as usize);
        stack.drain(..drop);
    }
    serde_json::to_string(&stack).unwrap_or_else(|_| "[]".into())
}

/// One finish: job `id` (`job`, unless its hash could not be decoded) to `target` with `value`
/// (the return value JSON or the failed reason) and, for failures, the stacktrace JSON.
struct Finish<'a> {
    id: &'a str,
    job: Option<&'a Job>,
    /// The job's queue when there is no `job` to tell it (a fair group's tenant queue); none:
    /// the worker's own.
    queue: Option<Arc<QueueKeys>>,
    target: FinishTarget,
    value: &'a str,
    stacktrace: Option<&'a str>,
}

impl<'a> Finish<'a> {
    fn failed(id: &'a str, job: Option<&'a Job>, reason: &'a str, stacktrace: &'a str) -> Self {
        Finish { id, job, queue: None, target: FinishTarget::Failed, value: reason, stacktrace: Some(stacktrace) }
    }
}

impl Engine {
    /// Retention of a job finishing to `target`: its own option, else the worker's.
    pub(crate) fn retention(&self, job: Option<&Job>, target: FinishTarget) -> Retention {
        let (own, worker) = match target {
            FinishTarget::Completed => {
                (job.and_then(|j| j.opts.remove_on_complete.as_ref()), &self.opts.remove_on_complete)
            }
            FinishTarget::Failed => (job.and_then(|j| j.opts.remove_on_fail.as_ref()), &self.opts.remove_on_fail),
        };
        KeepJobs::retention(own.or(worker.as_ref()))
    }

    pub(crate) fn metrics_points(&self) -> Option<u64> {
        self.opts.metrics.map(|m| m.max_data_points)
    }

    /// One moveToFinished under `lease`; with `fetch_next` the next job comes back.
    async fn finish(&self, f: Finish<'_>, lease: &Lease, fetch_next: bool) -> Result<Option<Taken>> {
        let fetch = self.fetch_args(lease.token(), now_ms());
        let call = MoveToFinished {
            id: f.id,
            target: f.target,
            value: f.value,
            retention: self.retention(f.job, f.target),
            attempts: f.job.and_then(|j| j.opts.attempts).unwrap_or(0),
            metrics_max_data_points: self.metrics_points(),
            stacktrace: f.stacktrace,
            fetch_next,
            fetch: &fetch,
        };
        let client = match (&f.queue, f.job) {
            (Some(keys), None) => self.queue.client()?.for_queue(keys.clone()),
            _ => self.client_of(f.job)?,
        };
        match call.run(&client).await? {
            Some(next @ FetchReply::Job { .. }) | Some(next @ FetchReply::Unreadable { .. }) => {
                // Boxed: accepting may fail a job at pickup, which finishes it through here.
                match Box::pin(self.accept(next, lease.token())).await? {
                    Accepted::Job(taken) => Ok(Some(*taken)),
                    _ => Ok(None),
                }
            }
            Some(other) => {
                // No job, but what the fetch learnt (a rate limit) still counts.
                if let Accepted::Gone { id } = Box::pin(self.accept(other, lease.token())).await? {
                    tracing::warn!(job_id = %id, "skipped a job whose hash is gone");
                }
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Completes `job` with `value`; with `fetch_next` the next job comes back, locked under
    /// the same token.
    pub(crate) async fn complete(
        &self,
        job: &Job,
        lease: &Lease,
        value: &Value,
        fetch_next: bool,
    ) -> Result<Option<Taken>> {
        let text = serde_json::to_string(value).map_err(|source| Error::Serialize {
            what: "returnvalue",
            job_id: Some(job.id.clone()),
            source,
        })?;
        let f = Finish {
            id: &job.id,
            job: Some(job),
            queue: None,
            target: FinishTarget::Completed,
            value: &text,
            stacktrace: None,
        };
        let next = self.finish(f, lease, fetch_next).await?;
        record_job(job, JobMetric::Completed);
        Ok(next)
    }

    fn decide(&self, job: &Job, err: &JobError) -> Decision {
        let attempts = job.opts.attempts.unwrap_or(0) as u64;
        let started_too_often = self.opts.max_started_attempts.is_some_and(|m| job.attempts_started >= m);
        let mut reason = err.message.clone();
        let mut retry_in = None;
        if !err.unrecoverable && job.attempts_made + 1 < attempts && !started_too_often {
            let custom = self.opts.backoff_strategy.as_ref();
            match next_attempt(job.opts.backoff.as_ref(), job.attempts_made + 1, err, job, custom) {
                NextAttempt::After(d) => retry_in = Some(d),
                NextAttempt::Stop => {}
                NextAttempt::Unknown(kind) => reason = format!("Unknown backoff strategy {kind}"),
            }
        }
        Decision { retry_in, reason, stack_json: stack_with(job, err.stack_text()) }
    }

    /// Fails `job`: retried after its backoff when attempts are left and the error is
    /// recoverable, otherwise failed for good (then, with `fetch_next`, the next job comes back).
    pub(crate) async fn fail(
        &self,
        job: &Job,
        lease: &Lease,
        err: &JobError,
        fetch_next: bool,
    ) -> Result<FailOutcome<Taken>> {
        let d = self.decide(job, err);
        let client = &self.client_of(Some(job))?;
        match d.retry_in {
            Some(delay) if delay.is_zero() => {
                RetryJob {
                    id: &job.id,
                    now: now_ms(),
                    token: lease.token(),
                    lifo: job.opts.lifo,
                    failed_reason: &d.reason,
                    stacktrace: &d.stack_json,
                }
                .run(client)
                .await?;
                record_job(job, JobMetric::Retried);
                Ok(FailOutcome::Retried { delay })
            }
            Some(delay) => {
                let fetch = self.fetch_args(lease.token(), now_ms());
                MoveToDelayed {
                    id: &job.id,
                    delay,
                    skip_attempt: false,
                    failed_reason: Some(&d.reason),
                    stacktrace: Some(&d.stack_json),
                    fetch: &fetch,
                }
                .run(client)
                .await?;
                record_job(job, JobMetric::Delayed);
                Ok(FailOutcome::Retried { delay })
            }
            None => {
                let f = Finish::failed(&job.id, Some(job), &d.reason, &d.stack_json);
                let next = self.finish(f, lease, fetch_next).await?;
                record_job(job, JobMetric::Failed);
                Ok(FailOutcome::Failed { next: next.map(Box::new) })
            }
        }
    }

    /// Fails `job` at pickup, without running it and without retry (a deferred failure, or one
    /// started too often).
    pub(crate) async fn fail_at_pickup(&self, job: &Job, lease: &Lease, reason: &str) -> Result<()> {
        let stack = stack_with(job, reason.to_owned());
        self.finish(Finish::failed(&job.id, Some(job), reason, &stack), lease, false).await?;
        record_job(job, JobMetric::Failed);
        Ok(())
    }

    /// Fails job `id` of `queue` (none: the worker's own), whose hash cannot be decoded,
    /// unrecoverably, keeping it for inspection unless the worker's `remove_on_fail` says
    /// otherwise.
    pub(crate) async fn fail_corrupt(
        &self,
        id: &str,
        queue: Option<Arc<QueueKeys>>,
        lease: &Lease,
        reason: &str,
    ) -> Result<()> {
        let stack = serde_json::to_string(&[reason]).unwrap_or_else(|_| "[]".into());
        let f = Finish { queue, ..Finish::failed(id, None, reason, &stack) };
        self.finish(f, lease, false).await.map(|_| ())
    }

    /// Moves `job` to delayed for `delay` without counting an attempt (the processor asked to
    /// run later).
    pub(crate) async fn delay(&self, job: &Job, lease: &Lease, delay: Duration) -> Result<()> {
        let fetch = self.fetch_args(lease.token(), now_ms());
        let call = MoveToDelayed {
            id: &job.id,
            delay,
            skip_attempt: true,
            failed_reason: None,
            stacktrace: None,
            fetch: &fetch,
        };
        call.run(&self.client_of(Some(job))?).await?;
        record_job(job, JobMetric::Delayed);
        Ok(())
    }

    /// Puts `job` back at the front of the line without counting an attempt. Returns the rate
    /// limit still to run on the queue (zero: none).
    pub(crate) async fn move_to_wait(&self, job: &Job, lease: &Lease) -> Result<Duration> {
        let ttl =
            MoveJobFromActiveToWait { id: &job.id, token: lease.token() }.run(&self.client_of(Some(job))?).await?;
        record_job(job, JobMetric::Waiting);
        Ok(ttl)
    }

    /// Makes `job` wait for its children (`child_key`, or any); false when none is pending.
    pub(crate) async fn move_to_waiting_children(
        &self,
        job: &Job,
        lease: &Lease,
        child_key: Option<&str>,
    ) -> Result<bool> {
        let call = MoveToWaitingChildren { id: &job.id, token: lease.token(), now: now_ms(), child_key };
        call.run(&self.client_of(Some(job))?).await
    }

    /// Renews the lock of `job` held under `lease`. False when it is no longer ours.
    pub(crate) async fn extend_lock(&self, job: &Job, lease: &Lease, duration: Duration) -> Result<bool> {
        let jobs = [(job.id.clone(), lease.token().to_owned())];
        let lost = ExtendLocks { duration, jobs: &jobs }.run(&self.client_of(Some(job))?).await?;
        Ok(lost.is_empty())
    }
}
