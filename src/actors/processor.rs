//! The processor contract: an async function of the job and a context, returning an outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::ActorRef;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::events::{EventBus, WorkerEvent};
use super::job_actor::JobMsg;
use crate::job::Job;
use crate::manual::JobError;

/// What a processor asks for when it returns normally.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done, with this return value (`Value::Null` for none).
    Completed(Value),
    /// Run again after this many ms, without using an attempt.
    Delay(u64),
    /// Rate-limit the queue for this many ms and put the job back in front, without using an
    /// attempt (BullMQ's manual rate limit).
    RateLimit(u64),
    /// Put the job back to waiting, without using an attempt.
    Wait,
    /// Wait for the job's children (flows): the job moves to waiting-children and runs again
    /// once the last child finished, without using an attempt. When no child is pending any
    /// more it goes straight back to waiting, so the processor runs again and finds them done.
    WaitingChildren,
}

/// What the processor gets besides the job.
#[derive(Clone)]
pub struct JobContext {
    /// Cancelled when the job is cancelled (by a user, a lost lock or shutdown). Check it at
    /// safe points; a processor that ignores it is aborted after the grace period.
    pub cancel: CancellationToken,
    /// The lock token the job is held under.
    pub token: String,
    /// The job actor: send it [`JobMsg::Cancel`] to cancel this job.
    pub actor: ActorRef<JobMsg>,
    pub(crate) events: EventBus,
}

impl JobContext {
    /// Reports progress: stored on the job, a `progress` event in the queue's stream (what
    /// Node's QueueEvents sees) and a [`WorkerEvent::JobProgress`] to this worker's subscribers.
    pub async fn progress(&self, job: &mut Job, progress: impl serde::Serialize) -> crate::Result<()> {
        job.update_progress(progress).await?;
        self.events.emit(WorkerEvent::JobProgress { id: job.id.clone(), progress: job.progress.clone() });
        Ok(())
    }

    /// Appends a line to the job's log (what Node's `job.log` does); returns the log's length.
    pub async fn log(&self, job: &Job, line: &str) -> crate::Result<u64> {
        job.log(line).await
    }

    /// Replaces the job's data, in Redis and in `job`.
    pub async fn update_data(&self, job: &mut Job, data: impl serde::Serialize) -> crate::Result<()> {
        job.update_data(data).await
    }

    /// Extends the job's lock by `duration_ms` now, for a processor that knows it will block
    /// the renewer's schedule (the lock renewer extends it every `lock_renew_time` anyway).
    /// False when the lock is no longer ours: the job may be running elsewhere, so stop.
    pub async fn extend_lock(&self, job: &Job, duration_ms: u64) -> crate::Result<bool> {
        job.extend_lock(&self.token, duration_ms).await
    }
}

/// A boxed processor future.
pub type ProcessorFuture = Pin<Box<dyn Future<Output = Result<JobOutcome, JobError>> + Send>>;

/// A processor shared by all job actors of a worker.
pub type Processor = Arc<dyn Fn(Job, JobContext) -> ProcessorFuture + Send + Sync>;

/// Wraps an async closure as a [`Processor`].
pub fn processor<F, Fut>(f: F) -> Processor
where
    F: Fn(Job, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<JobOutcome, JobError>> + Send + 'static,
{
    Arc::new(move |job, ctx| Box::pin(f(job, ctx)))
}
