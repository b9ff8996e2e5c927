//! `removeChildDependency-1`: break a child's link to its parent (PROTOCOL.md §14.5).

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("removeChildDependency-1");

/// Breaks the link of child `id` (in the client's queue) to its parent.
pub(crate) struct RemoveChildDependency<'a> {
    pub(crate) id: &'a str,
}

impl RemoveChildDependency<'_> {
    /// True when the parent was waiting for it; refusals: -1 (no such job), -5 (parent gone).
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id);
        let reply: i64 = inv.run(client, "removeChildDependency", Some(self.id)).await?;
        code(reply, self.id, "removeChildDependency", "").map(|r| r == 1)
    }
}
