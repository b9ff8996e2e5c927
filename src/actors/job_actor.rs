//! One actor per running job (temporary: never restarted; if it dies, Redis recovers the job
//! through the stalled check). It never awaits the processor in a handler: the processor runs
//! as a task bound to the actor's life and its result comes back as a message, so `Cancel` is
//! handled while the processor runs. What the job's outcome does in Redis is the acker's: the
//! actor sends it the outcome and stops once it is acknowledged.

use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use ractor::ActorCell;

use super::ack::{Ack, AckKind, Pending};
use super::alone::{self, Alone};
use super::core::Core;
use super::events::WorkerEvent;
use super::flow::{RunState, Slot, Unfinished};
use super::job_msg::{CancelReason, Internal, InternalMsg, JobMsg};
use super::processor::JobContext;
use super::registry::{JobPhase, Registration, RunningJob};
use crate::clock::now_us;
use crate::engine::{Duty, Taken};
use crate::job::{JobError, JobOutcome};
use crate::supervisor::TaskGuard;

pub(crate) struct JobArgs {
    pub(crate) taken: Box<Taken>,
    pub(crate) core: Arc<Core>,
    pub(crate) slot: Slot,
    /// Set for a job running alone (see `alone`).
    pub(crate) alone: Option<Alone>,
}

pub(crate) struct JobState {
    id: String,
    /// The job and its lease, until they go to the acker. Boxed: a `Job` is over a kilobyte,
    /// and ractor moves the state while it starts an actor.
    taken: Option<Box<Taken>>,
    core: Arc<Core>,
    cancel: CancellationToken,
    cancelled: Option<CancelReason>,
    task: TaskGuard,
    /// Signalled when the processor task ended (for a shutdown that waits for it).
    ended: Arc<Notify>,
    /// The processor's result came in (the job is being, or was, acknowledged).
    done: bool,
    slot: Option<Slot>,
    unfinished: Option<Unfinished>,
    /// Held while the job runs alone: released when the actor ends.
    _alone: Option<Alone>,
    /// Shared with the lock renewer (see `JobPhase`).
    phase: Arc<JobPhase>,
    _registration: Registration,
}

pub(crate) struct JobActor;

/// Starts the actor for a job just taken, as a temporary child of the tree, from whichever task
/// took the job (no mailbox in between, so job starts do not queue behind each other). A job
/// taken while the worker began closing goes back to wait: nothing starts after close. So does
/// one taken while a job runs alone here; a job that stalled before is run alone (`alone`).
pub(crate) async fn start(core: &Arc<Core>, taken: Taken, slot: Slot) {
    if alone::is_suspect(core, &taken) {
        let core = core.clone();
        core.ack_calls.clone().spawn(async move {
            if let Some((taken, slot, alone)) = alone::wait_turn(&core, taken, slot).await {
                start_with(&core, taken, slot, Some(alone)).await;
            }
        });
        return;
    }
    if core.flow.is_isolating() {
        drop(slot);
        Box::pin(core.hand_back(taken)).await;
        return;
    }
    start_with(core, taken, slot, None).await
}

