//! An acknowledgement: what a job actor asks the acker to do with its job's outcome. One that is
//! dropped unanswered (the acker died while it held it, before sending anything to Redis: every
//! call it sends runs detached and answers) puts itself back in the acker's queue, so the next
//! acker sends it: an acknowledgement is answered or still queued, never lost.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::flow::Slot;
use super::job_msg::CancelReason;
use super::registry::JobPhase;
use crate::engine::Taken;
use crate::error::Result;
use crate::job::JobError;

/// What a job actor asks the acker to do with its job.
pub(crate) enum AckKind {
    Complete {
        value: Value,
        finished_us: u64,
    },
    Fail(JobError),
    /// A user's cancel or a timeout: the job fails with the reason's failure text, `err` kept
    /// as the cause.
    Cancelled {
        reason: CancelReason,
        err: JobError,
    },
    Delay(Duration),
    RateLimit(Duration),
    Wait,
    WaitingChildren,
}

/// What an acknowledgement carries.
pub(crate) struct Pending {
    pub(crate) taken: Box<Taken>,
    pub(crate) kind: AckKind,
    /// The job's slot: refilled by the completion call when it takes a job for it, else freed.
    pub(crate) slot: Option<Slot>,
    /// Answered once the outcome is in Redis (or failed to get there).
    pub(crate) reply: oneshot::Sender<Result<()>>,
    /// The job's phase, shared with its actor and the registry: done once the outcome is in.
    pub(crate) phase: Arc<JobPhase>,
}

/// One job's acknowledgement (reads as its [`Pending`]).
pub(crate) struct Ack {
    pending: Option<Pending>,
    /// The acker's queue, where an acknowledgement dropped unanswered goes back.
    queue: UnboundedSender<Ack>,
}

impl Ack {
    pub(crate) fn new(pending: Pending, queue: UnboundedSender<Ack>) -> Self {
        Ack { pending: Some(pending), queue }
    }

    /// Answers the job actor with `result`; returns what the acknowledgement carried.
    pub(crate) fn answer(mut self, result: Result<()>) -> Pending {
        let mut p = self.pending.take().expect("an acknowledgement is answered once");
        if result.is_ok() {
            // Marked before the actor hears it: from here the job is no longer active for this
            // worker (`Worker::active_jobs`, the orphans of a close or meltdown).
            p.phase.done();
        }
        let (tx, _) = oneshot::channel();
        let _ = std::mem::replace(&mut p.reply, tx).send(result);
        p
    }
}

impl Deref for Ack {
    type Target = Pending;
    fn deref(&self) -> &Pending {
        self.pending.as_ref().expect("answered acknowledgements are not read")
    }
}

impl DerefMut for Ack {
    fn deref_mut(&mut self) -> &mut Pending {
        self.pending.as_mut().expect("answered acknowledgements are not read")
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            // Closed only once the worker is gone: then there is nobody to send it anyway.
            let _ = self.queue.send(Ack { pending: Some(p), queue: self.queue.clone() });
        }
    }
}
