//! `extendLocks-1`: renew many locks in one call (PROTOCOL.md §12.8).

use std::time::Duration;

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("extendLocks-1");

/// Renews the lock of each `(job id, token)` for `duration`.
pub(crate) struct ExtendLocks<'a> {
    pub(crate) duration: Duration,
    pub(crate) jobs: &'a [(String, String)],
}

impl ExtendLocks<'_> {
    /// The ids whose lock was not theirs any more (missing or held under another token).
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<String>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.duration.as_millis() as u64);
        for (id, token) in self.jobs {
            inv.arg(id).arg(token);
        }
        inv.run(client, "extendLocks", None).await
    }
}
