//! `addJobs-1`: one call for one job or a whole bulk.

use redis::aio::ConnectionLike;
use redis::Value;

use super::script_def;

script_def!(ADD_JOBS, "addJobs-1");

/// Every script of this module.
pub(crate) static SCRIPTS: &[&super::ScriptDef] = &[&ADD_JOBS];

/// One job ready to be sent: everything already validated and serialised.
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

/// What the script answered for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddReply {
    /// The id (new, duplicate or dedup owner).
    Id(String),
    /// A negative code (-5 parent missing, -7 parent cannot be replaced), or 0 for a job not
    /// attempted because another job of the bulk was refused.
    Code(i64),
}

/// Adds `jobs` in one call. `atomic`: a refused job refuses them all (a bulk); otherwise each
/// job stands alone (adds of several callers coalesced).
pub(crate) async fn add_jobs<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    jobs: &[NewJob],
    atomic: bool,
) -> redis::RedisResult<Vec<AddReply>> {
    let mut inv = ADD_JOBS.invocation();
    inv.key(base).arg(jobs.len()).arg(if atomic { "1" } else { "0" });
    for j in jobs {
        inv.arg(&j.custom_id)
            .arg(&j.name)
            .arg(j.timestamp)
            .arg(&j.data)
            .arg(&j.opts)
            .arg(j.delay)
            .arg(j.priority)
            .arg(if j.lifo { "1" } else { "" })
            .arg(&j.dedup)
            .arg(&j.parent_key)
            .arg(&j.parent_json)
            .arg(&j.repeat_job_key);
    }
    let reply: Vec<Value> = inv.invoke_async(conn).await?;
    Ok(reply
        .into_iter()
        .map(|v| match v {
            Value::Int(n) => AddReply::Code(n),
            other => AddReply::Id(redis::from_redis_value(other).unwrap_or_default()),
        })
        .collect())
}
