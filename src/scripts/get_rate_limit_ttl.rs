//! `getRateLimitTtl-1`: how long the queue's rate limit still runs (PROTOCOL.md §12.17).

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("getRateLimitTtl-1");

/// The limiter's remaining ms given `max_jobs` (0: the queue's global max).
pub(crate) struct GetRateLimitTtl {
    pub(crate) max_jobs: u64,
}

impl GetRateLimitTtl {
    /// Remaining ms; 0 when not limited, -2 when there is no limiter key and no max anywhere.
    pub(crate) async fn run(&self, client: &Client) -> Result<i64> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.max_jobs);
        inv.run(client, "getRateLimitTtl", None).await
    }
}
