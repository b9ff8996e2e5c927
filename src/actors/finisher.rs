//! The finisher: completes the jobs of all job actors through `finishMany` calls, two (three
//! for batches of one) in flight. While calls are in flight, completions queue up; the next
//! call takes them (up to half the jobs the worker holds) and takes new jobs for the slots
//! they free in the same call. A freed slot with no fetched job at hand is parked until any
//! call brings one (see [`Shared::parked`]). At concurrency 1 that is one call per job; at
//! higher concurrency it is what keeps Redis CPU per job down.
//!
//! It runs as a task bound to the worker actor's life (like the queue's add coalescer): it
//! holds no state a crash could lose, since every request carries its own reply channel, and a
//! dropped reply is reported by the job actor as an error (the job then stays active for the
//! stalled check, exactly as a failed moveToFinished would leave it).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ractor::ActorCell;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::events::WorkerEvent;
use super::job_actor::spawn_job;
use super::shared::{RunState, Shared};
use crate::error::Error;
use crate::manual::Completion;

/// The most completions sent in one call: bounds the script's run time (Redis serves nobody
/// else meanwhile) and the reply size.
const MAX_BATCH: usize = 128;

/// Calls in flight at once. One would leave Redis idle while the client handles a reply and
/// the client idle while Redis runs a batch. Two keep Redis busy once a batch holds a few jobs
/// (one runs while the next waits), and while Redis is the bottleneck the jobs held split
/// across the calls in flight, so fewer calls make larger batches: at concurrency 10 (20 jobs
/// held) 3 calls carried ~6.7 jobs each, 2 carry 10, Redis instructions per job 178k -> 170k
/// (callgrind) and 17.8k -> 20.4k jobs/s (4 interleaved reps). Batches of one or two need
/// three: at concurrency 1, 2 in flight gave 5.6k jobs/s where 3 gave 9.7k.
/// (Unbounded was measured worse: tiny batches.)
fn max_in_flight(cap: usize) -> usize {
    if cap <= 2 {
        3
    } else {
        2
    }
}

/// Turns of the runtime the finisher gives running job actors to join a batch before sending
/// it short.
const WAIT_TURNS: usize = 4;

/// One job actor's completion.
pub(crate) struct FinishRequest {
    pub(crate) completion: Completion,
    /// For the `JobCompleted` event, emitted here before the jobs taken for the freed slots
    /// start, so subscribers see "completed" before the next "active", as with Node.
    pub(crate) returnvalue: serde_json::Value,
    /// The job's concurrency slot, refilled with a new job when one is taken for it.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    pub(crate) reply: oneshot::Sender<crate::Result<()>>,
}

pub(crate) type FinishSender = UnboundedSender<FinishRequest>;

