//! `removeJob-1`: delete a job, and its children if asked (PROTOCOL.md §12.13).

use super::{code, flag, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("removeJob-1");

/// Removes job `id` (with its children when `children`).
pub(crate) struct RemoveJob<'a> {
    pub(crate) id: &'a str,
    pub(crate) children: bool,
}

impl RemoveJob<'_> {
    /// False when the job or one of its children is locked (nothing removed then). Refusal: -8
    /// (the current iteration of a job scheduler).
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(flag(self.children));
        let reply: i64 = inv.run(client, "removeJob", Some(self.id)).await?;
        code(reply, self.id, "removeJob", "").map(|r| r == 1)
    }
}
