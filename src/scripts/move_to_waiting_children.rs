//! `moveToWaitingChildren-1`: an active parent waits for its children (PROTOCOL.md §12.19).

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("moveToWaitingChildren-1");

/// Moves job `id` (held under `token`) to waiting-children while a child is pending.
pub(crate) struct MoveToWaitingChildren<'a> {
    pub(crate) id: &'a str,
    pub(crate) token: &'a str,
    pub(crate) now: u64,
    /// Only this child (a full job key) counts; any child when `None`.
    pub(crate) child_key: Option<&'a str>,
}

impl MoveToWaitingChildren<'_> {
    /// True when it moved; false (the job stays active) when nothing is pending. Refusals: -1
    /// (no job), -2 (no lock), -3 (not active), -6 (lock held by another), -9 (failed children).
    pub(crate) async fn run(&self, client: &Client) -> Result<bool> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(self.token).arg(self.now).arg(self.child_key.unwrap_or(""));
        let reply: i64 = inv.run(client, "moveToWaitingChildren", Some(self.id)).await?;
        code(reply, self.id, "moveToWaitingChildren", "active").map(|c| c == 0)
    }
}
