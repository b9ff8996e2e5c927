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
