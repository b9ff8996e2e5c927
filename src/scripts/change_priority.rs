//! `changePriority-1`: a job's priority, re-queueing it when waiting (PROTOCOL.md §12.14).

use super::{code, flag, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("changePriority-1");

/// Gives job `id` `priority` (in front of its band with `lifo`).
pub(crate) struct ChangePriority<'a> {
    pub(crate) id: &'a str,
    pub(crate) priority: u32,
    pub(crate) lifo: bool,
}

impl ChangePriority<'_> {
    /// Refusal: -1 (no job).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(self.priority).arg(flag(self.lifo));
        let reply: i64 = inv.run(client, "changePriority", Some(self.id)).await?;
        code(reply, self.id, "changePriority", "").map(|_| ())
    }
}
