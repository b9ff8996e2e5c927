//! `markRunAlone-1`: record that a run of a job that stalled before is alone in its worker.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("markRunAlone-1");

/// Records on job `id`, held under `token`, that this run is alone (`iso` = `stalled_count`).
pub(crate) struct MarkRunAlone<'a> {
    pub(crate) id: &'a str,
    pub(crate) token: &'a str,
    pub(crate) stalled_count: u64,
}

impl MarkRunAlone<'_> {
    /// False when the lock is not the token's (nothing written).
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(self.token).arg(self.stalled_count);
        let marked: i64 = inv.run(client, "markRunAlone", Some(self.id)).await?;
        Ok(marked == 1)
    }
}
