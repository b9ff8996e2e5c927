//! `reprocessJob-1`: run a finished job again (PROTOCOL.md §12.20).

use super::{code, flag, script_def};
use crate::connection::Client;
use crate::error::Result;
use crate::job::JobState;

script_def!("reprocessJob-1");

/// Moves job `id` from `state` (failed or completed) back to wait.
pub(crate) struct ReprocessJob<'a> {
    pub(crate) id: &'a str,
    pub(crate) state: JobState,
    pub(crate) reset_attempts_made: bool,
    pub(crate) reset_attempts_started: bool,
    pub(crate) lifo: bool,
}

impl ReprocessJob<'_> {
    /// Refusals: -1 (no job), -3 (not in `state`).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id)
            .arg(self.state.as_str())
            .arg(flag(self.reset_attempts_made))
            .arg(flag(self.reset_attempts_started))
            .arg(flag(self.lifo));
        let reply: i64 = inv.run(client, "reprocessJob", Some(self.id)).await?;
        code(reply, self.id, "reprocessJob", self.state.as_str()).map(|_| ())
    }
}
