//! One actor per running job (temporary: never restarted; if it dies, Redis recovers the job
//! through the stalled check). It never awaits the processor in a handler: the processor runs
//! as a task bound to the actor's life and its result comes back as a message, so `Cancel` is
//! handled while the processor runs.

use std::time::Duration;

use futures_util::FutureExt;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use super::events::WorkerEvent;
use super::finisher::FinishRequest;
use super::processor::{JobContext, JobOutcome, Processor};
use super::shared::{RunState, RunningJob, Shared, Unfinished};
use super::task_guard::TaskGuard;
use crate::error::Error;
use crate::job::Job;
use crate::manual::{FailOutcome, JobError};
use crate::queue::now_ms;

/// Why a job is cancelled.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// Asked for by a user; the job fails with this text (and may be retried).
    User(String),
    /// The lock could not be renewed: another worker may run the job, so this one must not
    /// finish it.
    LockLost,
    /// The worker is shutting down; the job is left for the stalled check to recover.
    Shutdown,
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::User(s) => write!(f, "{s}"),
            CancelReason::LockLost => f.write_str("lock lost"),
            CancelReason::Shutdown => f.write_str("worker shutting down"),
        }
    }
}

/// Messages of a job actor.
pub enum JobMsg {
    /// Cancel the job.
    Cancel {
        /// Why.
        reason: CancelReason,
    },
    #[doc(hidden)]
    Done(Result<Result<JobOutcome, JobError>, String>),
    #[doc(hidden)]
    GraceExpired,
    /// Fault injection (tests): panic in the actor itself (not in the processor).
    #[doc(hidden)]
    InjectPanic,
}

/// The job is boxed here and in the state: a `Job` is over a kilobyte, and ractor moves the
/// arguments and the state several times while it starts an actor (each a memmove; together
/// they were about a tenth of the worker's CPU at concurrency 10).
pub(crate) struct JobArgs {
    pub(crate) job: Box<Job>,
    pub(crate) worker: ActorCell,
    pub(crate) shared: Arc<Shared>,
    pub(crate) processor: Processor,
    pub(crate) grace: Duration,
    pub(crate) permit: OwnedSemaphorePermit,
}

pub(crate) struct JobState {
    job: Box<Job>,
    worker: ActorCell,
    shared: Arc<Shared>,
    token: String,
    grace: Duration,
    cancel: CancellationToken,
    cancelled: Option<CancelReason>,
    task: TaskGuard,
    /// The concurrency slot; handed on with the next job when the finish fetched one.
    permit: Option<OwnedSemaphorePermit>,
    /// Dropped once the completion is with the finisher (or with the actor).
    unfinished: Option<Unfinished>,
}

pub(crate) struct JobActor;

/// Starts the actor for a job just taken, linked under the worker (`worker` is its cell), from
/// whichever task took the job: spawning here rather than through the worker's mailbox keeps
/// job starts from queueing behind one another. A job taken while the worker began closing is
/// handed back to wait instead: nothing starts after close.
pub(crate) async fn spawn_job(shared: &Arc<Shared>, worker: &ActorCell, job: Job, permit: OwnedSemaphorePermit) {
    let token = job.token.clone().unwrap_or_default();
    if *shared.run.borrow() == RunState::Closing {
        let _ = job.move_to_wait(&token).await;
        return;
    }
    let id = job.id.clone();
    let args = JobArgs {
        job: Box::new(job),
        worker: worker.clone(),
        shared: shared.clone(),
        processor: shared.processor.clone(),
        grace: shared.grace,
        permit,
    };
    if let Err(e) = Actor::spawn_linked(None, JobActor, args, worker.clone()).await {
        shared.events.emit(WorkerEvent::Error { message: format!("job {id}: {e}") });
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "processor panicked".to_owned()
    }
}

impl Actor for JobActor {
    type Msg = JobMsg;
    type State = JobState;
    type Arguments = JobArgs;

