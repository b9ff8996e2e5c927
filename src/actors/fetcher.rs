//! The fetcher: takes jobs for free concurrency slots and hands them to the worker. Its loop
//! runs as a task bound to the actor; any Redis anomaly fails the actor, and the restart starts
//! over with a fresh blocking connection. A connection error first waits until Redis serves
//! again (see `reconnect`), so an outage costs one restart, not a meltdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};

use super::events::WorkerEvent;
use super::job_actor::spawn_job;
use super::reconnect::wait_for_redis;
use super::shared::{RunState, Shared};
use super::task_guard::TaskGuard;
use crate::error::Error;
use crate::manual::Accepted;
use tokio::sync::OwnedSemaphorePermit;

/// BullMQ's cap on a rate-limited worker's sleep, so delayed jobs still get promoted.
const MAX_RATE_LIMIT_SLEEP: Duration = Duration::from_secs(30);

pub(crate) enum FetcherMsg {
    Failed(String),
    /// Fault injection (tests): panic inside the handler.
    Panic,
}

pub(crate) struct Fetcher;

pub(crate) struct FetcherArgs {
    pub(crate) shared: Arc<Shared>,
    /// The worker's cell: job actors are spawned linked under it.
    pub(crate) worker: ActorCell,
}

impl Actor for Fetcher {
    type Msg = FetcherMsg;
    type State = TaskGuard;
    type Arguments = FetcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<FetcherMsg>,
        args: FetcherArgs,
    ) -> Result<TaskGuard, ActorProcessingErr> {
        args.shared.manual.reset_blocking().await;
        let task = tokio::spawn(fetch_loop(args.shared, args.worker, myself));
        Ok(TaskGuard::new(task.abort_handle()))
    }

    async fn post_stop(&self, _: ActorRef<FetcherMsg>, task: &mut TaskGuard) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<FetcherMsg>,
        msg: FetcherMsg,
        _: &mut TaskGuard,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            FetcherMsg::Failed(e) => Err(e.into()),
            FetcherMsg::Panic => panic!("injected panic"),
        }
    }
}

async fn fetch_loop(shared: Arc<Shared>, worker: ActorCell, me: ActorRef<FetcherMsg>) {
    let mut run = shared.run.subscribe();
    let prefix = uuid::Uuid::new_v4().to_string();
    let drain_delay = shared.manual.options().drain_delay;
    let mut n: u64 = 0;
    let mut drained = false;
    // Set when the last look found the queue empty: the next take waits on the marker first.
    let mut idle: Option<u64> = None;
    loop {
        while *run.borrow_and_update() != RunState::Running {
            if run.changed().await.is_err() {
                return;
            }
        }
        let permit = tokio::select! {
            p = shared.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = run.changed() => continue,
        };
        let held = shared.held_off();
        if held > 0 {
            drop(permit);
            tokio::time::sleep(Duration::from_millis(held).min(MAX_RATE_LIMIT_SLEEP)).await;
            continue;
        }
        if let Some(job) = shared.take_buffered() {
            spawn_job(&shared, &worker, job, permit).await;
            continue;
        }
        // The finish that freed this slot may have looked for a job already (see take_ran_dry).
        let idle_since = idle.take().or_else(|| shared.take_ran_dry());
        let result = if let Some(delay_until) = idle_since {
            if shared.manual.can_block_and_take() {
                drained_once(&shared, &mut drained);
                n += 1;
                // Detached for the same reason as the take below; see manual::idle_take.
                let token = format!("{prefix}:{n}");
                let take = tokio::spawn(block_and_deliver(shared.clone(), worker.clone(), token, permit, delay_until));
                match take.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            } else {
                drop(permit);
                Ok(Taken::Empty { delay_until })
            }
        } else {
            n += 1;
            // The non-blocking take runs detached: if this fetcher dies while moveToActive is
            // in flight, the job it took still reaches the worker instead of waiting, locked
            // and unowned, for the stalled check.
            let take = tokio::spawn(take_and_deliver(shared.clone(), worker.clone(), format!("{prefix}:{n}"), permit));
            match take.await {
                Ok(r) => r,
                Err(_) => return,
            }
        };
        let failed = match result {
            Ok(Taken::Delivered) => {
                drained = false;
                continue;
            }
            Ok(Taken::HandedBack) => continue,
            Ok(Taken::RateLimited) => {
                let ttl = shared.manual.rate_limit_ttl();
                tokio::time::sleep(Duration::from_millis(ttl.max(1)).min(MAX_RATE_LIMIT_SLEEP)).await;
                continue;
            }
            Ok(Taken::Empty { delay_until }) => {
                drained_once(&shared, &mut drained);
                if shared.manual.can_block_and_take() {
                    // The next take waits on the marker itself.
                    idle = Some(delay_until);
                    continue;
                }
                // Blocking on the marker takes nothing, so aborting it here loses nothing.
                let woke = shared.manual.wait_for_marker(Instant::now() + drain_delay, delay_until).await;
                shared.marker_wakes.fetch_add(1, Ordering::SeqCst);
                match woke {
                    Ok(_) => continue,
                    Err(e) => e,
                }
            }
            // Already failed at pickup; the worker goes on.
            Err(e @ Error::CorruptJob { .. }) => {
                shared.events.emit(WorkerEvent::Error { message: e.to_string() });
                continue;
            }
            Err(e) => e,
        };
        if failed.is_connection_error() {
            wait_for_redis(&shared, "fetcher", &failed).await;
        }
        let _ = me.send_message(FetcherMsg::Failed(failed.to_string()));
        return;
    }
}

