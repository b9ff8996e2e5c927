//! The lock renewer: one `extendLocks` call for every running job each `lock_renew_time`. It
//! reads the worker's job registry, so a restart loses nothing. A job whose lock could not be
//! renewed is cancelled (`LockLost`): another worker may already run it.

use std::sync::Arc;

use super::events::WorkerEvent;
use super::job_actor::{CancelReason, JobMsg};
use super::periodic::Step;
use super::shared::Shared;

pub(crate) fn step(shared: Arc<Shared>) -> Step {
    Arc::new(move || {
        let shared = shared.clone();
        Box::pin(async move {
            let running = shared.running();
            let mut pairs: Vec<(String, String)> =
                running.iter().map(|(id, j)| (id.clone(), j.token.clone())).collect();
            pairs.extend(shared.buffered_locks());
            if pairs.is_empty() {
                return Ok(());
            }
            let duration = shared.manual.options().lock_duration;
            let lost = shared.manual.extend_locks(&pairs, duration).await?;
            for id in lost {
                // A job fetched ahead whose lock is gone is not ours to run any more.
                if shared.drop_buffered(&id) {
                    shared.events.emit(WorkerEvent::LockLost { id });
                    continue;
                }
                // Only the run whose token was refused: the job may have been re-fetched since.
                let sent = pairs.iter().find(|(i, _)| *i == id).map(|(_, t)| t.as_str());
                if let Some(job) = shared.job(&id).filter(|j| Some(j.token.as_str()) == sent) {
                    shared.events.emit(WorkerEvent::LockLost { id });
                    let _ = job.actor.send_message(JobMsg::Cancel { reason: CancelReason::LockLost });
                }
            }
            Ok(())
        })
    })
}
