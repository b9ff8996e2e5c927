//! Typed errors. Every variant says which operation failed and, where one is involved, which job.

use std::fmt;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the operation and the job it concerned.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis answered with an error or the connection failed.
    #[error("redis error during {operation}{}: {source}", job_suffix(.job_id))]
    Redis {
        /// The operation that was running (for example `add`, `moveToFinished`).
        operation: &'static str,
        /// The job concerned, if any.
        job_id: Option<String>,
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
    /// A script refused the operation with one of BullMQ's error codes (-1 .. -11).
    #[error("{0}")]
    Script(#[from] ScriptError),
    /// An option or argument is invalid; nothing was written to Redis.
    #[error("invalid {option}: {message}")]
    InvalidOption {
        /// The option or argument at fault (BullMQ's name, in snake_case).
        option: &'static str,
        /// Why it was refused.
        message: String,
    },
    /// A job stored in Redis (possibly by another client) cannot be decoded.
    #[error("job {job_id}: field `{field}` cannot be decoded: {message}")]
    CorruptJob {
        /// The job whose hash is corrupt.
        job_id: String,
        /// The hash field that failed to decode.
        field: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// The job does not exist.
    #[error("job {job_id} not found ({operation})")]
    JobNotFound {
        /// The operation that looked for it.
        operation: &'static str,
        /// The missing job.
        job_id: String,
    },
    /// A value could not be serialised to JSON (for example NaN or a failing `Serialize`).
    #[error("cannot serialise {what}{}: {source}", job_suffix(.job_id))]
    Serialize {
        /// What was being serialised (`data`, `returnvalue`, `progress`...).
        what: &'static str,
        /// The job concerned, if any.
        job_id: Option<String>,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Redis replied with something this client does not understand.
    #[error("unexpected reply to {operation}{}: {message}", job_suffix(.job_id))]
    UnexpectedReply {
        /// The operation whose reply was unexpected.
        operation: &'static str,
        /// The job concerned, if any.
        job_id: Option<String>,
        /// What was wrong with it.
        message: String,
    },
    /// The handle was closed.
    #[error("{0} is closed")]
    Closed(&'static str),
    /// The job failed (for example, seen by [`QueueEvents::wait_until_finished`](crate::QueueEvents::wait_until_finished)).
    #[error("job {job_id} failed: {reason}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// Its `failedReason`, raw text as stored.
        reason: String,
    },
    /// A wait ended without an answer.
    #[error("{operation}{} timed out after {after:?}", job_suffix(.job_id))]
    Timeout {
        /// What was waiting (`waitUntilFinished`...).
        operation: &'static str,
        /// The job concerned, if any.
        job_id: Option<String>,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// An actor (a worker tree, a supervisor, a child) could not be started.
    #[error("{what} could not start: {message}")]
    Spawn {
        /// What was starting.
        what: String,
        /// Why it could not.
        message: String,
    },
    /// A component that needs its own connection could not start (Redis unreachable, refused
    /// `CLIENT SETNAME`...).
    #[error("{operation} could not start: {message}")]
    Connection {
        /// What was starting.
        operation: &'static str,
        /// Why it could not.
        message: String,
    },
    /// The check phase of a [`Transaction`](crate::queue::Transaction) found a command that
    /// Redis would refuse once the writes had begun; nothing was written.
    #[error("transaction refused, nothing written: {command} (#{index}) on {key:?}: {reason}")]
    TransactionRefused {
        /// The command (`HSET`, `INCRBY`...), or `add` for a job add.
        command: &'static str,
        /// Its position (from 0) among the transaction's app commands or, for `add`, its jobs.
        index: usize,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        reason: TransactionRefusal,
    },
    /// The keys of one atomic operation hash to more than one Redis Cluster slot, which a
    /// cluster cannot run as one script; nothing was sent.
    #[error(
        "{operation}: on a Redis Cluster every key must be in the queue's hash slot {slot}, and {keys:?} \
         are not (give them the queue's hash tag, e.g. a prefix like `{{app}}`)"
    )]
    CrossSlot {
        /// The operation refused.
        operation: &'static str,
        /// The queue's slot (that of `prefix:name:`).
        slot: u16,
        /// The keys in other slots.
        keys: Vec<String>,
    },
}

/// Why the check phase of a [`Transaction`](crate::queue::Transaction) refused a command.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionRefusal {
    /// The key holds a value of another type than the command works on (Redis would answer
    /// `WRONGTYPE`), as the transaction's earlier commands leave it.
    WrongType {
        /// The type the key has (`string`, `list`, `set`, `zset`, `hash`, `stream`).
        found: String,
    },
    /// The target of `INCRBY` (or the hash field of `HINCRBY`) is not a 64-bit integer in
    /// Redis's decimal form.
    NotAnInteger {
        /// The hash field, for `HINCRBY`.
        field: Option<String>,
    },
    /// The increment would take the value out of the signed 64-bit range.
    Overflow {
        /// The hash field, for `HINCRBY`.
        field: Option<String>,
    },
}

impl fmt::Display for TransactionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |field: &Option<String>| field.as_ref().map(|x| format!(" (field {x:?})")).unwrap_or_default();
        match self {
            TransactionRefusal::WrongType { found } => write!(f, "the key holds a {found} (WRONGTYPE)"),
            TransactionRefusal::NotAnInteger { field: x } => write!(f, "the value{} is not an integer", field(x)),
            TransactionRefusal::Overflow { field: x } => {
                write!(f, "the increment would overflow a signed 64-bit integer{}", field(x))
            }
        }
    }
}

