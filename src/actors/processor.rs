//! The processor contract: an async function of the job and a context, returning an outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;

use tokio_util::sync::CancellationToken;

use super::events::{EventBus, WorkerEvent};
use super::job_msg::{CancelReason, JobMsg};
use crate::engine::{Engine, Lease};
use crate::job::{Job, JobError, JobOutcome};

/// What the processor gets besides the job: its cancellation, its actor, and what a processor
/// may do to its job while it runs (progress, logs, data, lock extension).
#[derive(Clone)]
pub struct JobContext {
    /// Cancelled when the job is cancelled (by a user, a lost lock or shutdown). Check it at
    /// safe points; a processor that ignores it is aborted after the grace period.
    pub cancel: CancellationToken,
    /// The job actor: send it [`JobMsg::Cancel`] to cancel this job.
    pub actor: ActorRef<JobMsg>,
    lease: Lease,
    engine: Arc<Engine>,
    events: EventBus,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext").field("actor", &self.actor.get_id()).finish_non_exhaustive()
    }
}

impl JobContext {
    pub(crate) fn new(
        cancel: CancellationToken,
        actor: ActorRef<JobMsg>,
        lease: Lease,
        engine: Arc<Engine>,
        events: EventBus,
    ) -> Self {
        JobContext { cancel, actor, lease, engine, events }
    }

    /// The name of the worker's queue (a fair group's worker: the group's name; the queue a
    /// job came from is [`Job::queue_name`](crate::Job::queue_name)).
    pub fn queue_name(&self) -> &str {
        self.engine.queue().name()
    }

    /// The lock token the job is held under.
    pub fn token(&self) -> &str {
        self.lease.token()
    }

    /// Reports progress: stored on the job, a `progress` event in the queue's stream (what
    /// Node's QueueEvents sees) and a [`WorkerEvent::JobProgress`] to this worker's subscribers.
    pub async fn progress(&self, job: &mut Job, progress: impl serde::Serialize) -> crate::Result<()> {
        job.progress = self.engine.queue_of(job).update_job_progress(&job.id, progress).await?;
        self.events.emit(WorkerEvent::JobProgress { id: job.id.clone(), progress: job.progress.clone() });
        Ok(())
    }

    /// Appends a line to the job's log (kept to its `keep_logs`); returns the log's length.
    pub async fn log(&self, job: &Job, line: &str) -> crate::Result<u64> {
        self.engine.queue_of(job).add_job_log(&job.id, line, job.opts.keep_logs).await
    }

    /// What the job's completed children returned, by child key (a parent of a flow reads its
    /// children's results here). A parent released by its children got them with the take (no
    /// call to Redis): the values as they were when it was taken.
    pub async fn get_children_values(
        &self,
        job: &Job,
    ) -> crate::Result<std::collections::HashMap<String, serde_json::Value>> {
        if let Some(values) = job.taken_children_values() {
            return Ok(values);
        }
        self.engine.queue_of(job).get_children_values(&job.id).await
    }

    /// Cancels this job with [`CancelReason::Timeout`] once `after` has passed from now (a
    /// router sets its topic's timeout this way): the processor sees `cancel`, is aborted after
    /// the grace if it goes on, and the job fails with `job timed out after <ms> ms`.
    pub fn set_timeout(&self, after: Duration) {
        self.actor.send_after(after, move || JobMsg::Cancel { reason: CancelReason::Timeout(after) });
    }

    /// Replaces the job's data, in Redis and in `job`.
    pub async fn update_data(&self, job: &mut Job, data: impl serde::Serialize) -> crate::Result<()> {
        job.data = self.engine.queue_of(job).update_job_data(&job.id, data).await?;
        Ok(())
    }

    /// Extends the job's lock by `duration` now, for a processor that knows it will hold up the
    /// renewer's schedule (the lock renewer extends it every `lock_renew_time` anyway). False
    /// when the lock is no longer ours: the job may be running elsewhere, so stop.
    pub async fn extend_lock(&self, job: &Job, duration: Duration) -> crate::Result<bool> {
        self.engine.extend_lock(job, &self.lease, duration).await
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

/// Wraps a synchronous closure that blocks its thread (`std::thread::sleep`, a synchronous
/// client, file or CPU-heavy work without a yield) as a [`Processor`]: each run goes to tokio's
/// blocking pool (`spawn_blocking`), so the worker's runtime threads stay free for the fetcher,
/// the acknowledgements and other jobs. (Lock renewal and the stalled check run on a thread of
/// their own either way, so a blocking closure passed to [`processor`] does not lose its locks;
/// it only takes runtime threads from everything else.)
///
/// A blocking run cannot be aborted: after a cancel's grace the job is given up, but the closure
/// runs on until it returns. Check `ctx.cancel.is_cancelled()` at safe points, and reach the
/// context's async methods with `tokio::runtime::Handle::current().block_on(..)`.
///
/// ```
/// use bullmq::{blocking_processor, JobOutcome};
///
/// let p = blocking_processor(|job, ctx| {
///     for _ in 0..10 {
///         if ctx.cancel.is_cancelled() {
///             return Err(bullmq::JobError::new("cancelled"));
///         }
///         std::thread::sleep(std::time::Duration::from_millis(10)); // blocking work
///     }
///     Ok(JobOutcome::Completed(job.data))
/// });
/// # drop(p);
/// ```
pub fn blocking_processor<F>(f: F) -> Processor
where
    F: Fn(Job, JobContext) -> Result<JobOutcome, JobError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |job, ctx| {
        let f = f.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || f(job, ctx)).await {
                Ok(result) => result,
                // A panic in the closure is the job's panic (the job actor turns it into a
                // failure); a cancelled blocking task only happens at runtime shutdown.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(JobError::new(format!("blocking run ended: {e}"))),
            }
        })
    })
}
