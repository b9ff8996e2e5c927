//! `drain-1`: remove the waiting jobs (PROTOCOL.md §12.11).

use super::{flag, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("drain-1");

/// Removes every waiting job (and the delayed ones with `delayed`).
pub(crate) struct Drain {
    pub(crate) delayed: bool,
}

impl Drain {
    /// How many were removed.
    pub(crate) async fn run(&self, client: &Client) -> Result<u64> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(flag(self.delayed));
        let n: i64 = inv.run(client, "drain", None).await?;
        Ok(n.max(0) as u64)
    }
}
