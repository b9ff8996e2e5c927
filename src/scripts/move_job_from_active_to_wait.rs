//! `moveJobFromActiveToWait-1`: an active job back to the front of the line without using an
//! attempt (PROTOCOL.md §12.6).

use std::time::Duration;

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("moveJobFromActiveToWait-1");

/// Puts job `id` (held under `token`) back in front.
pub(crate) struct MoveJobFromActiveToWait<'a> {
    pub(crate) id: &'a str,
    pub(crate) token: &'a str,
}

impl MoveJobFromActiveToWait<'_> {
    /// The rate limit still to run on the queue's limiter key (zero: none). Refusals: -1 (no
    /// job), -2 (no lock), -6 (lock held by another).
    pub(crate) async fn run(&self, client: &Client) -> Result<Duration> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(self.token);
        let reply: i64 = inv.run(client, "moveJobFromActiveToWait", Some(self.id)).await?;
        code(reply, self.id, "moveJobFromActiveToWait", "active").map(|ms| Duration::from_millis(ms as u64))
    }
}
