//! `retryJob-1`: an active job straight back to wait for another attempt (PROTOCOL.md §12.5).

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("retryJob-1");

/// Puts job `id` (held under `token`) back to wait, counting the attempt.
pub(crate) struct RetryJob<'a> {
    pub(crate) id: &'a str,
    pub(crate) now: u64,
    pub(crate) token: &'a str,
    /// Served next (LIFO) instead of at the back.
    pub(crate) lifo: bool,
    pub(crate) failed_reason: &'a str,
    /// The whole `stacktrace` JSON to store.
    pub(crate) stacktrace: &'a str,
}

impl RetryJob<'_> {
    /// Refusals: -1 (no job), -2 (no lock), -3 (not active), -6 (lock held by another).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id)
            .arg(self.now)
            .arg(self.token)
            .arg(if self.lifo { "RPUSH" } else { "LPUSH" })
            .arg(self.failed_reason)
            .arg(self.stacktrace);
        let reply: i64 = inv.run(client, "retryJob", Some(self.id)).await?;
        code(reply, self.id, "retryJob", "active").map(|_| ())
    }
}
