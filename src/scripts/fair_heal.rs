//! `fairHeal-1`: the upkeep of a fair group's index, with every stalled check.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("fairHeal-1");

/// One round of upkeep for the group whose home queue is the client's (its keys are the
/// group's): `chunk` tenants of its list checked, `busy` cleared of idle tenants.
pub(crate) struct FairHeal<'a> {
    /// The tenant queues' base prefix, `prefix:G.`.
    pub(crate) tenant_prefix: &'a str,
    pub(crate) chunk: u32,
}

/// What a round of upkeep found.
#[derive(Debug)]
pub(crate) struct Healed {
    /// Tenants pointed at again (missing from the index with work).
    pub(crate) repaired: u64,
    /// Tenants with active jobs, for their stalled checks.
    pub(crate) busy: Vec<String>,
}

impl FairHeal<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<Healed> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.tenant_prefix).arg(self.chunk);
        let (repaired, busy): (u64, Vec<String>) = inv.run(client, "fairHeal", None).await?;
        Ok(Healed { repaired, busy })
    }
}
