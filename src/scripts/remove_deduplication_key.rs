//! `removeDeduplicationKey-1`: free a deduplication id if a given job still owns it.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("removeDeduplicationKey-1");

/// Deletes deduplication key `dedup` if job `job_id` owns it.
pub(crate) struct RemoveDeduplicationKey<'a> {
    pub(crate) dedup: &'a str,
    pub(crate) job_id: &'a str,
}

impl RemoveDeduplicationKey<'_> {
    /// Whether it was deleted.
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.dedup).arg(self.job_id);
        Ok(inv.run::<i64>(client, "removeDeduplicationKey", Some(self.job_id)).await? == 1)
    }
}
