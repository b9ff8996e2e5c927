//! `obliterate-1`: delete a paused queue, one batch per call (PROTOCOL.md §12.12).

use super::script_def;
use crate::connection::Client;
use crate::error::{Error, Result};

script_def!("obliterate-1");

/// One obliterate step of at most `batch` jobs.
pub(crate) struct Obliterate {
    pub(crate) batch: u64,
    /// Also when jobs are active.
    pub(crate) force: bool,
}

/// Where an obliterate stands after one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObliterateStep {
    Done,
    More,
}

impl Obliterate {
    pub(crate) async fn run(&self, client: &Client) -> Result<ObliterateStep> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.batch).arg(if self.force { "force" } else { "" });
        match inv.run::<i64>(client, "obliterate", None).await? {
            0 => Ok(ObliterateStep::Done),
            1 => Ok(ObliterateStep::More),
            -1 => Err(Error::invalid("obliterate", "the queue must be paused")),
            -2 => Err(Error::invalid("obliterate", "the queue has active jobs; use force")),
            other => Err(Error::unexpected("obliterate", None, format!("reply {other}"))),
        }
    }
}
