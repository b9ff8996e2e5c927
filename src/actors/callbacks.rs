//! BullMQ-style callbacks (`on_completed`, `on_failed`, ...) on top of the lifecycle events: a
//! handler registered with [`Worker::on`](super::Worker::on) gets one call per event, in order,
//! from a task reading its own lossless subscription. A slow handler delays only itself.

use serde_json::Value;

use super::events::WorkerEvent;
use super::job_msg::CancelReason;

/// Callbacks named as Node's worker events. Every method has an empty default; implement the
/// ones you need. They receive job ids (the job itself is one `Queue::get_job` away).
#[allow(unused_variables)]
pub trait WorkerCallbacks: Send + 'static {
    /// A job started (`active`).
    fn on_active(&mut self, id: &str) {}
    /// A job reported progress (`progress`).
    fn on_progress(&mut self, id: &str, progress: &Value) {}
    /// A job completed (`completed`).
    fn on_completed(&mut self, id: &str, returnvalue: &Value) {}
    /// A job failed (`failed`); `retry` tells whether it will run again.
    fn on_failed(&mut self, id: &str, reason: &str, retry: bool) {}
    /// A job was cancelled through its actor.
    fn on_cancelled(&mut self, id: &str, reason: &CancelReason) {}
    /// The stalled check recovered a job (`stalled`).
    fn on_stalled(&mut self, id: &str) {}
    /// A job's lock could not be renewed (`lockRenewalFailed`).
    fn on_lock_renewal_failed(&mut self, id: &str) {}
    /// The queue ran dry (`drained`).
    fn on_drained(&mut self) {}
    /// An error that did not stop the worker (`error`).
    fn on_error(&mut self, message: &str) {}
    /// The worker closed (`closed`), leaving these jobs active for the stalled check.
    fn on_closed(&mut self, orphans: &[String]) {}
}

/// Calls the handler's method for `event`. Returns false after `Closed`.
pub(crate) fn dispatch<H: WorkerCallbacks>(handler: &mut H, event: &WorkerEvent) -> bool {
    match event {
        WorkerEvent::JobActive { id } => handler.on_active(id),
        WorkerEvent::JobProgress { id, progress } => handler.on_progress(id, progress),
        WorkerEvent::JobCompleted { id, returnvalue } => handler.on_completed(id, returnvalue),
        WorkerEvent::JobFailed { id, reason, retry } => handler.on_failed(id, reason, *retry),
        WorkerEvent::JobCancelled { id, reason } => handler.on_cancelled(id, reason),
        WorkerEvent::JobStalled { id } => handler.on_stalled(id),
        WorkerEvent::LockLost { id } => handler.on_lock_renewal_failed(id),
        WorkerEvent::Drained => handler.on_drained(),
        WorkerEvent::Error { message } => handler.on_error(message),
        WorkerEvent::Closed { orphans } => {
            handler.on_closed(orphans);
            return false;
        }
        _ => {}
    }
    true
}
