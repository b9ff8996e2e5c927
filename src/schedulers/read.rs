//! Reading and removing schedulers: one, a range, the count, and the 5.x legacy entries.

use std::collections::HashMap;

use super::record::{JobSchedulerRecord, LegacyRepeatableJob};
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::pairs_to_map;
use crate::scripts::RemoveJobScheduler;

fn slot(score: Option<f64>) -> Option<u64> {
    score.filter(|s| *s >= 0.0).map(|s| s as u64)
}

/// Scheduler `id`, or `None` when there is none (or it is a legacy repeatable entry).
pub(crate) async fn get(client: &Client, id: &str) -> Result<Option<JobSchedulerRecord>> {
    let keys = client.keys();
    let (score, flat): (Option<f64>, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("ZSCORE")
        .arg(keys.key("repeat"))
        .arg(id)
        .cmd("HGETALL")
        .arg(keys.key(&format!("repeat:{id}")))
        .query_async(&mut client.conn())
        .await
        .map_err(|e| Error::redis("getJobScheduler", None, e))?;
    if score.is_none() || flat.is_empty() {
        return Ok(None);
    }
    JobSchedulerRecord::from_hash(id, &pairs_to_map(flat), slot(score))
}

/// The members of `repeat` in `start..=end` (ascending or descending by next slot), each with
/// its hash.
async fn range(
    client: &Client,
    start: isize,
    end: isize,
    asc: bool,
) -> Result<Vec<(String, Option<u64>, HashMap<String, String>)>> {
    let keys = client.keys();
    let members: Vec<(String, f64)> = redis::cmd(if asc { "ZRANGE" } else { "ZREVRANGE" })
        .arg(keys.key("repeat"))
        .arg(start)
        .arg(end)
        .arg("WITHSCORES")
        .query_async(&mut client.conn())
        .await
        .map_err(|e| Error::redis("getJobSchedulers", None, e))?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for (m, _) in &members {
        pipe.cmd("HGETALL").arg(keys.key(&format!("repeat:{m}")));
    }
    let hashes: Vec<Vec<String>> =
        pipe.query_async(&mut client.conn()).await.map_err(|e| Error::redis("getJobSchedulers", None, e))?;
    Ok(members.into_iter().zip(hashes).map(|((m, s), h)| (m, slot(Some(s)), pairs_to_map(h))).collect())
}

/// Schedulers in `start..=end` of the `repeat` set, by next slot (ascending when `asc`, as
/// Node's `getJobSchedulers`). A member whose hash is gone is removed, as Node does; legacy
/// repeatable entries are left out (see [`list_legacy`]).
pub(crate) async fn list(client: &Client, start: isize, end: isize, asc: bool) -> Result<Vec<JobSchedulerRecord>> {
    let mut out = Vec::new();
    for (key, next, h) in range(client, start, end, asc).await? {
        if h.is_empty() {
            RemoveJobScheduler { id: &key }.run(client).await?;
            continue;
        }
        if let Some(r) = JobSchedulerRecord::from_hash(&key, &h, next)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The 5.x repeatable entries in `start..=end` of the `repeat` set.
pub(crate) async fn list_legacy(
    client: &Client,
    start: isize,
    end: isize,
    asc: bool,
) -> Result<Vec<LegacyRepeatableJob>> {
    Ok(range(client, start, end, asc)
        .await?
        .into_iter()
        .filter(|(_, _, h)| !h.is_empty() && !h.contains_key("ic"))
        .map(|(key, next, h)| LegacyRepeatableJob::from_hash(&key, &h, next))
        .collect())
}

/// Members of the `repeat` set (schedulers and legacy entries, as Node counts them).
pub(crate) async fn count(client: &Client) -> Result<u64> {
    redis::cmd("ZCARD")
        .arg(client.keys().key("repeat"))
        .query_async(&mut client.conn())
        .await
        .map_err(|e| Error::redis("getJobSchedulersCount", None, e))
}

/// Removes scheduler `id` and its pending iteration; false when there was none.
pub(crate) async fn remove(client: &Client, id: &str) -> Result<bool> {
    RemoveJobScheduler { id }.run(client).await
}
