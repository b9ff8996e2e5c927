//! What a handler receives besides its payload ([`JobMeta`]) and what it returns ([`Handled`]).

use std::time::Duration;

use serde_json::Value;

use crate::job::{Job, JobError, JobOutcome};

/// Bedrock's job metadata, handed to every handler.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMeta {
    /// The topic: the job's name.
    pub topic: String,
    /// The tenant: the queue the job came from.
    pub tenant: String,
    /// The job id.
    pub job_id: String,
    /// Which attempt this is, from 1 (attempts made so far + 1).
    pub attempt: u64,
}

impl JobMeta {
    pub(super) fn of(job: &Job, tenant: &str) -> Self {
        JobMeta {
            topic: job.name.clone(),
            tenant: tenant.to_owned(),
            job_id: job.id.clone(),
            attempt: job.attempts_made + 1,
        }
    }
}

/// What a handler decided (an `Err(JobError)` is a failure, retried with backoff per the job's
/// attempts).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Done.
    Ok,
    /// Done, with this result (the job's return value).
    OkWith(Value),
    /// Run again after this long: the job goes back to delayed. As for any delayed re-run in
    /// BullMQ, its attempts started go up and its attempts made do not, so a snooze does not
    /// use a retry; `WorkerOptions::max_started_attempts` bounds how often it can snooze.
    Snooze(Duration),
    /// Failed at once, not retried, with this reason recorded as the failed reason.
    Discard(String),
}

impl Handled {
    pub(super) fn into_outcome(self) -> Result<JobOutcome, JobError> {
        match self {
            Handled::Ok => Ok(JobOutcome::Completed(Value::Null)),
            Handled::OkWith(v) => Ok(JobOutcome::Completed(v)),
            Handled::Snooze(after) => Ok(JobOutcome::Delay(after)),
            Handled::Discard(reason) => Err(JobError::unrecoverable(reason)),
        }
    }
}