    async fn pre_start(&self, myself: ActorRef<JobMsg>, args: JobArgs) -> Result<JobState, ActorProcessingErr> {
        let token = args.job.token.clone().unwrap_or_default();
        let cancel = CancellationToken::new();
        let ctx = JobContext {
            cancel: cancel.clone(),
            token: token.clone(),
            actor: myself.clone(),
            events: args.shared.events.clone(),
        };
        // One task runs the processor (inside its consumer span) and reports its result (a
        // panic is caught and becomes a failure); aborting it (grace expired, actor gone) drops
        // the processor mid-way and reports nothing, since the actor has decided already.
        let traced = crate::telemetry::instrument_job(&args.job, (args.processor)((*args.job).clone(), ctx));
        let run = std::panic::AssertUnwindSafe(traced).catch_unwind();
        let me = myself.clone();
        let shared = args.shared.clone();
        let task = TaskGuard::new(
            tokio::spawn(async move {
                // Timed here, around the processor alone: how long this actor waited to be
                // scheduled says nothing about the job, and decides nothing.
                let began = std::time::Instant::now();
                let result = run.await.map_err(panic_message);
                shared.job_ran(began.elapsed());
                let _ = me.send_message(JobMsg::Done(result));
            })
            .abort_handle(),
        );
        // Registered before the processor can finish, so the worker always finds the entry
        // to remove when it hears this actor ended.
        args.shared.register(&args.job.id, RunningJob { token: token.clone(), actor: myself.clone() });
        args.shared.events.emit(WorkerEvent::JobActive { id: args.job.id.clone() });
        let unfinished = Some(Unfinished::new(&args.shared.unfinished));
        Ok(JobState {
            job: args.job,
            worker: args.worker,
            shared: args.shared,
            token,
            grace: args.grace,
            cancel,
            cancelled: None,
            task,
            permit: Some(args.permit),
            unfinished,
        })
    }

    async fn post_stop(&self, _myself: ActorRef<JobMsg>, state: &mut JobState) -> Result<(), ActorProcessingErr> {
        state.task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<JobMsg>,
        msg: JobMsg,
        state: &mut JobState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            JobMsg::Cancel { reason } => {
                if state.cancelled.is_none() {
                    state.cancelled = Some(reason);
                    state.cancel.cancel();
                    myself.send_after(state.grace, || JobMsg::GraceExpired);
                }
            }
            JobMsg::InjectPanic => panic!("injected panic in the job actor"),
            JobMsg::GraceExpired => {
                // The processor ignored the cancellation: abort it.
                state.task.abort();
                let reason = state.cancelled.clone().unwrap_or(CancelReason::Shutdown);
                // Boxed, as `finish` below: the handler future stays small for every message.
                Box::pin(finish_cancelled(state, &reason)).await;
                myself.stop(None);
            }
            JobMsg::Done(result) => {
                match state.cancelled.clone() {
                    Some(reason @ (CancelReason::LockLost | CancelReason::Shutdown)) => {
                        // Not ours to finish any more.
                        state.shared.events.emit(WorkerEvent::JobCancelled { id: state.job.id.clone(), reason });
                    }
                    // The processor honoured a user's cancel: it stopped with an error (or a
                    // panic). That is the cancel, not an ordinary failure; what it said is kept
                    // as the cause. (One that returned an outcome anyway, a completion say,
                    // finished its work despite the cancel: that outcome stands.)
                    Some(CancelReason::User(text)) if !matches!(result, Ok(Ok(_))) => {
                        let err = match result {
                            Ok(Err(e)) => e,
                            Err(panic) => JobError::bare(panic),
                            Ok(Ok(_)) => unreachable!("matched above"),
                        };
                        Box::pin(finish_cancelled_with(state, &text, err)).await;
                    }
                    // Boxed: the finish future is large, and ractor moves each handler future into
                    // a box of its own per message; a small handler future keeps that copy cheap.
                    _ => Box::pin(finish(state, result)).await,
                }
                myself.stop(None);
            }
        }
        Ok(())
    }
}

/// Fails the job as cancelled by a user (`job cancelled: <text>`, retried per its attempts),
/// `err` being what the processor returned, and reports the cancel.
async fn finish_cancelled_with(state: &JobState, text: &str, err: JobError) {
    let err = err.reworded(format!("job cancelled: {text}"));
    let reason = CancelReason::User(text.to_owned());
    match state.job.move_to_failed(&err, &state.token, false).await {
        Ok(_) => state.shared.events.emit(WorkerEvent::JobCancelled { id: state.job.id.clone(), reason }),
        Err(e) => report_error(state, e),
    }
}

async fn finish_cancelled(state: &JobState, reason: &CancelReason) {
    if let CancelReason::User(text) = reason {
        let err = JobError::bare(format!("job cancelled: {text}"));
        report_failure(state, state.job.move_to_failed(&err, &state.token, false).await, &err);
    }
    state.shared.events.emit(WorkerEvent::JobCancelled { id: state.job.id.clone(), reason: reason.clone() });
}

