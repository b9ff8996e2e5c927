//! Lifecycle events of a worker tree, delivered losslessly (unbounded channels) to every
//! subscriber.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::job_msg::CancelReason;

/// What happened in a worker tree. `Display` prints it as a log line (`job 2 cancelled by
/// user: demo`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    /// A child actor (lock-renewer, stalled-checker, acker, fetcher) started.
    ChildStarted {
        /// The child's role.
        child: String,
    },
    /// A child actor failed.
    ChildFailed {
        /// The child's role.
        child: String,
        /// Why.
        reason: String,
    },
    /// A failed child was started again.
    ChildRestarted {
        /// The child's role.
        child: String,
        /// Restarts inside the intensity window.
        restarts: usize,
    },
    /// Children failed more often than the restart intensity allows: the worker gives up and
    /// fails, escalating to its own supervisor.
    Meltdown {
        /// The restarts allowed.
        max_restarts: u32,
    },
    /// A job started (its job actor is running the processor).
    JobActive {
        /// The job id.
        id: String,
    },
    /// A job reported progress.
    JobProgress {
        /// The job id.
        id: String,
        /// The progress (a number or an object).
        progress: Value,
    },
    /// A job completed.
    JobCompleted {
        /// The job id.
        id: String,
        /// Its return value.
        returnvalue: Value,
    },
    /// A job failed; `retry` tells whether it will run again.
    JobFailed {
        /// The job id.
        id: String,
        /// The failed reason.
        reason: String,
        /// True when the job was scheduled for another attempt.
        retry: bool,
    },
    /// A job's processor asked for a delay, a rate limit or a return to waiting.
    JobMoved {
        /// The job id.
        id: String,
        /// Where it went: `delayed`, `waiting` or `waiting-children`.
        to: String,
    },
    /// A job was cancelled.
    JobCancelled {
        /// The job id.
        id: String,
        /// Why.
        reason: CancelReason,
    },
    /// The stalled check put a job back to wait.
    JobStalled {
        /// The job id.
        id: String,
    },
    /// A job's lock could not be renewed: it may be running elsewhere now.
    LockLost {
        /// The job id.
        id: String,
    },
    /// A take found an id whose job is gone (its hash deleted, e.g. by a `DEL` or a removal
    /// that raced the take, or left holding no name and data): nothing ran, the id left active
    /// with its lock, and the worker took again.
    JobMissing {
        /// The id taken.
        id: String,
    },
    /// A child could not get a call through: Redis is unreachable, or refused the call for a
    /// passing reason (full, busy with a script, loading, a replica after a failover: see
    /// [`Error::is_transient`](crate::Error::is_transient)). The child waits and tries the same
    /// call again; it does not fail, and nothing it carried is dropped. Emitted once per outage
    /// and child.
    ConnectionLost {
        /// The child's role (`fetcher`, `acker`, `lock-renewer`, `stalled-checker`).
        child: String,
        /// The error that revealed it (the Redis error text, e.g. `OOM ...` or `BUSY ...`).
        error: String,
    },
    /// The child's call went through again: the outage it reported is over.
    ConnectionRestored {
        /// The child's role.
        child: String,
        /// How long the child could not get through, in ms.
        down_ms: u64,
    },
    /// The queue has no job to take (emitted once each time it runs dry).
    Drained,
    /// An error that did not stop the tree (e.g. a Redis error the fetcher will retry).
    Error {
        /// The error text.
        message: String,
    },
    /// The worker stopped. `orphans` were still active and are left to the stalled check.
    Closed {
        /// Jobs left active.
        orphans: Vec<String>,
    },
}

impl std::fmt::Display for WorkerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use WorkerEvent::*;
        match self {
            ChildStarted { child } => write!(f, "{child} started"),
            ChildFailed { child, reason } => write!(f, "{child} failed: {reason}"),
            ChildRestarted { child, restarts } => write!(f, "{child} restarted ({restarts} in the window)"),
            Meltdown { max_restarts } => write!(f, "meltdown: more than {max_restarts} restarts, the worker gives up"),
            JobActive { id } => write!(f, "job {id} active"),
            JobProgress { id, progress } => write!(f, "job {id} progress: {progress}"),
            JobCompleted { id, returnvalue } => write!(f, "job {id} completed: {returnvalue}"),
            JobFailed { id, reason, retry: true } => write!(f, "job {id} failed, will retry: {reason}"),
            JobFailed { id, reason, retry: false } => write!(f, "job {id} failed: {reason}"),
            JobMoved { id, to } => write!(f, "job {id} moved to {to}"),
            JobCancelled { id, reason: CancelReason::User(text) } => write!(f, "job {id} cancelled by user: {text}"),
            JobCancelled { id, reason: CancelReason::Timeout(after) } => {
                write!(f, "job {id} timed out after {} ms", after.as_millis())
            }
            JobCancelled { id, reason } => write!(f, "job {id} cancelled: {reason}"),
            JobStalled { id } => write!(f, "job {id} stalled, back to wait"),
            LockLost { id } => write!(f, "job {id} lost its lock"),
            JobMissing { id } => write!(f, "job {id} is gone (no hash, or no name and data): skipped, not run"),
            ConnectionLost { child, error } => write!(f, "{child} cannot get through to Redis: {error}"),
            ConnectionRestored { child, down_ms } => write!(f, "{child} got through to Redis again after {down_ms} ms"),
            Drained => f.write_str("queue drained"),
            Error { message } => write!(f, "error: {message}"),
            Closed { orphans } if orphans.is_empty() => f.write_str("closed"),
            Closed { orphans } => write!(f, "closed, jobs left active: {}", orphans.join(", ")),
        }
    }
}

/// The subscriber list, shared by the worker and its children.
#[derive(Clone, Default)]
pub(crate) struct EventBus {
    subscribers: Arc<Mutex<Vec<UnboundedSender<WorkerEvent>>>>,
}

impl EventBus {
    pub(crate) fn subscribe(&self) -> UnboundedReceiver<WorkerEvent> {
        let (tx, rx) = unbounded_channel();
        if let Ok(mut s) = self.subscribers.lock() {
            s.push(tx);
        }
        rx
    }

    pub(crate) fn emit(&self, event: WorkerEvent) {
        if let Ok(mut s) = self.subscribers.lock() {
            s.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }
}
