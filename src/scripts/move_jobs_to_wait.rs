//! `moveJobsToWait-1`: failed, completed or delayed jobs back to wait in bulk.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("moveJobsToWait-1");

/// Moves up to `count` jobs of `state` (finished before `up_to`, ms or `+inf`) back to wait.
pub(crate) struct MoveJobsToWait<'a> {
    pub(crate) state: &'a str,
    pub(crate) count: u64,
    pub(crate) up_to: &'a str,
}

impl MoveJobsToWait<'_> {
    /// True while more are left to move.
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.state).arg(self.count).arg(self.up_to);
        Ok(inv.run::<i64>(client, "moveJobsToWait", None).await? == 1)
    }
}
