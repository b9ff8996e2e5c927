//! Running a job that stalled before alone (`WorkerOptions::isolate_stalled_jobs`). A stall
//! means the worker running the job died or lost its lock; when a job kills its process, every
//! job running beside it stalls too, and in BullMQ those innocent jobs come back together with
//! it, run beside it again and share its fate (failed after `max_stalled_count`). Here such a
//! job waits until the jobs running in this worker end (nothing new is taken or started
//! meanwhile: see `Flow::alone_begins`), runs with every slot, and the worker goes on after it.
//! Its hash records the run (`markRunAlone`), so that if it stalls again the stalled check's
//! failure names it as the likely cause.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::core::Core;
use super::flow::{RunState, Slot};
use crate::engine::Taken;

/// Held by the job actor of a job running alone: the other slots, and the mark that keeps the
/// worker from taking anything else; both released when the actor ends.
pub(crate) struct Alone {
    _others: OwnedSemaphorePermit,
    _running: Running,
}

/// Ends the worker's isolation when dropped.
struct Running(Arc<Core>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.flow.alone_ended();
    }
}

/// Whether `taken` is to run alone.
pub(crate) fn is_suspect(core: &Core, taken: &Taken) -> bool {
    core.engine.options().isolate_stalled_jobs && taken.job.stalled_counter > 0
}

/// Waits until `taken` can run alone and returns it with what it holds while it does; None
/// when it went back to wait instead: the worker closed meanwhile, or another job runs alone
/// here or waits to. The caller runs this in a task of its own (it may be the acker, whose
/// calls the running jobs need in order to end).
pub(crate) async fn wait_turn(core: &Arc<Core>, taken: Taken, slot: Slot) -> Option<(Taken, Slot, Alone)> {
    let Some(back) = core.flow.alone_begins(&taken) else {
        drop(slot);
        core.hand_back(taken).await;
        return None;
    };
    let running = Running(core.clone());
    for job in back {
        core.hand_back(job).await;
    }
    let mut run = core.flow.watch_run();
    let others = tokio::select! {
        others = core.flow.other_slots() => others,
        _ = run.wait_for(|s| *s == RunState::Closing) => None,
    };
    core.flow.alone_starts(&taken.job.id);
    let Some(others) = others.filter(|_| core.flow.run_state() != RunState::Closing) else {
        drop(slot);
        core.hand_back(taken).await;
        return None;
    };
    // Best effort: without the mark, a second stall fails it with BullMQ's plain reason.
    let _ = core.engine.mark_run_alone(&taken.job, &taken.lease).await;
    Some((taken, slot, Alone { _others: others, _running: running }))
}
