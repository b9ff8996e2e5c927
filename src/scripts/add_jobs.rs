//! `addJobs-1`: one call for one job or a whole bulk (PROTOCOL.md §12.1).

use redis::Value;

use super::{code, script_def};
use crate::connection::Client;
use crate::error::{Error, Result};

script_def!("addJobs-1");

/// One job ready to be sent: everything already validated and serialised.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    pub(crate) custom_id: String,
    pub(crate) name: String,
    pub(crate) timestamp: u64,
    pub(crate) data: String,
    pub(crate) opts: String,
    pub(crate) delay: u64,
    pub(crate) priority: u32,
    pub(crate) lifo: bool,
    pub(crate) dedup: String,
    pub(crate) parent_key: String,
    pub(crate) parent_json: String,
    pub(crate) repeat_job_key: String,
}

impl NewJob {
    /// The eleven fields every add script takes for a job, in their order: id, name, timestamp,
    /// data, opts, delay, priority, lifo, dedup, parent key, parent JSON.
    pub(crate) fn push_fields(&self, inv: &mut super::Invocation) {
        inv.arg(&self.custom_id)
            .arg(&self.name)
            .arg(self.timestamp)
            .arg(&self.data)
            .arg(&self.opts)
            .arg(self.delay)
            .arg(self.priority)
            .arg(if self.lifo { "1" } else { "" })
            .arg(&self.dedup)
            .arg(&self.parent_key)
            .arg(&self.parent_json);
    }
}

/// What the script answered for one job.
#[derive(Debug)]
pub(crate) enum AddReply {
    /// The id (new, duplicate or dedup owner).
    Id(String),
    /// Refused (-5 parent missing, -7 parent cannot be replaced).
    Refused(Error),
    /// Not attempted: another job of the bulk was refused.
    NotAttempted,
}

/// Adds `jobs` in one call.
pub(crate) struct AddJobs<'a> {
    pub(crate) jobs: &'a [NewJob],
    /// A refused job refuses them all (a bulk); otherwise each job stands alone (adds of several
    /// callers coalesced).
    pub(crate) atomic: bool,
}

impl AddJobs<'_> {
    /// One reply per job, in order.
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<AddReply>> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.jobs.len()).arg(super::flag(self.atomic));
        for j in self.jobs {
            j.push_fields(&mut inv);
            inv.arg(&j.repeat_job_key);
        }
        let first = self.jobs.first().map(|j| j.custom_id.as_str()).filter(|s| !s.is_empty());
        let reply: Vec<Value> = inv.run(client, "addJob", first).await?;
        if reply.len() != self.jobs.len() {
            return Err(Error::unexpected(
                "addJob",
                None,
                format!("{} replies for {} jobs", reply.len(), self.jobs.len()),
            ));
        }
        Ok(reply
            .into_iter()
            .zip(self.jobs)
            .map(|(v, j)| match v {
                Value::Int(0) => AddReply::NotAttempted,
                Value::Int(n) => match code(n, &j.custom_id, "addJob", &j.parent_key) {
                    Err(e) => AddReply::Refused(e),
                    Ok(n) => AddReply::Refused(Error::unexpected("addJob", None, format!("reply {n}"))),
                },
                other => AddReply::Id(redis::from_redis_value(other).unwrap_or_default()),
            })
            .collect())
    }
}
