//! `moveToFinished-1`: complete or finally fail an active job, optionally taking the next one
//! (PROTOCOL.md §12.3).

use redis::Value;

use super::fetch::{decode_code_or_fetch, CodeOrFetch, FetchArgs, FetchReply};
use super::{code, flag, opt_arg, script_def};
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::Retention;

script_def!("moveToFinished-1");

/// Where a finished job goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishTarget {
    Completed,
    Failed,
}

/// Completes (with a return value) or fails (with a reason) job `id` held under `fetch.token`.
pub(crate) struct MoveToFinished<'a> {
    pub(crate) id: &'a str,
    pub(crate) target: FinishTarget,
    /// The return value JSON (completed) or the failed reason (failed).
    pub(crate) value: &'a str,
    pub(crate) retention: Retention,
    /// The job's `opts.attempts`, for `retries-exhausted`.
    pub(crate) attempts: u32,
    pub(crate) metrics_max_data_points: Option<u64>,
    /// The whole `stacktrace` JSON to store (failures), or none.
    pub(crate) stacktrace: Option<&'a str>,
    pub(crate) fetch_next: bool,
    pub(crate) fetch: &'a FetchArgs<'a>,
}

impl MoveToFinished<'_> {
    /// `None` when done without a next job; `Some` with what the fetch of the next one found.
    /// Refusals: -1 (no job), -2 (no lock), -3 (not active), -4 (pending children), -6 (lock
    /// held by another), -9 (failed children).
    pub(crate) async fn run(&self, client: &Client) -> Result<Option<FetchReply>> {
        let mut inv = DEF.call(&client.keys().base);
        let r = self.retention;
        inv.arg(self.id)
            .arg(match self.target {
                FinishTarget::Completed => "completed",
                FinishTarget::Failed => "failed",
            })
            .arg(self.value)
            .arg(flag(self.fetch_next))
            .arg(r.count)
            .arg(opt_arg(r.age_secs))
            .arg(opt_arg(r.limit))
            .arg(self.attempts)
            .arg(opt_arg(self.metrics_max_data_points))
            .arg(self.stacktrace.unwrap_or(""));
        self.fetch.push(&mut inv);
        let reply: Value = inv.run(client, "moveToFinished", Some(self.id)).await?;
        match decode_code_or_fetch(reply).map_err(|e| Error::redis("moveToFinished", Some(self.id), e))? {
            CodeOrFetch::Code(c) => code(c, self.id, "moveToFinished", "active").map(|_| None),
            CodeOrFetch::Fetched(next) => Ok(Some(next)),
        }
    }
}
