//! `removeJobScheduler-1`: remove a job scheduler (or a legacy repeatable entry) and its
//! pending iteration (PROTOCOL.md §15.7).

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("removeJobScheduler-1");

/// Removes scheduler `id`.
pub(crate) struct RemoveJobScheduler<'a> {
    pub(crate) id: &'a str,
}

impl RemoveJobScheduler<'_> {
    /// True when the scheduler existed.
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id);
        let n: i64 = inv.run(client, "removeJobScheduler", None).await?;
        Ok(n == 1)
    }
}
