//! The lock renewer: one `extendLocks` call for every running job (and every job held ahead)
//! each `lock_renew_time`. It reads the worker's registry, so a restart loses nothing. A job
//! whose lock could not be renewed is cancelled (`LockLost`): another worker may already run it.

use std::sync::Arc;

use super::core::Core;
use super::events::WorkerEvent;
use super::flow::HeldLock;
use super::job_msg::{CancelReason, JobMsg};
use super::periodic::Step;

pub(crate) fn step(core: Arc<Core>) -> Step {
    Arc::new(move || {
        let core = core.clone();
        Box::pin(async move {
            let duration = core.engine.options().lock_duration;
            // Takes whose reply is unread are renewed by token (in_flight) once older than half
            // of what the lock outlasts a period: the first tick past that age comes within
            // that age plus a period, well before the lock ends. (Half a lock duration with a
            // period of half a lock left it to whichever came first, the tick or the expiry: a
            // duplicate run now and then under load in tests/worker_blocking.rs.)
            let period = core.engine.options().effective_lock_renew_time();
            let stuck = core.takes.older_than(duration.saturating_sub(period) / 2);
            if !stuck.is_empty() {
                core.engine.extend_taken_locks(&stuck, duration).await?;
            }
            let mut locks: Vec<HeldLock> = core
                .registry
                .running()
                .into_iter()
                .filter(|j| j.phase.is_held())
                .map(|j| (j.keys.clone(), j.id.clone(), j.lease.token().to_owned()))
                .collect();
            locks.extend(core.flow.held_locks());
            if locks.is_empty() {
                return Ok(());
            }
            let lost = core.engine.extend_locks_of(&locks, duration).await?;
            for (keys, id) in lost {
                // A job held ahead whose lock is gone is not ours to run any more.
                if core.flow.forget_held(&keys, &id) {
                    core.events.emit(WorkerEvent::LockLost { id });
                    continue;
                }
                // Only the run whose token was refused: the job may have been taken again since.
                let sent = locks.iter().find(|(k, i, _)| *i == id && **k == *keys).map(|(_, _, t)| t.as_str());
                let Some(job) = core.registry.job_in(&keys, &id).filter(|j| Some(j.lease.token()) == sent) else {
                    continue;
                };
                // One whose outcome is on its way raced its own finish, which released the lock
                // (a real loss is the finish's to report). Otherwise reported and cancelled once.
                if !job.phase.is_finishing() && job.phase.lose() {
                    core.events.emit(WorkerEvent::LockLost { id });
                    let _ = job.actor.send_message(JobMsg::Cancel { reason: CancelReason::LockLost });
                }
            }
            Ok(())
        })
    })
}