enum Taken {
    Delivered,
    /// Taken after the worker stopped running (an idle take in flight) and handed back.
    HandedBack,
    RateLimited,
    Empty {
        delay_until: u64,
    },
}

/// `Drained` once per stretch of empty looks.
fn drained_once(shared: &Shared, drained: &mut bool) {
    if !*drained {
        *drained = true;
        shared.events.emit(WorkerEvent::Drained);
    }
}

/// What a take that brought no job to start means for the loop.
fn nothing_taken(a: Accepted) -> Taken {
    match a {
        Accepted::RateLimited => Taken::RateLimited,
        Accepted::Empty { delay_until } => Taken::Empty { delay_until },
        // A job failed at pickup: look again (the take set the marker if more are ready).
        Accepted::Again => Taken::Empty { delay_until: 0 },
        Accepted::Job(_) => unreachable!("the callers deliver the jobs they take"),
    }
}

/// An idle take (see `manual::idle_take`): waits on the marker and takes in one pipeline, then
/// starts the job, or hands it back to wait when the worker stopped running meanwhile.
async fn block_and_deliver(
    shared: Arc<Shared>,
    worker: ActorCell,
    token: String,
    permit: OwnedSemaphorePermit,
    delay_until: u64,
) -> crate::Result<Taken> {
    let _in_flight = shared.manual.idle_take_started();
    let reply = shared.manual.block_and_take(&token, delay_until).await;
    shared.marker_wakes.fetch_add(1, Ordering::SeqCst);
    let Some(reply) = reply? else {
        // Redis lost the function library: the usual take loads it again.
        return take_and_deliver(shared, worker, token, permit).await;
    };
    Ok(match shared.manual.accept(reply, &token).await? {
        Accepted::Job(job) if *shared.run.borrow() == RunState::Running => {
            spawn_job(&shared, &worker, *job, permit).await;
            Taken::Delivered
        }
        Accepted::Job(job) => {
            drop(permit);
            job.move_to_wait(&token).await?;
            Taken::HandedBack
        }
        other => nothing_taken(other),
    })
}

async fn take_and_deliver(
    shared: Arc<Shared>,
    worker: ActorCell,
    token: String,
    permit: OwnedSemaphorePermit,
) -> crate::Result<Taken> {
    Ok(match shared.manual.take_next(&token).await? {
        Accepted::Job(job) => {
            spawn_job(&shared, &worker, *job, permit).await;
            Taken::Delivered
        }
        other => nothing_taken(other),
    })
}
