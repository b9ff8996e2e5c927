//! The retry delay (PROTOCOL.md §19): built-in fixed and exponential strategies with jitter, and
//! the worker's custom strategy for other types.

use std::sync::Arc;
use std::time::Duration;

use super::options::{Backoff, BackoffType};
use super::outcome::JobError;
use super::record::Job;

/// A custom backoff strategy: `(attempt, backoff type, error, job)` to the wait before the next
/// attempt (`Duration::ZERO`: at once), or `None` to stop retrying. `attempt` is the 1-based
/// number of the attempt that just failed.
pub type BackoffStrategy = Arc<dyn Fn(u64, &str, &JobError, &Job) -> Option<Duration> + Send + Sync>;

/// What the backoff says about the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextAttempt {
    /// Retry after this long (zero: at once).
    After(Duration),
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
        return NextAttempt::After(Duration::ZERO);
    };
    let base = b.delay.map(|d| d.as_millis() as f64).unwrap_or(0.0);
    let jitter = |d: f64| match b.jitter {
        Some(j) if j > 0.0 => (fastrand::f64() * d * j + d * (1.0 - j)).floor(),
        _ => d,
    };
    let ms = |f: f64| NextAttempt::After(Duration::from_millis(f as u64));
    match &b.kind {
        BackoffType::Fixed => ms(jitter(base)),
        BackoffType::Exponential => {
            let exp = attempt.saturating_sub(1).min(62) as i32;
            ms(jitter((2f64.powi(exp) * base).round()))
        }
        BackoffType::Custom(name) => match custom {
            Some(f) => match f(attempt, name, err, job) {
                Some(d) => NextAttempt::After(d),
                None => NextAttempt::Stop,
            },
            None => NextAttempt::Unknown(name.clone()),
        },
    }
}
