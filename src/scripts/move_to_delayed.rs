//! `moveToDelayed-1`: an active job to delayed, for a retry with backoff or a processor that
//! asked to run later (PROTOCOL.md §12.4).

use std::time::Duration;

use redis::Value;

use super::fetch::{decode_code_or_fetch, CodeOrFetch, FetchArgs};
use super::{code, flag, script_def};
use crate::connection::Client;
use crate::error::{Error, Result};

script_def!("moveToDelayed-1");

/// Moves job `id` (held under `fetch.token`) to delayed, due `delay` after `fetch.now`.
pub(crate) struct MoveToDelayed<'a> {
    pub(crate) id: &'a str,
    pub(crate) delay: Duration,
    /// Do not count an attempt (a processor's own delay rather than a retry).
    pub(crate) skip_attempt: bool,
    pub(crate) failed_reason: Option<&'a str>,
    /// The whole `stacktrace` JSON to store, or none.
    pub(crate) stacktrace: Option<&'a str>,
    pub(crate) fetch: &'a FetchArgs<'a>,
}

impl MoveToDelayed<'_> {
    /// Refusals: -1 (no job), -2 (no lock), -3 (not active), -6 (lock held by another).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id)
            .arg(self.delay.as_millis() as u64)
            .arg(flag(self.skip_attempt))
            .arg(self.failed_reason.unwrap_or(""))
            .arg(self.stacktrace.unwrap_or(""))
            // The script could take the next job too; no caller wants it from a delay.
            .arg(flag(false));
        self.fetch.push(&mut inv);
        let reply: Value = inv.run(client, "moveToDelayed", Some(self.id)).await?;
        match decode_code_or_fetch(reply).map_err(|e| Error::redis("moveToDelayed", Some(self.id), e))? {
            CodeOrFetch::Code(c) => code(c, self.id, "moveToDelayed", "active").map(|_| ()),
            CodeOrFetch::Fetched(_) => Ok(()),
        }
    }
}
