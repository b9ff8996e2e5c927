//! The stalled checker: the stalled check every `stalled_interval` (at most once per interval
//! across all workers of the queue, coordinated in Redis).

use std::sync::Arc;

use super::events::WorkerEvent;
use super::periodic::Step;
use super::shared::Shared;

pub(crate) fn step(shared: Arc<Shared>) -> Step {
    Arc::new(move || {
        let shared = shared.clone();
        Box::pin(async move {
            for id in shared.manual.run_stalled_check().await? {
                shared.events.emit(WorkerEvent::JobStalled { id });
            }
            Ok(())
        })
    })
}
