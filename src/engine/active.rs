//! [`ActiveJob`]: a job fetched by a [`ManualWorker`](super::ManualWorker), with the lock it
//! holds, and the moves that finish it.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::ack::FailOutcome;
use super::lease::{Lease, Taken};
use super::Engine;
use crate::error::{Error, Result};
use crate::job::{epoch_ms, Job, JobError};

/// A job fetched for processing, locked under the token it was fetched with until one of the
/// moves below finishes it (or the lock expires and the stalled check takes it back). Reads as
/// the [`Job`] it holds.
pub struct ActiveJob {
    job: Job,
    lease: Lease,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for ActiveJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveJob").field("job", &self.job).field("token", &self.lease.token()).finish()
    }
}

impl Deref for ActiveJob {
    type Target = Job;
    fn deref(&self) -> &Job {
        &self.job
    }
}

impl ActiveJob {
    pub(super) fn new(taken: Taken, engine: Arc<Engine>) -> Self {
        ActiveJob { job: taken.job, lease: taken.lease, engine }
    }

    /// The job.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The job, letting go of the handle (the lock stays in Redis until it expires).
    pub fn into_job(self) -> Job {
        self.job
    }

    /// The lock token the job is held under.
    pub fn token(&self) -> &str {
        self.lease.token()
    }

    /// Completes the job with `returnvalue` (stored as JSON; `()` is `null`). With `fetch_next`
    /// the next job is fetched in the same call and returned, locked with the same token.
    pub async fn move_to_completed(&self, returnvalue: impl Serialize, fetch_next: bool) -> Result<Option<ActiveJob>> {
        let value = serde_json::to_value(returnvalue).map_err(|source| Error::Serialize {
            what: "returnvalue",
            job_id: Some(self.job.id.clone()),
            source,
        })?;
        let next = self.engine.complete(&self.job, &self.lease, &value, fetch_next).await?;
        Ok(next.map(|t| ActiveJob::new(t, self.engine.clone())))
    }

    /// Fails the job: retried after its backoff when attempts are left and the error is
    /// recoverable, otherwise failed for good (PROTOCOL.md §19). Where it failed is appended to
    /// the job's `stacktrace`, kept to `stack_trace_limit`. With `fetch_next` a final failure
    /// fetches the next job in the same call.
    pub async fn move_to_failed(&self, err: &JobError, fetch_next: bool) -> Result<FailOutcome<ActiveJob>> {
        Ok(match self.engine.fail(&self.job, &self.lease, err, fetch_next).await? {
            FailOutcome::Retried { delay } => FailOutcome::Retried { delay },
            FailOutcome::Failed { next } => {
                FailOutcome::Failed { next: next.map(|t| Box::new(ActiveJob::new(*t, self.engine.clone()))) }
            }
        })
    }

    /// Moves the job to delayed until `until` without counting an attempt (the processor asked
    /// to run later).
    pub async fn move_to_delayed(&self, until: SystemTime) -> Result<()> {
        let delay = Duration::from_millis(epoch_ms(until).saturating_sub(crate::clock::now_ms()));
        self.engine.delay(&self.job, &self.lease, delay).await
    }

    /// Puts the job back at the front of the line without counting an attempt (a processor that
    /// hit a rate limit). Returns what is left of the queue's rate limit (zero: none).
    pub async fn move_to_wait(&self) -> Result<Duration> {
        self.engine.move_to_wait(&self.job, &self.lease).await
    }

    /// Makes the job wait for its children (Node's `moveToWaitingChildren`): when a child is
    /// still pending (`child_key`, a full child job key, or any child when `None`), the job
    /// leaves active for waiting-children and its lock is released; the last child to finish
    /// moves it on. Returns false, leaving the job active, when nothing is pending.
    pub async fn move_to_waiting_children(&self, child_key: Option<&str>) -> Result<bool> {
        self.engine.move_to_waiting_children(&self.job, &self.lease, child_key).await
    }

    /// Renews the job's lock for `duration`. False when the lock is no longer ours.
    pub async fn extend_lock(&self, duration: Duration) -> Result<bool> {
        self.engine.extend_lock(&self.job, &self.lease, duration).await
    }

    /// Reports progress (a number or any JSON object): stored, and a `progress` event.
    pub async fn update_progress(&mut self, progress: impl Serialize) -> Result<()> {
        self.job.progress = self.engine.queue_of(&self.job).update_job_progress(&self.job.id, progress).await?;
        Ok(())
    }

    /// Appends a line to the job's log (kept to its `keep_logs`); returns the log's length.
    pub async fn log(&self, line: &str) -> Result<u64> {
        self.engine.queue_of(&self.job).add_job_log(&self.job.id, line, self.job.opts.keep_logs).await
    }
}
