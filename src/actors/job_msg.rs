//! The job actor's messages: what users send it (`Cancel`) and what it sends itself (sealed).
//! They live apart from the actor because the context handed to processors names them, and the
//! actor builds that context: with both in one file, the two would import each other.

use crate::job::{JobError, JobOutcome};

/// Why a job is cancelled.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// Asked for by a user; the job fails with `job cancelled: <text>` (and may be retried).
    User(String),
    /// The lock could not be renewed: another worker may run the job, so this one must not
    /// finish it.
    LockLost,
    /// The worker is shutting down; the job is left for the stalled check to recover.
    Shutdown,
    /// The job ran longer than its timeout (its `timeout` option, or one a processor set with
    /// [`JobContext::set_timeout`](crate::JobContext::set_timeout)); it fails with `job timed
    /// out after <ms> ms` and is retried per its attempts.
    Timeout(std::time::Duration),
}

impl CancelReason {
    /// The failed reason a job cancelled this way is stored with, when it fails (a user's
    /// cancel or a timeout; a lost lock or a shutdown leave the job to the stalled check).
    pub(crate) fn failure_text(&self) -> Option<String> {
        match self {
            CancelReason::User(text) => Some(format!("job cancelled: {text}")),
            CancelReason::Timeout(after) => Some(format!("job timed out after {} ms", after.as_millis())),
            CancelReason::LockLost | CancelReason::Shutdown => None,
        }
    }
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::User(s) => write!(f, "{s}"),
            CancelReason::LockLost => f.write_str("lock lost"),
            CancelReason::Shutdown => f.write_str("worker shutting down"),
            CancelReason::Timeout(after) => write!(f, "timed out after {} ms", after.as_millis()),
        }
    }
}

/// Messages of a job actor. Users send `Cancel`; the rest is the actor's own business.
pub enum JobMsg {
    /// Cancel the job: its processor sees its token cancelled and is aborted if it has not
    /// stopped within the grace period.
    Cancel {
        /// Why.
        reason: CancelReason,
    },
    /// The actor's own messages (no value of this can be built outside the crate).
    #[doc(hidden)]
    Internal(Internal),
}

impl std::fmt::Debug for JobMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobMsg::Cancel { reason } => f.debug_struct("Cancel").field("reason", reason).finish(),
            JobMsg::Internal(_) => f.write_str("Internal"),
        }
    }
}

/// A message of the job actor to itself: sealed (its field is private).
#[doc(hidden)]
pub struct Internal(pub(super) InternalMsg);

impl std::fmt::Debug for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Internal")
    }
}

pub(super) enum InternalMsg {
    /// The processor returned (or panicked, with the panic's message) at `finished_us`.
    Done { result: Result<Result<JobOutcome, JobError>, String>, finished_us: u64 },
    /// The grace after a cancel ran out.
    GraceExpired,
    /// Fault injection (feature `testing`): panic in the actor itself.
    #[cfg(feature = "testing")]
    Panic,
}

/// The job actor's message that makes it panic (fault injection).
#[cfg(feature = "testing")]
pub(crate) fn panic_message() -> JobMsg {
    JobMsg::Internal(Internal(InternalMsg::Panic))
}
