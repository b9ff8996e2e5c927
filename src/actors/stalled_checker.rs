//! The stalled checker: the stalled check every `stalled_interval` (at most once per interval
//! across all workers of the queue, coordinated in Redis).

use std::sync::Arc;
use std::time::Duration;

use super::events::WorkerEvent;
use super::periodic::Step;
use super::shared::Shared;

/// The pause between the end of one check and the next: the interval, plus a millisecond so
/// that the `stalled-check` key the previous check set (for exactly the interval, by Redis's
/// clock) has expired when the next one runs.
pub(crate) fn period(stalled_interval_ms: u64) -> Duration {
    Duration::from_millis(stalled_interval_ms + 1)
}

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
