//! An acknowledgement: what a job actor asks the acker to do with its job's outcome.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::flow::Slot;
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
    /// A user's cancel: the job fails with `job cancelled: <text>`, `err` kept as the cause.
    Cancelled {
        text: String,
        err: JobError,
    },
    Delay(Duration),
    RateLimit(Duration),
    Wait,
    WaitingChildren,
}

/// One job's acknowledgement.
pub(crate) struct Ack {
    pub(crate) taken: Box<Taken>,
    pub(crate) kind: AckKind,
    /// The job's slot: refilled by the completion call when it takes a job for it, else freed.
    pub(crate) slot: Option<Slot>,
    /// Answered once the outcome is in Redis (or failed to get there).
    pub(crate) reply: oneshot::Sender<Result<()>>,
}
