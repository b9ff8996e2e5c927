//! The acker: the one path by which a job's outcome reaches Redis. Job actors send it their
//! outcome ([`Ack`]); it completes jobs in batches through `finishMany` calls (two, or three
//! for batches of one, in flight), taking new jobs for the slots they free in the same call,
//! and makes every other move (fail with the retry decision, cancel, delay, rate limit, back to
//! wait, wait for children) as one call each, beside the batches. It reports every outcome as a
//! [`WorkerEvent`] and answers the job actor.
//!
//! A task actor, permanent child of the worker: the queue of acknowledgements lives in the
//! worker's core,
//! so a restarted acker takes over what its predecessor left; every request carries its own
//! reply channel, and one dropped by a crash is reported by the job actor (the job then stays
//! active for the stalled check, exactly as a failed call would leave it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::ack::{Ack, AckKind};
use super::core::Core;
use super::events::WorkerEvent;
use super::job_actor;
use super::reconnect::Outage;
use super::task_actor::Failure;
use crate::engine::{Completion, FailOutcome, Taken};
use crate::error::{Error, Result, ScriptErrorCode};
use crate::job::JobError;
use crate::telemetry::{record_job, JobMetric};

/// Turns of the runtime the acker gives running job actors to join a batch before sending it
/// short: the jobs a call just started complete within a few turns, so waiting costs
/// microseconds, where sending at once sends a call of a job or two.
const WAIT_TURNS: usize = 4;

/// Completion calls in flight at once. One would leave Redis idle while the client handles a
/// reply and the client idle while Redis runs a batch; two keep Redis busy once a batch holds a
/// few jobs, and while Redis is the bottleneck fewer calls make larger batches. Batches of one
/// or two need a third (docs/BENCH.md).
fn max_in_flight(cap: usize) -> usize {
    if cap <= 2 {
        3
    } else {
        2
    }
}

