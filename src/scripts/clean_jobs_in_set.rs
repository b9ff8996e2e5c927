//! `cleanJobsInSet-1`: remove old jobs of one state (PROTOCOL.md §12.18).

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("cleanJobsInSet-1");

/// Removes up to `limit` (0: all) jobs of the state keyed `state` older than `cutoff` ms.
pub(crate) struct CleanJobsInSet<'a> {
    pub(crate) state: &'a str,
    pub(crate) cutoff: u64,
    pub(crate) limit: u64,
}

impl CleanJobsInSet<'_> {
    /// The ids removed.
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<String>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.state).arg(self.cutoff).arg(self.limit);
        inv.run(client, "cleanJobsInSet", None).await
    }
}
