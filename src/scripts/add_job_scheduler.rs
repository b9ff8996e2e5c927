//! `addJobScheduler-1`: create or update a job scheduler and its pending iteration
//! (PROTOCOL.md §15.2).

use redis::Value;

use super::{code, script_def};
use crate::connection::Client;
use crate::error::{Error, Result};

script_def!("addJobScheduler-1");

/// One upsert, everything validated and serialised by the caller.
pub(crate) struct AddJobScheduler<'a> {
    pub(crate) id: &'a str,
    /// The next slot of a cron pattern; `None` for `every` (the script computes it).
    pub(crate) next_ms: Option<u64>,
    pub(crate) now: u64,
    /// `{name, every?, pattern?, tz?, startDate?, endDate?, limit?, offset?}`.
    pub(crate) fields: &'a str,
    pub(crate) data: &'a str,
    pub(crate) template_opts: &'a str,
    pub(crate) iteration_opts: &'a str,
}

/// What the upsert left pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upserted {
    pub(crate) job_id: String,
    pub(crate) delay_ms: u64,
    /// The stored scheduler already had these options: nothing was written.
    pub(crate) unchanged: bool,
}

impl AddJobScheduler<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<Upserted> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.id)
            .arg(super::opt_arg(self.next_ms))
            .arg(self.now)
            .arg(self.fields)
            .arg(self.data)
            .arg(self.template_opts)
            .arg(self.iteration_opts);
        let reply: Value = inv.run(client, "addJobScheduler", None).await?;
        let bad = |what: String| Error::unexpected("addJobScheduler", None, what);
        match reply {
            Value::Int(n) => {
                code(n, self.id, "addJobScheduler", "")?;
                Err(bad(format!("reply {n}")))
            }
            Value::Array(items) if items.len() == 3 => {
                let job_id: String = redis::from_redis_value(items[0].clone()).map_err(|e| bad(e.to_string()))?;
                let delay_ms: u64 = redis::from_redis_value(items[1].clone()).map_err(|e| bad(e.to_string()))?;
                let flag: String = redis::from_redis_value(items[2].clone()).map_err(|e| bad(e.to_string()))?;
                Ok(Upserted { job_id, delay_ms, unchanged: flag == "1" })
            }
            other => Err(bad(format!("{other:?}"))),
        }
    }
}