/// [`start`], for a job cleared to start (`alone`: running alone).
async fn start_with(core: &Arc<Core>, taken: Taken, slot: Slot, alone: Option<Alone>) {
    let tree = match core.flow.run_state() {
        RunState::Closing => None,
        _ => core.tree().await,
    };
    let Some(tree) = tree else {
        drop((slot, alone));
        Box::pin(core.hand_back(taken)).await;
        return;
    };
    if taken.job.repeat_job_key.is_some() {
        // The scheduler duty, now that the job is sure to run here (PROTOCOL.md §15.5).
        match Box::pin(core.engine.schedule_next(&taken.job, &taken.lease)).await {
            Ok(Duty::Run) => {}
            Ok(Duty::RunAndReport(e)) => core.events.emit(WorkerEvent::Error { message: e.to_string() }),
            Ok(Duty::HandedBack) => return,
            Err(e) => {
                // Not handed back either (Redis is away): the stalled check returns it to wait.
                core.events.emit(WorkerEvent::Error { message: format!("job {}: {e}", taken.job.id) });
                return;
            }
        }
    }
    let id = taken.job.id.clone();
    let args = JobArgs { taken: Box::new(taken), core: core.clone(), slot, alone };
    let grace = core.grace + std::time::Duration::from_secs(1);
    let started = tree
        .start_temporary(format!("job:{id}"), grace, |sup: ActorCell| async move {
            Actor::spawn_linked(None, JobActor, args, sup).await.map(|(a, _)| a.get_cell())
        })
        .await;
    if let Err(e) = started {
        core.events.emit(WorkerEvent::Error { message: format!("job {id}: {e}") });
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
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
        let core = args.core;
        let (job, lease) = (&args.taken.job, &args.taken.lease);
        let cancel = CancellationToken::new();
        let ctx =
            JobContext::new(cancel.clone(), myself.clone(), lease.clone(), core.engine.clone(), core.events.clone());
        // One task runs the processor (inside its consumer span) and reports its result (a
        // panic is caught and becomes a failure); aborting it (grace expired, actor gone) drops
        // the processor mid-way and reports nothing, since the actor has decided already.
        let worker_name = core.engine.options().name.as_deref();
        let traced = crate::telemetry::instrument_job(job, worker_name, (core.processor)(job.clone(), ctx));
        let run = std::panic::AssertUnwindSafe(traced).catch_unwind();
        let (me, flow_core, ended) = (myself.clone(), core.clone(), Arc::new(Notify::new()));
        let signal = ended.clone();
        let task = TaskGuard::new(
            tokio::spawn(async move {
                // Timed here, around the processor alone: how long this actor waited to be
                // scheduled says nothing about the job.
                let began = Instant::now();
                let result = run.await.map_err(panic_text);
                flow_core.flow.job_ran(began.elapsed());
                let _ =
                    me.send_message(JobMsg::Internal(Internal(InternalMsg::Done { result, finished_us: now_us() })));
                signal.notify_one();
            })
            .abort_handle(),
        );
        // The job's own timeout (its `timeout` option): past it, the actor cancels the job.
        if let Some(after) = job.opts.timeout {
            myself.send_after(after, move || JobMsg::Cancel { reason: CancelReason::Timeout(after) });
        }
        // Registered before the processor can finish, so the entry exists while it runs.
        let phase = Arc::new(JobPhase::default());
        let running = RunningJob {
            id: job.id.clone(),
            lease: lease.clone(),
            keys: job.queue_keys().clone(),
            actor: myself,
            phase: phase.clone(),
        };
        let registration = core.registry.register(running);
        core.events.emit(WorkerEvent::JobActive { id: job.id.clone() });
        let unfinished = Some(core.flow.unfinished_job());
        Ok(JobState {
            id: job.id.clone(),
            taken: Some(args.taken),
            core,
            cancel,
            cancelled: None,
            task,
            ended,
            done: false,
            slot: Some(args.slot),
            unfinished,
            _alone: args.alone,
            phase,
            _registration: registration,
        })
    }

    /// A stop while the processor runs (the worker shutting down) cancels it, gives it the
    /// grace to end, and leaves the job active for the stalled check: it is not acknowledged.
    async fn post_stop(&self, _myself: ActorRef<JobMsg>, state: &mut JobState) -> Result<(), ActorProcessingErr> {
        if !state.done {
            let reason = state.cancelled.get_or_insert(CancelReason::Shutdown).clone();
            state.cancel.cancel();
            let _ = tokio::time::timeout(state.core.grace, state.ended.notified()).await;
            state.core.events.emit(WorkerEvent::JobCancelled { id: state.id.clone(), reason });
        }
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
                if state.cancelled.is_none() && !state.done {
                    state.cancelled = Some(reason);
                    state.cancel.cancel();
                    myself.send_after(state.core.grace, || JobMsg::Internal(Internal(InternalMsg::GraceExpired)));
                }
            }
            JobMsg::Internal(Internal(InternalMsg::GraceExpired)) => {
                if state.done {
                    return Ok(());
                }
                // The processor ignored the cancellation: abort it.
                state.task.abort();
                state.done = true;
                let id = state.id.clone();
                let reason = state.cancelled.clone().unwrap_or(CancelReason::Shutdown);
                match reason.failure_text() {
                    Some(text) => {
                        let err = JobError::bare(text);
                        Box::pin(acknowledge(state, AckKind::Cancelled { reason, err })).await;
                    }
                    None => state.core.events.emit(WorkerEvent::JobCancelled { id, reason }),
                }
                myself.stop(None);
            }
            JobMsg::Internal(Internal(InternalMsg::Done { result, finished_us })) => {
                if state.done {
                    return Ok(());
                }
                state.done = true;
                let id = state.id.clone();
                let kind = match (state.cancelled.clone(), result) {
                    // Not ours to finish any more.
                    (Some(reason @ (CancelReason::LockLost | CancelReason::Shutdown)), _) => {
                        state.core.events.emit(WorkerEvent::JobCancelled { id, reason });
                        myself.stop(None);
                        return Ok(());
                    }
                    // The processor honoured a user's cancel: it stopped with an error (or a
                    // panic). That is the cancel, not an ordinary failure; what it said is kept
                    // as the cause. (One that returned an outcome anyway, a completion say,
                    // finished its work despite the cancel: that outcome stands.)
                    (Some(reason @ (CancelReason::User(_) | CancelReason::Timeout(_))), Ok(Err(err))) => {
                        AckKind::Cancelled { reason, err }
                    }
                    (Some(reason @ (CancelReason::User(_) | CancelReason::Timeout(_))), Err(panic)) => {
                        AckKind::Cancelled { reason, err: JobError::bare(panic) }
                    }
                    (_, Ok(Ok(JobOutcome::Completed(value)))) => AckKind::Complete { value, finished_us },
                    (_, Ok(Ok(JobOutcome::Delay(d)))) => AckKind::Delay(d),
                    (_, Ok(Ok(JobOutcome::RateLimit(d)))) => AckKind::RateLimit(d),
                    (_, Ok(Ok(JobOutcome::Wait))) => AckKind::Wait,
                    (_, Ok(Ok(JobOutcome::WaitingChildren))) => AckKind::WaitingChildren,
                    (_, Ok(Err(err))) => AckKind::Fail(err),
                    (_, Err(panic)) => AckKind::Fail(JobError::bare(panic)),
                };
                // Boxed: the acknowledgement future is large, and ractor moves each handler
                // future into a box of its own per message; a small one keeps that copy cheap.
                Box::pin(acknowledge(state, kind)).await;
                myself.stop(None);
            }
            #[cfg(feature = "testing")]
            JobMsg::Internal(Internal(InternalMsg::Panic)) => panic!("injected panic in the job actor"),
        }
        Ok(())
    }
}

/// Sends the job's outcome to the acker and waits for it to be acknowledged in Redis. A
/// completion hands its slot to a job held ahead at once, while the completion travels (else
/// the slot travels with it, to be refilled by the same call).
async fn acknowledge(state: &mut JobState, kind: AckKind) {
    let mut slot = state.slot.take();
    if matches!(kind, AckKind::Complete { .. }) {
        if let Some(next) = slot.is_some().then(|| state.core.flow.next_ready()).flatten() {
            let s = slot.take().expect("checked");
            start(&state.core, next, s).await;
        }
    }
    let Some(taken) = state.taken.take() else { return };
    state.phase.finishing();
    let (reply, answer) = oneshot::channel();
    let ack = Ack::new(Pending { taken, kind, slot, reply, phase: state.phase.clone() }, state.core.acks.clone());
    if state.core.acks.send(ack).is_err() {
        let message = format!("job {}: the worker's acker is gone", state.id);
        return state.core.events.emit(WorkerEvent::Error { message });
    }
    state.unfinished = None;
    // The acker reports what happened; this only waits for it, so that the job counts as
    // running (its lock renewed) until then.
    let _ = answer.await;
}
