//! `moveStalledJobsToWait-1`: the stalled check (PROTOCOL.md §11.3).

use std::time::Duration;

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("moveStalledJobsToWait-1");

/// One stalled check, at most one per `interval` across the queue's workers.
pub(crate) struct MoveStalledJobsToWait {
    pub(crate) max_stalled_count: u64,
    pub(crate) now: u64,
    pub(crate) interval: Duration,
}

impl MoveStalledJobsToWait {
    /// The ids put back to wait.
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<String>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.max_stalled_count).arg(self.now).arg(self.interval.as_millis() as u64);
        inv.run(client, "moveStalledJobsToWait", None).await
    }
}
