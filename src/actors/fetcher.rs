//! The fetcher: takes jobs for free concurrency slots and starts them. Its loop runs in a task
//! actor. A transient error (Redis gone, out of memory, busy...: see `reconnect`) is waited out
//! and the take tried again, on a fresh blocking connection where it was that connection's; any
//! other error fails the actor, and the restart starts over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::Core;
use super::events::WorkerEvent;
use super::flow::{RunState, Slot};
use super::job_actor;
use super::reconnect::Outage;
use super::task_actor::Failure;
use crate::engine::Accepted;
use crate::error::Error;

/// BullMQ's cap on a rate-limited worker's sleep, so delayed jobs still get promoted.
const MAX_RATE_LIMIT_SLEEP: Duration = Duration::from_secs(30);

/// The fetcher's loop, run by a task actor: it starts on a fresh blocking connection.
pub(crate) async fn run(core: Arc<Core>, failure: Failure) {
    core.engine.reset_blocking().await;
    let mut run = core.flow.watch_run();
    let prefix = uuid::Uuid::new_v4().to_string();
    let drain_delay = core.engine.options().drain_delay;
    let mut n: u64 = 0;
    let mut drained = false;
    let mut outage = Outage::new("fetcher");
    // Set when the last look found the queue empty: the next take waits on the marker first.
    let mut idle: Option<u64> = None;
    loop {
        while *run.borrow_and_update() != RunState::Running {
            if run.changed().await.is_err() {
                return;
            }
        }
        let slot = tokio::select! {
            s = core.flow.slot() => match s { Some(s) => s, None => return },
            _ = run.changed() => continue,
        };
        if let Some(left) = core.flow.held_for() {
            drop(slot);
            tokio::time::sleep(left.min(MAX_RATE_LIMIT_SLEEP)).await;
            continue;
        }
        if let Some(taken) = core.flow.next_ready() {
            job_actor::start(&core, taken, slot).await;
            continue;
        }
        // The call that freed this slot may have looked for a job already (see take_ran_dry).
        let idle_since = idle.take().or_else(|| core.flow.take_ran_dry());
        n += 1;
        let token = format!("{prefix}:{n}");
        let result = if let Some(delay_until) = idle_since {
            if core.engine.can_block_and_take() {
                drained_once(&core, &mut drained);
                // Detached for the same reason as the take below; see engine::idle_take.
                match tokio::spawn(block_and_deliver(core.clone(), token, slot, delay_until)).await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            } else {
                drop(slot);
                Ok(Taken::Empty { delay_until })
            }
        } else {
            // The non-blocking take runs detached: if this fetcher dies while moveToActive is
            // in flight, the job it took still reaches the worker instead of waiting, locked
            // and unowned, for the stalled check.
            match tokio::spawn(take_and_deliver(core.clone(), token, slot)).await {
                Ok(r) => r,
                Err(_) => return,
            }
        };
        if result.is_ok() {
            outage.over(&core);
        }
        let failed = match result {
            Ok(Taken::Delivered) => {
                drained = false;
                continue;
            }
            Ok(Taken::HandedBack) => continue,
            Ok(Taken::RateLimited) => {
                let ttl = Duration::from_millis(core.engine.rate_limit_ttl().max(1));
                tokio::time::sleep(ttl.min(MAX_RATE_LIMIT_SLEEP)).await;
                continue;
            }
            Ok(Taken::Empty { delay_until }) => {
                drained_once(&core, &mut drained);
                if core.engine.can_block_and_take() {
                    // The next take waits on the marker itself.
                    idle = Some(delay_until);
                    continue;
                }
                // Blocking on the marker takes nothing, so aborting it here loses nothing.
                let woke = core.engine.wait_for_marker(Instant::now() + drain_delay, delay_until).await;
                core.flow.marker_woke();
                match woke {
                    Ok(_) => {
                        outage.over(&core);
                        continue;
                    }
                    Err(e) => e,
                }
            }
            // Already failed at pickup; the worker goes on.
            Err(e @ Error::CorruptJob { .. }) => {
                core.events.emit(WorkerEvent::Error { message: e.to_string() });
                continue;
            }
            Err(e) => e,
        };
        if failed.is_transient() {
            if outage.wait(&core, &failed, true).await {
                continue;
            }
            return;
        }
        return failure.fail(failed.to_string());
    }
}

/// What one take came to.
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
fn drained_once(core: &Core, drained: &mut bool) {
    if !*drained {
        *drained = true;
        core.events.emit(WorkerEvent::Drained);
    }
}

/// What a take that brought no job to start means for the loop.
fn nothing_taken(core: &Core, a: Accepted) -> Taken {
    match a {
        Accepted::Gone { id } => {
            core.events.emit(WorkerEvent::JobMissing { id });
            Taken::Empty { delay_until: 0 }
        }
        Accepted::RateLimited => Taken::RateLimited,
        Accepted::Empty { delay_until } => Taken::Empty { delay_until },
        // A job failed at pickup: look again (the take set the marker if more are ready).
        Accepted::Again => Taken::Empty { delay_until: 0 },
        Accepted::Job(_) => unreachable!("the callers deliver the jobs they take"),
    }
}

/// An idle take (see `engine::idle_take`): waits on the marker and takes in one pipeline, then
/// starts the job, or hands it back to wait when the worker stopped running meanwhile.
async fn block_and_deliver(core: Arc<Core>, token: String, slot: Slot, delay_until: u64) -> crate::Result<Taken> {
    let _in_flight = core.engine.idle_take_started();
    let _take = core.takes.start(token.clone());
    let reply = core.engine.block_and_take(&token, delay_until).await;
    core.flow.marker_woke();
    let Some(reply) = reply? else {
        // Redis lost the function library: the usual take loads it again.
        return take_and_deliver(core, token, slot).await;
    };
    Ok(match core.engine.accept(reply, &token).await? {
        Accepted::Job(taken) if core.flow.is_running() && core.flow.held_for().is_none() => {
            job_actor::start(&core, *taken, slot).await;
            Taken::Delivered
        }
        Accepted::Job(taken) => {
            drop(slot);
            core.engine.move_to_wait(&taken.job, &taken.lease).await?;
            Taken::HandedBack
        }
        other => nothing_taken(&core, other),
    })
}

async fn take_and_deliver(core: Arc<Core>, token: String, slot: Slot) -> crate::Result<Taken> {
    let _take = core.takes.start(token.clone());
    Ok(match core.engine.take(&token).await? {
        Accepted::Job(taken) => {
            job_actor::start(&core, *taken, slot).await;
            Taken::Delivered
        }
        other => nothing_taken(&core, other),
    })
}