fn job_suffix(job_id: &Option<String>) -> String {
    match job_id {
        Some(id) => format!(" (job {id})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn redis(operation: &'static str, job_id: Option<&str>, source: redis::RedisError) -> Self {
        Error::Redis { operation, job_id: job_id.map(str::to_owned), source }
    }

    pub(crate) fn invalid(option: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidOption { option, message: message.into() }
    }

    pub(crate) fn unexpected(operation: &'static str, job_id: Option<&str>, message: impl Into<String>) -> Self {
        Error::UnexpectedReply { operation, job_id: job_id.map(str::to_owned), message: message.into() }
    }

    /// The script error code, when this error came from one of BullMQ's codes.
    pub fn script_code(&self) -> Option<ScriptErrorCode> {
        match self {
            Error::Script(e) => Some(e.code),
            _ => None,
        }
    }

    /// True when the error says Redis could not be reached or cannot serve yet (connection
    /// refused or dropped, I/O error, timeout, `LOADING`, `MASTERDOWN`, `TRYAGAIN`): waiting
    /// for Redis and trying again is the remedy, not giving up.
    pub fn is_connection_error(&self) -> bool {
        use redis::{ErrorKind, ServerErrorKind};
        match self {
            Error::Connection { .. } => true,
            Error::Redis { source, .. } => {
                source.is_io_error()
                    || source.is_connection_refusal()
                    || source.is_connection_dropped()
                    || source.is_timeout()
                    || matches!(
                        source.kind(),
                        ErrorKind::Server(
                            ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown | ServerErrorKind::TryAgain
                        )
                    )
            }
            _ => false,
        }
    }

    /// True when Redis refused the call for a reason that passes by itself: the connection
    /// ([`is_connection_error`](Self::is_connection_error)), or a server that cannot serve the
    /// call now: out of memory under `noeviction` (`OOM`), busy running a long script (`BUSY`),
    /// loading its data set (`LOADING`), a replica after a failover (`READONLY`), a cluster or
    /// master not available (`MASTERDOWN`, `CLUSTERDOWN`, `TRYAGAIN`), too few replicas
    /// (`NOREPLICAS`), or refusing writes until it can persist (`MISCONF`). Redis runs none of
    /// such a call (a script is refused before it starts), so retrying it later is safe; a
    /// worker waits and retries instead of failing.
    pub fn is_transient(&self) -> bool {
        if self.is_connection_error() {
            return true;
        }
        match self {
            Error::Redis { source, .. } => matches!(
                source.code(),
                Some("OOM" | "BUSY" | "LOADING" | "READONLY" | "MASTERDOWN" | "CLUSTERDOWN" | "TRYAGAIN")
                    | Some("NOREPLICAS" | "MISCONF")
            ),
            _ => false,
        }
    }

    /// True when the error means the worker no longer owns the job (lock missing or taken).
    pub fn is_lock_lost(&self) -> bool {
        matches!(self.script_code(), Some(ScriptErrorCode::JobLockNotExist | ScriptErrorCode::JobLockMismatch))
    }
}

/// BullMQ's script error codes, with Node's enum names.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptErrorCode {
    /// -1: the job hash is missing.
    JobNotExist,
    /// -2: the job's lock is missing.
    JobLockNotExist,
    /// -3: the job is not in the expected state.
    JobNotInState,
    /// -4: completing a parent whose children are pending.
    JobPendingChildren,
    /// -5: the parent job does not exist.
    ParentJobNotExist,
    /// -6: the lock is held under another token.
    JobLockMismatch,
    /// -7: a duplicate custom id already belongs to another live parent.
    ParentJobCannotBeReplaced,
    /// -8: the job is the current iteration of a job scheduler.
    JobBelongsToJobScheduler,
    /// -9: the job has failed children.
    JobHasFailedChildren,
    /// -10: a scheduler iteration id already exists.
    SchedulerJobIdCollision,
    /// -11: no free slot for an `every` scheduler iteration.
    SchedulerJobSlotsBusy,
}

