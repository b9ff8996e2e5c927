//! `updateJobScheduler-1`: produce a scheduler's next iteration when its current one is taken
//! (PROTOCOL.md §15.5).

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("updateJobScheduler-1");

/// The next iteration of scheduler `id`, produced by iteration `producer`.
pub(crate) struct UpdateJobScheduler<'a> {
    pub(crate) id: &'a str,
    /// The next slot of a cron pattern; `None` for `every` (the script computes it).
    pub(crate) next_ms: Option<u64>,
    pub(crate) now: u64,
    pub(crate) producer: &'a str,
    /// The next iteration's options, stored form.
    pub(crate) opts: &'a str,
}

impl UpdateJobScheduler<'_> {
    /// The new iteration's id, or `None` when nothing was produced (the scheduler was removed,
    /// `producer` is not its current iteration, or the next one exists already).
    pub(crate) async fn run(&self, client: &Client) -> Result<Option<String>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id).arg(super::opt_arg(self.next_ms)).arg(self.now).arg(self.producer).arg(self.opts);
        inv.run(client, "updateJobScheduler", Some(self.producer)).await
    }
}
