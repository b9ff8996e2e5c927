//! `changeDelay-1`: re-schedule a delayed job (PROTOCOL.md §12.15).

use std::time::Duration;

use super::{code, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("changeDelay-1");

/// Makes delayed job `id` due `delay` after `now`.
pub(crate) struct ChangeDelay<'a> {
    pub(crate) id: &'a str,
    pub(crate) delay: Duration,
    pub(crate) now: u64,
}

impl ChangeDelay<'_> {
    /// Refusals: -1 (no job), -3 (not delayed).
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(self.delay.as_millis() as u64).arg(self.now);
        let reply: i64 = inv.run(client, "changeDelay", Some(self.id)).await?;
        code(reply, self.id, "changeDelay", "delayed").map(|_| ())
    }
}
