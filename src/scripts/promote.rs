//! `promote-1`: a delayed job ready now (PROTOCOL.md §12.9).

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("promote-1");

/// Makes delayed job `id` ready now.
pub(crate) struct Promote<'a> {
    pub(crate) id: &'a str,
}

impl Promote<'_> {
    /// Refusals: -1 (no job), -3 (not delayed).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id);
        let reply: i64 = inv.run(client, "promote", Some(self.id)).await?;
        code(reply, self.id, "promote", "delayed").map(|_| ())
    }
}