/// The acker's loop, run by a task actor. It ends only when the queue closes (the worker is
/// gone), which is no failure to restart.
pub(crate) async fn run(core: Arc<Core>, _failure: Failure) {
    let mut queue = core.ack_queue.lock().await;
    let prefix = uuid::Uuid::new_v4().to_string();
    let mut calls: u64 = 0;
    let cap = core.flow.batch_cap();
    let in_flight = Arc::new(Semaphore::new(max_in_flight(cap)));
    // The finish times sent, kept in the order completions are sent in: job actors on several
    // threads stamp and send concurrently, and a completion sent after another must not carry
    // an earlier time (the completed set would list them out of event order).
    let mut last_us = 0;
    while let Some(first) = queue.recv().await {
        // Every call runs detached: should this loop die, the calls it started still complete
        // and answer their job actors (an acknowledgement is never dropped half-way).
        if !matches!(first.kind, AckKind::Complete { .. }) {
            core.ack_calls.spawn(ack_one(core.clone(), first));
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        let mut turns = 0;
        while batch.len() < cap {
            match queue.try_recv() {
                Ok(a) if matches!(a.kind, AckKind::Complete { .. }) => {
                    batch.push(a);
                    turns = 0;
                }
                Ok(a) => {
                    core.ack_calls.spawn(ack_one(core.clone(), a));
                }
                Err(_) if turns < WAIT_TURNS && core.flow.unfinished() > 0 => {
                    turns += 1;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(batch.len());
        let mut requests = Vec::with_capacity(batch.len());
        for a in batch {
            let AckKind::Complete { value, finished_us } = &a.kind else { unreachable!("only completions batch") };
            last_us = (*finished_us).max(last_us);
            match core.engine.completion(&a.taken.job, &a.taken.lease, value, last_us) {
                Ok(c) => {
                    completions.push(c);
                    requests.push(a);
                }
                Err(e) => finish(&core, a, Err(e)),
            }
        }
        if requests.is_empty() {
            continue;
        }
        calls += 1;
        let call = complete_batch(core.clone(), requests, completions, format!("{prefix}:{calls}"));
        core.ack_calls.spawn(async move {
            call.await;
            drop(permit);
        });
    }
}

/// Answers a job actor, reporting an error that kept its outcome from Redis.
fn finish(core: &Core, ack: Ack, result: Result<()>) {
    if let Err(e) = &result {
        report_error(core, &ack.taken.job.id, e);
    }
    ack.answer(result);
}

fn report_error(core: &Core, id: &str, e: &Error) {
    if e.is_lock_lost() {
        core.events.emit(WorkerEvent::LockLost { id: id.to_owned() });
    } else {
        core.events.emit(WorkerEvent::Error { message: e.to_string() });
    }
}

/// One finishMany call for a batch of completions (tried again while Redis refuses it for a
/// passing reason: no completion is dropped); answers every request and starts the jobs taken on
/// the parked slots.
async fn complete_batch(core: Arc<Core>, mut requests: Vec<Ack>, completions: Vec<Completion>, tokens: String) {
    let mut freed: Vec<_> = requests.iter_mut().filter_map(|r| r.slot.take()).collect();
    let refs: Vec<&Completion> = completions.iter().collect();
    let mut outage = Outage::new("acker");
    // The jobs the call takes are known once its reply is handled: until then, see in_flight.
    let _take = core.takes.start(format!("{tokens}:"));
    let (result, take, wakes) = loop {
        // The freed slots stay parked across tries; each try asks for what they still want.
        let take = core.flow.plan_takes(freed.drain(..));
        let wakes = core.flow.marker_wakes();
        match core.engine.complete_many(&refs, take, &tokens).await {
            Err(e) if e.is_transient() => {
                core.flow.arrived(take, wakes, None);
                outage.wait(&core, &e, false).await;
            }
            result => {
                if result.is_ok() {
                    outage.over(&core);
                }
                break (result, take, wakes);
            }
        }
    };
    match result {
        Ok(outcome) => {
            for (mut req, done) in requests.into_iter().zip(outcome.finished) {
                if let Err(e) = &done {
                    if refused_for_children(e) {
                        // Node's worker fails a parent whose completion is refused for its
                        // children (released early by continueParentOnFailure, or a child
                        // failed) with the refusal as its reason, retried per its attempts.
                        req.kind = AckKind::Fail(JobError::new(e.to_string()));
                        core.ack_calls.spawn(ack_one(core.clone(), req));
                        continue;
                    }
                }
                if done.is_ok() {
                    let id = req.taken.job.id.clone();
                    let AckKind::Complete { value, .. } = &req.kind else { unreachable!("a completion") };
                    // Before the jobs taken for the freed slots start: subscribers see
                    // "completed" before the next "active", as with Node.
                    core.events.emit(WorkerEvent::JobCompleted { id, returnvalue: value.clone() });
                    record_job(&req.taken.job, JobMetric::Completed);
                }
                finish(&core, req, done);
            }
            // Into the queue of jobs held ahead behind the older ones, then the parked slots
            // take from its front: jobs start in the order they were taken, whichever call
            // took them.
            for job in outcome.taken {
                match job {
                    Ok(taken) => {
                        if let Some(back) = core.flow.keep(taken) {
                            Box::pin(core.hand_back(back)).await;
                        }
                    }
                    // Failed at pickup already; the worker goes on.
                    Err(e) => core.events.emit(WorkerEvent::Error { message: e.to_string() }),
                }
            }
            for id in outcome.gone {
                core.events.emit(WorkerEvent::JobMissing { id });
            }
            core.flow.arrived(take, wakes, outcome.ran_dry);
            for (taken, slot) in core.flow.start_parked() {
                // Boxed: a start's future is large, and this one is part of every batch's.
                Box::pin(job_actor::start(&core, taken, slot)).await;
            }
        }
        Err(e) => {
            core.flow.arrived(take, wakes, None);
            for req in requests {
                let err = for_job(&e, "finishMany", &req.taken.job.id);
                finish(&core, req, Err(err));
            }
        }
    }
    core.flow.release_parked();
}

/// A completion refused because of the job's children: pending ones, or failed ones.
fn refused_for_children(e: &Error) -> bool {
    matches!(e.script_code(), Some(ScriptErrorCode::JobPendingChildren | ScriptErrorCode::JobHasFailedChildren))
}

/// The error of a call that carried several jobs, as each job's own (the error is not `Clone`):
/// the same Redis error naming the job, or the same text.
fn for_job(e: &Error, operation: &'static str, id: &str) -> Error {
    match e {
        Error::Redis { source, .. } => Error::redis(operation, Some(id), source.clone()),
        Error::Connection { operation, message } => Error::Connection { operation, message: message.clone() },
        other => Error::unexpected(operation, Some(id), other.to_string()),
    }
}

/// Every acknowledgement but a completion: one call (tried again while Redis refuses it for a
/// passing reason), then the event.
async fn ack_one(core: Arc<Core>, mut ack: Ack) {
    // The slot is freed once the outcome is in Redis, as the job's: until then the fetcher must
    // not take another job in its place (after a rate limit, not before the hold-off is set).
    let slot = ack.slot.take();
    let mut outage = Outage::new("acker");
    let result = loop {
        match acknowledge_one(&core, &ack).await {
            Err(e) if e.is_transient() => outage.wait(&core, &e, false).await,
            result => {
                if result.is_ok() {
                    outage.over(&core);
                }
                break result;
            }
        };
    };
    finish(&core, ack, result);
    drop(slot);
}

/// One try of [`ack_one`]: the call for `ack`'s outcome, and its event once it landed.
async fn acknowledge_one(core: &Core, ack: &Ack) -> Result<()> {
    let (engine, job, lease) = (&core.engine, &ack.taken.job, &ack.taken.lease);
    let id = job.id.clone();
    let moved = |to: &str| WorkerEvent::JobMoved { id: id.clone(), to: to.into() };
    match &ack.kind {
        AckKind::Complete { .. } => unreachable!("completions go in batches"),
        AckKind::Fail(err) => engine.fail(job, lease, err, false).await.map(|outcome| {
            let retry = matches!(outcome, FailOutcome::Retried { .. });
            core.events.emit(WorkerEvent::JobFailed { id: id.clone(), reason: err.message.clone(), retry });
        }),
        AckKind::Cancelled { reason, err } => {
            let err = err.clone().reworded(reason.failure_text().unwrap_or_else(|| reason.to_string()));
            engine.fail(job, lease, &err, false).await.map(|_| {
                core.events.emit(WorkerEvent::JobCancelled { id: id.clone(), reason: reason.clone() });
            })
        }
        AckKind::Delay(d) => engine.delay(job, lease, *d).await.map(|()| core.events.emit(moved("delayed"))),
        AckKind::RateLimit(window) => {
            rate_limit(core, &ack.taken, *window).await.map(|()| core.events.emit(moved("waiting")))
        }
        AckKind::Wait => engine.move_to_wait(job, lease).await.map(|_| core.events.emit(moved("waiting"))),
        AckKind::WaitingChildren => {
            let to = match engine.move_to_waiting_children(job, lease, None).await {
                Ok(true) => Ok("waiting-children"),
                Ok(false) => engine.move_to_wait(job, lease).await.map(|_| "waiting"),
                Err(e) => Err(e),
            };
            to.map(|to| core.events.emit(moved(to)))
        }
    }
}

/// A processor's rate limit: the queue's limiter key for the window (other workers that have a
/// limiter honour it), the job back in front, and this worker holding off for what is left of
/// the window (it honours the window whether or not it has a limiter, as Node's worker waits out
/// a `RateLimitError`). The jobs it held ahead go back to wait.
async fn rate_limit(core: &Core, taken: &Taken, window: Duration) -> Result<()> {
    // Held off first: no take may slip in while the job goes back.
    let mut back = core.flow.hold_off(window);
    core.engine.queue_of(&taken.job).rate_limit(window.max(Duration::from_millis(1))).await?;
    let left = core.engine.move_to_wait(&taken.job, &taken.lease).await?;
    back.extend(core.flow.hold_off(left));
    for taken in back {
        core.hand_back(taken).await;
    }
    Ok(())
}