fn report_failure(state: &JobState, r: crate::Result<FailOutcome>, err: &JobError) {
    let id = state.job.id.clone();
    match r {
        Ok(FailOutcome::Retried { .. }) => {
            state.shared.events.emit(WorkerEvent::JobFailed { id, reason: err.message.clone(), retry: true })
        }
        Ok(FailOutcome::Failed { .. }) => {
            state.shared.events.emit(WorkerEvent::JobFailed { id, reason: err.message.clone(), retry: false })
        }
        Err(e) => report_error(state, e),
    }
}

fn report_error(state: &JobState, e: crate::Error) {
    if e.is_lock_lost() {
        state.shared.events.emit(WorkerEvent::LockLost { id: state.job.id.clone() });
    } else {
        state.shared.events.emit(WorkerEvent::Error { message: e.to_string() });
    }
}

async fn finish(state: &mut JobState, result: Result<Result<JobOutcome, JobError>, String>) {
    let job = &state.job;
    let token = &state.token;
    let id = job.id.clone();
    match result {
        Ok(Ok(JobOutcome::Completed(value))) => {
            // Through the worker's finisher: completions of several job actors share one call,
            // which also refills the slot this one frees (the permit travels with the request).
            let completion = match job.completion(&value, token) {
                Ok(c) => c,
                Err(e) => return report_error(state, e),
            };
            // A job fetched ahead takes the slot now, while this finish travels to Redis;
            // otherwise the slot travels with the finish, to be refilled by it.
            let mut permit = state.permit.take();
            if let Some(next) = permit.is_some().then(|| state.shared.take_buffered()).flatten() {
                let slot = permit.take().expect("checked");
                spawn_job(&state.shared, &state.worker, next, slot).await;
            }
            let (reply, answer) = oneshot::channel();
            let request = FinishRequest { completion, returnvalue: value, permit, reply };
            if state.shared.finisher.send(request).is_err() {
                return report_error(state, Error::Closed("worker"));
            }
            state.unfinished = None;
            match answer.await {
                // The finisher emitted JobCompleted already.
                Ok(Ok(())) => crate::telemetry::record_job(job, crate::telemetry::JobMetric::Completed),
                Ok(Err(e)) => report_error(state, e),
                Err(_) => report_error(state, Error::Closed("worker")),
            }
        }
        Ok(Ok(JobOutcome::Delay(ms))) => match job.move_to_delayed(now_ms() + ms, token).await {
            Ok(()) => state.shared.events.emit(WorkerEvent::JobMoved { id, to: "delayed".into() }),
            Err(e) => report_error(state, e),
        },
        Ok(Ok(JobOutcome::RateLimit(ms))) => {
            let limited = match job.queue() {
                Ok(q) => q.rate_limit(ms.max(1)).await,
                Err(e) => Err(e),
            };
            match limited.and(job.move_to_wait(token).await) {
                Ok(ttl) => {
                    // The worker takes nothing for the window (Node's worker waits out a
                    // RateLimitError): the limiter key holds only workers that have a limiter.
                    state.shared.hold_off(ttl.max(ms));
                    state.shared.events.emit(WorkerEvent::JobMoved { id, to: "waiting".into() })
                }
                Err(e) => report_error(state, e),
            }
        }
        Ok(Ok(JobOutcome::WaitingChildren)) => {
            let moved = match job.move_to_waiting_children(token, None).await {
                Ok(true) => Ok("waiting-children"),
                Ok(false) => job.move_to_wait(token).await.map(|_| "waiting"),
                Err(e) => Err(e),
            };
            match moved {
                Ok(to) => state.shared.events.emit(WorkerEvent::JobMoved { id, to: to.into() }),
                Err(e) => report_error(state, e),
            }
        }
        Ok(Ok(JobOutcome::Wait)) => match job.move_to_wait(token).await {
            Ok(_) => state.shared.events.emit(WorkerEvent::JobMoved { id, to: "waiting".into() }),
            Err(e) => report_error(state, e),
        },
        Ok(Err(err)) => report_failure(state, job.move_to_failed(&err, token, false).await, &err),
        Err(panic) => {
            let err = JobError::bare(panic);
            report_failure(state, job.move_to_failed(&err, token, false).await, &err);
        }
    }
}
