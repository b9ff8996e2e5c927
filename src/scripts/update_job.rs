//! `updateJob-1`: a job's progress, data, or one more log line (PROTOCOL.md §12.16).

use super::{code, opt_arg, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("updateJob-1");

/// Which part of a job to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobField {
    /// `progress` (JSON), with a `progress` event.
    Progress,
    /// `data` (JSON).
    Data,
    /// One more line of the job's log.
    Log,
}

/// Writes `value` to `field` of job `id`.
pub(crate) struct UpdateJob<'a> {
    pub(crate) id: &'a str,
    pub(crate) field: JobField,
    pub(crate) value: &'a str,
    /// For logs: keep only the newest this many lines.
    pub(crate) keep_logs: Option<u64>,
}

impl UpdateJob<'_> {
    /// For a log, the number of lines it now has (0 otherwise). Refusal: -1 (no job).
    pub(crate) async fn run(&self, client: &Client) -> Result<u64> {
        let (what, op) = match self.field {
            JobField::Progress => ("progress", "updateProgress"),
            JobField::Data => ("data", "updateData"),
            JobField::Log => ("log", "addLog"),
        };
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(what).arg(self.value).arg(opt_arg(self.keep_logs));
        let reply: i64 = inv.run(client, op, Some(self.id)).await?;
        code(reply, self.id, op, "").map(|n| n as u64)
    }
}
