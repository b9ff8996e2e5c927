//! A task bound to an actor's life. ractor runs `post_stop` only after a clean stop: when a
//! handler fails or panics, the actor's state is dropped without it. Keeping the task's abort
//! handle in a guard (in the actor's state) whose `Drop` aborts it ties the task to the actor
//! either way, so a crashed child never leaves its loop running beside the restarted one. It is
//! also how an actor does long work without blocking its mailbox: a stop is handled between
//! messages, and a handler awaiting a blocking read would hold it up.

use tokio::task::AbortHandle;

pub(crate) struct TaskGuard(AbortHandle);

impl TaskGuard {
    pub(crate) fn new(handle: AbortHandle) -> Self {
        TaskGuard(handle)
    }

    pub(crate) fn abort(&self) {
        self.0.abort();
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
