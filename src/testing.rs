//! Test helpers (feature `testing`), for tests of this crate and of applications built on it:
//! the stored (wire) form of job options, and fault injection
//! ([`Worker::inject_panic`](crate::Worker::inject_panic)).

use serde_json::Value;

use crate::job::JobOptions;

/// The `opts` JSON a job is stored with, with Node's short keys.
pub fn stored_options(opts: &JobOptions) -> Value {
    opts.to_stored()
}

/// Job options read from stored `opts` JSON (short or long names), or why they cannot be.
pub fn options_from_stored(stored: &Value) -> Result<JobOptions, String> {
    JobOptions::from_stored(stored)
}

/// `opts` merged over `defaults` as a queue merges its default job options (set fields win).
pub fn merged_options(opts: &JobOptions, defaults: &JobOptions) -> JobOptions {
    opts.merged_over(defaults)
}

/// The first `n` occurrences of cron `pattern` in `tz` after `current_ms`, as cron-parser's
/// iterator yields them (it carries a daylight-saving mark from one step to the next, so around
/// a spring-forward gap this can differ from asking afresh from each occurrence, which is what a
/// scheduler does: see [`cron_next_within`]); `Err` with the reason when the pattern is refused.
pub fn cron_occurrences(pattern: &str, tz: Option<&str>, current_ms: i64, n: usize) -> Result<Vec<i64>, String> {
    let cron = crate::schedulers::Cron::parse(pattern, tz)?;
    Ok(cron.occurrences(current_ms, None, None).take(n).collect())
}

/// The next occurrence of cron `pattern` in `tz` after `current_ms` within the optional start
/// and end dates, as BullMQ's default repeat strategy asks cron-parser for it.
pub fn cron_next_within(
    pattern: &str,
    tz: Option<&str>,
    current_ms: i64,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
) -> Result<Option<i64>, String> {
    Ok(crate::schedulers::Cron::parse(pattern, tz)?.next_within(current_ms, start_ms, end_ms))
}