impl ScriptErrorCode {
    /// Maps a negative script reply to its code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            -1 => Self::JobNotExist,
            -2 => Self::JobLockNotExist,
            -3 => Self::JobNotInState,
            -4 => Self::JobPendingChildren,
            -5 => Self::ParentJobNotExist,
            -6 => Self::JobLockMismatch,
            -7 => Self::ParentJobCannotBeReplaced,
            -8 => Self::JobBelongsToJobScheduler,
            -9 => Self::JobHasFailedChildren,
            -10 => Self::SchedulerJobIdCollision,
            -11 => Self::SchedulerJobSlotsBusy,
            _ => return None,
        })
    }

    /// The numeric code as the scripts return it.
    pub fn code(self) -> i64 {
        match self {
            Self::JobNotExist => -1,
            Self::JobLockNotExist => -2,
            Self::JobNotInState => -3,
            Self::JobPendingChildren => -4,
            Self::ParentJobNotExist => -5,
            Self::JobLockMismatch => -6,
            Self::ParentJobCannotBeReplaced => -7,
            Self::JobBelongsToJobScheduler => -8,
            Self::JobHasFailedChildren => -9,
            Self::SchedulerJobIdCollision => -10,
            Self::SchedulerJobSlotsBusy => -11,
        }
    }
}

/// A script refusal. Its `Display` text is the message Node BullMQ produces for the same code,
/// because failed reasons written from it travel between Node and Rust processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// Which refusal.
    pub code: ScriptErrorCode,
    /// The job concerned.
    pub job_id: String,
    /// The script (Node's command name, e.g. `moveToFinished`).
    pub command: &'static str,
    /// The expected state (for -3 and -6) or the parent key (for -5 and -7).
    pub detail: String,
}

impl std::error::Error for ScriptError {}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, cmd, detail) = (&self.job_id, self.command, &self.detail);
        match self.code {
            ScriptErrorCode::JobNotExist => write!(f, "Missing key for job {id}. {cmd}"),
            ScriptErrorCode::JobLockNotExist => write!(f, "Missing lock for job {id}. {cmd}"),
            ScriptErrorCode::JobNotInState => {
                write!(f, "Job {id} is not in the {detail} state. {cmd}")
            }
            ScriptErrorCode::JobPendingChildren => {
                write!(f, "Job {id} has pending dependencies. {cmd}")
            }
            ScriptErrorCode::ParentJobNotExist => {
                write!(f, "Missing key for parent job {detail}. {cmd}")
            }
            ScriptErrorCode::JobLockMismatch => {
                write!(f, "Lock mismatch for job {id}. Cmd {cmd} from {detail}")
            }
            ScriptErrorCode::ParentJobCannotBeReplaced => {
                write!(f, "The parent job {detail} cannot be replaced. {cmd}")
            }
            ScriptErrorCode::JobBelongsToJobScheduler => {
                write!(f, "Job {id} belongs to a job scheduler and cannot be removed directly. {cmd}")
            }
            ScriptErrorCode::JobHasFailedChildren => {
                write!(f, "Cannot complete job {id} because it has at least one failed child. {cmd}")
            }
            ScriptErrorCode::SchedulerJobIdCollision => {
                write!(f, "Cannot create job scheduler iteration - job ID already exists. {cmd}")
            }
            ScriptErrorCode::SchedulerJobSlotsBusy => {
                write!(f, "Cannot create job scheduler iteration - no available time slots. {cmd}")
            }
        }
    }
}

impl ScriptError {
    /// Builds the error for a negative reply, or `None` when the reply is not a known code.
    pub(crate) fn from_reply(code: i64, job_id: &str, command: &'static str, detail: &str) -> Option<Self> {
        ScriptErrorCode::from_code(code).map(|code| ScriptError {
            code,
            job_id: job_id.to_owned(),
            command,
            detail: detail.to_owned(),
        })
    }
}
