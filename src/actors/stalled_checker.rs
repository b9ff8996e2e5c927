//! The stalled checker: the stalled check at start and then a `stalled_interval` after each
//! check ended (at most once per interval across all workers of the queue, coordinated in
//! Redis).

use std::sync::Arc;

use super::core::Core;
use super::events::WorkerEvent;
use super::periodic::Step;

pub(crate) fn step(core: Arc<Core>) -> Step {
    Arc::new(move || {
        let core = core.clone();
        Box::pin(async move {
            for id in core.engine.stalled_check().await? {
                core.events.emit(WorkerEvent::JobStalled { id });
            }
            Ok(())
        })
    })
}
