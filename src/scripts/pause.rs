//! `pause-1`: pause, or one step of resume (PROTOCOL.md §12.10).

use super::{flag, script_def};
use crate::connection::Client;
use crate::error::Result;

script_def!("pause-1");

/// Pauses (`pause`) or takes one resume step; `emit` writes the `paused`/`resumed` event.
pub(crate) struct Pause {
    pub(crate) pause: bool,
    pub(crate) emit: bool,
}

impl Pause {
    /// The legacy `paused` entries a resume still has to move (0 when done).
    pub(crate) async fn run(&self, client: &Client) -> Result<i64> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(if self.pause { "paused" } else { "resumed" }).arg(flag(self.emit));
        inv.run(client, if self.pause { "pause" } else { "resume" }, None).await
    }
}
