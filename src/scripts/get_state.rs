//! `getState-1`: the state of one job, read in one call.

use super::script_def;
use crate::connection::Client;
use crate::error::Result;
use crate::job::JobState;

script_def!("getState-1");

/// The state of job `id`.
pub(crate) struct GetState<'a> {
    pub(crate) id: &'a str,
    /// The job's queue base, when not the client's queue (a flow's children may be elsewhere).
    pub(crate) base: Option<&'a str>,
}

impl GetState<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<JobState> {
        let mut inv = DEF.call(self.base.unwrap_or(&client.keys().base));
        inv.arg(self.id);
        let s: String = inv.run(client, "getState", Some(self.id)).await?;
        s.parse()
    }
}
