//! `removeUnprocessedChildren-1`: remove a parent's children that have not run.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("removeUnprocessedChildren-1");

/// Removes the unprocessed children of parent `id` (in the client's queue).
pub(crate) struct RemoveUnprocessedChildren<'a> {
    pub(crate) id: &'a str,
}

impl RemoveUnprocessedChildren<'_> {
    /// How many jobs were removed.
    pub(crate) async fn run(&self, client: &Client) -> Result<u64> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id);
        inv.run(client, "removeUnprocessedChildren", Some(self.id)).await
    }
}
