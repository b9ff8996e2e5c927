//! The retry delay (PROTOCOL.md §19): built-in fixed and exponential strategies with jitter, and
//! the worker's custom strategy for other types.

use crate::job::Job;
use crate::manual::JobError;
use crate::options::Backoff;
use crate::worker_options::BackoffStrategy;

/// What the backoff says about the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextAttempt {
    /// Retry after this many ms (0: at once).
    After(u64),
    /// Do not retry.
    Stop,
    /// The type is neither built in nor handled by a custom strategy.
    Unknown(String),
}

/// `attempt` is the 1-based number of the attempt that just failed.
pub(crate) fn next_attempt(
    backoff: Option<&Backoff>,
    attempt: u64,
    err: &JobError,
    job: &Job,
    custom: Option<&BackoffStrategy>,
) -> NextAttempt {
    let Some(b) = backoff else {
        return NextAttempt::After(0);
    };
    let base = b.delay.unwrap_or(0) as f64;
    let jitter = |d: f64| match b.jitter {
        Some(j) if j > 0.0 => (fastrand::f64() * d * j + d * (1.0 - j)).floor(),
        _ => d,
    };
    match b.kind.as_str() {
        "fixed" => NextAttempt::After(jitter(base) as u64),
        "exponential" => {
            let exp = attempt.saturating_sub(1).min(62) as i32;
            NextAttempt::After(jitter((2f64.powi(exp) * base).round()) as u64)
        }
        other => match custom {
            Some(f) => match f(attempt, other, err, job) {
                Some(d) if d < 0 => NextAttempt::Stop,
                Some(d) => NextAttempt::After(d as u64),
                None => NextAttempt::After(0),
            },
            None => NextAttempt::Unknown(other.to_owned()),
        },
    }
}
