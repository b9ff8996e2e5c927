//! Job states with Node's names.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Where a job is. `as_str` gives Node's names (`waiting-children`, ...).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Finished successfully (kept).
    Completed,
    /// Failed for good (kept).
    Failed,
    /// Waiting for a time.
    Delayed,
    /// Being processed.
    Active,
    /// Ready, priority 0.
    Waiting,
    /// Ready, with a priority.
    Prioritized,
    /// A parent waiting for its children.
    WaitingChildren,
    /// Not found in any state.
    Unknown,
}

impl JobState {
    /// Node's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Delayed => "delayed",
            JobState::Active => "active",
            JobState::Waiting => "waiting",
            JobState::Prioritized => "prioritized",
            JobState::WaitingChildren => "waiting-children",
            JobState::Unknown => "unknown",
        }
    }

    /// The Redis key suffix of the structure holding this state.
    pub(crate) fn key(self) -> Option<&'static str> {
        match self {
            JobState::Waiting => Some("wait"),
            JobState::Unknown => None,
            other => Some(other.as_str()),
        }
    }

    /// True for the states kept in lists (as opposed to sorted sets).
    pub(crate) fn is_list(self) -> bool {
        matches!(self, JobState::Waiting | JobState::Active)
    }

    /// The states Node's `getJobCounts()` reports by default.
    pub const DEFAULT_COUNTS: [JobState; 7] = [
        JobState::Active,
        JobState::Completed,
        JobState::Delayed,
        JobState::Failed,
        JobState::Prioritized,
        JobState::Waiting,
        JobState::WaitingChildren,
    ];
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "delayed" => JobState::Delayed,
            "active" => JobState::Active,
            "waiting" | "wait" => JobState::Waiting,
            "prioritized" => JobState::Prioritized,
            "waiting-children" => JobState::WaitingChildren,
            "unknown" => JobState::Unknown,
            other => return Err(Error::invalid("state", format!("unknown job state {other:?}"))),
        })
    }
}
