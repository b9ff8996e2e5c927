//! `extendTakenLocks-1`: renew the locks of jobs taken under given tokens, found by the lock's
//! value, for takes whose reply the worker has not read yet.

use std::time::Duration;

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("extendTakenLocks-1");

/// Renews, for `duration`, the lock of every active job held under one of `tokens` (a token
/// ending in `:` matches every token it starts): in the client's queue and, for a fair group
/// (`tenant_prefix`, `prefix:G.`), in the queues of its busy tenants.
pub(crate) struct ExtendTakenLocks<'a> {
    pub(crate) duration: Duration,
    pub(crate) tenant_prefix: Option<&'a str>,
    pub(crate) tokens: &'a [String],
}

impl ExtendTakenLocks<'_> {
    /// The ids whose lock was renewed.
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<String>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.duration.as_millis() as u64).arg(self.tenant_prefix.unwrap_or(""));
        for t in self.tokens {
            inv.arg(t);
        }
        inv.run(client, "extendTakenLocks", None).await
    }
}
