//! The job model, at the bottom of the crate: the record ([`Job`]), its options and their
//! stored form, its states, the retry backoff, and what a processor returns. Nothing here
//! talks to Redis.

mod backoff;
mod bulk;
mod options;
mod outcome;
mod record;
mod state;

pub use backoff::BackoffStrategy;
pub(crate) use backoff::{next_attempt, NextAttempt};
pub use bulk::BulkJob;
pub(crate) use options::{epoch_ms, ms, Retention};
pub use options::{
    Backoff, BackoffType, Deduplication, JobOptions, KeepJobs, ParentFailurePolicy, ParentOptions, Telemetry,
    MAX_PRIORITY,
};
pub use outcome::{JobError, JobOutcome};
pub(crate) use record::pairs_to_map;
pub use record::{Job, ParentRef};
pub use state::JobState;
