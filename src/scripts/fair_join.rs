//! `fairJoin-1`: make a queue a tenant of a fair group.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;

script_def!("fairJoin-1");

/// Joins the client's queue to the group whose base is `group_base` as `tenant`, with `weight`
/// (none: leave the stored weight as it is).
pub(crate) struct FairJoin<'a> {
    pub(crate) group_base: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) weight: Option<u32>,
}

impl FairJoin<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<()> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.group_base).arg(self.tenant);
        match self.weight {
            Some(w) => inv.arg(w),
            None => inv.arg(""),
        };
        let _: i64 = inv.run(client, "fairJoin", None).await?;
        Ok(())
    }
}