pub(crate) async fn run(shared: Arc<Shared>, worker: ActorCell, mut rx: UnboundedReceiver<FinishRequest>) {
    let prefix = uuid::Uuid::new_v4().to_string();
    let mut calls: u64 = 0;
    let mut tasks = JoinSet::new();
    // Half the jobs the worker holds (its slots and those fetched ahead) per call: with two
    // calls in flight that covers every one, and while Redis runs one call the client works
    // on the jobs another call returned (one call for all of them makes Redis and the client
    // take turns; smaller calls pay the per-call cost more often). Measured on the bench
    // (process, no-op jobs, 2 cores), paired with Node over 3 reps: at concurrency 10, 10 ahead
    // and 10 per call gave 1.82x Node where 2 ahead and 5 per call gave 1.58x, and 10 ahead
    // with 5 per call 1.53x.
    let cap = ((shared.manual.options().concurrency + shared.prefetch_limit()) / 2).clamp(1, MAX_BATCH);
    let in_flight = Arc::new(Semaphore::new(max_in_flight(cap)));
    // The finish times sent, kept in the order the completions are sent in: job actors on
    // several threads stamp and send concurrently, and a completion sent after another must
    // not carry an earlier time (the completed set would list them out of event order).
    let mut last_us = 0;
    while let Some(first) = rx.recv().await {
        let Ok(slot) = in_flight.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        let mut turns = 0;
        while batch.len() < cap {
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    turns = 0;
                }
                // Job actors still running will complete in a few turns of the runtime (the
                // jobs a call just started, mostly): letting them costs microseconds, where
                // sending now would send a call of a job or two and hold their completions for
                // the next free call.
                Err(_) if turns < WAIT_TURNS && shared.unfinished.load(Ordering::Relaxed) > 0 => {
                    turns += 1;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        for r in &mut batch {
            last_us = r.completion.finished_us.max(last_us);
            r.completion.finished_us = last_us;
        }
        calls += 1;
        let call = finish_batch(shared.clone(), worker.clone(), batch, format!("{prefix}:{calls}"));
        tasks.spawn(async move {
            call.await;
            drop(slot);
        });
        // Reap finished calls so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
}

/// One finishMany call for `batch`; answers every request and starts the jobs taken on the
/// parked slots (see [`Shared::parked`]).
async fn finish_batch(shared: Arc<Shared>, worker: ActorCell, mut batch: Vec<FinishRequest>, tokens: String) {
    let take = {
        let Ok(mut parked) = shared.parked.lock() else { return };
        parked.extend(batch.iter_mut().filter_map(|r| r.permit.take()));
        let take = shared.jobs_wanted(parked.len()).min(MAX_BATCH);
        shared.prefetching.fetch_add(take, Ordering::Relaxed);
        take
    };
    let completions: Vec<&Completion> = batch.iter().map(|r| &r.completion).collect();
    let wakes = shared.marker_wakes.load(Ordering::SeqCst);
    let result = shared.manual.complete_many(&completions, take, &tokens).await;
    drop(completions);
    match result {
        Ok(outcome) => {
            if take > 0 {
                shared.note_takes(wakes, outcome.ran_dry);
            }
            for (req, result) in batch.into_iter().zip(outcome.finished) {
                if result.is_ok() {
                    let (id, returnvalue) = (req.completion.id.clone(), req.returnvalue);
                    shared.events.emit(WorkerEvent::JobCompleted { id, returnvalue });
                }
                let _ = req.reply.send(result);
            }
            // Into the queue of jobs fetched ahead behind the older ones, then the parked slots
            // take from its front: jobs start in the order they were taken, whichever call
            // took them.
            for job in outcome.taken {
                match job {
                    Ok(job) => shared.buffer_job(job),
                    // Failed at pickup already; the worker goes on.
                    Err(e) => shared.events.emit(WorkerEvent::Error { message: e.to_string() }),
                }
            }
            arrived(&shared, take);
            start_parked(&shared, &worker).await;
        }
        Err(e) => {
            arrived(&shared, take);
            let message = e.to_string();
            let connection = e.is_connection_error();
            for req in batch {
                let err = if connection {
                    Error::Connection { operation: "finishMany", message: message.clone() }
                } else {
                    Error::unexpected("finishMany", Some(&req.completion.id), message.clone())
                };
                let _ = req.reply.send(Err(err));
            }
        }
    }
    release_parked(&shared);
}

/// The `take` jobs a call asked for are in (or will never come).
fn arrived(shared: &Shared, take: usize) {
    if let Ok(_parked) = shared.parked.lock() {
        shared.prefetching.fetch_sub(take, Ordering::Relaxed);
    }
}

/// Starts buffered jobs on parked slots while there are both and the worker runs (a paused
/// worker starts nothing new; its buffer goes back to wait).
async fn start_parked(shared: &Arc<Shared>, worker: &ActorCell) {
    while *shared.run.borrow() == RunState::Running && shared.held_off() == 0 {
        let (job, slot) = {
            let Ok(mut parked) = shared.parked.lock() else { return };
            let Some(slot) = parked.pop() else { return };
            let Some(job) = shared.take_buffered() else {
                parked.push(slot);
                return;
            };
            (job, slot)
        };
        spawn_job(shared, worker, job, slot).await;
    }
}

/// Parked slots go back to the fetcher once no call in flight brings a job for them (or the
/// worker stopped running): it takes or waits for the next job itself.
fn release_parked(shared: &Shared) {
    let Ok(mut parked) = shared.parked.lock() else { return };
    if shared.prefetching.load(Ordering::Relaxed) == 0 || *shared.run.borrow() != RunState::Running {
        // Dropping a permit only hands it back to the semaphore (it may wake the fetcher).
        parked.clear();
    }
}
