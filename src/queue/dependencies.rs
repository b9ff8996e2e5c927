//! A parent's view of its children (PROTOCOL.md §14.1): what they returned, which failures were
//! ignored, and how many are in each state. Node's `Job.getChildrenValues`,
//! `getIgnoredChildrenFailures`, `getDependenciesCount`.

use std::collections::HashMap;

use serde_json::Value;

use super::Queue;
use crate::error::{Error, Result};
use crate::scripts::{RemoveChildDependency, RemoveUnprocessedChildren};

/// How many children of a parent are in each state (Node's `getDependenciesCount`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DependencyCounts {
    /// Completed children (their values in `:processed`).
    pub processed: u64,
    /// Children not finished yet (`:dependencies`).
    pub unprocessed: u64,
    /// Children whose failure was ignored (`ignoreDependencyOnFailure` or
    /// `continueParentOnFailure`; `:failed`).
    pub ignored: u64,
    /// Children whose failure fails the parent (`failParentOnFailure`; `:unsuccessful`).
    pub failed: u64,
}

/// Which part of a parent's children [`Queue::get_dependencies`] reads: each kind either
/// whole (`None`, the default) or one page from a cursor (`Some((cursor, count))`, as Redis's
/// SCAN family pages: start at 0, go on with the cursor returned, 0 returned when done; `count`
/// is a hint).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DependenciesQuery {
    /// Completed children.
    pub processed: Option<(u64, u64)>,
    /// Pending children.
    pub unprocessed: Option<(u64, u64)>,
    /// Children whose failure failed the parent.
    pub failed: Option<(u64, u64)>,
    /// Children whose failure was ignored.
    pub ignored: Option<(u64, u64)>,
}

/// A parent's children by kind (Node's `getDependencies`), with the cursor to go on from for
/// each kind read by page (0: that kind is done; `None`: read whole).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependencies {
    /// Completed children's values, by child key.
    pub processed: HashMap<String, Value>,
    /// Cursor after `processed`.
    pub next_processed_cursor: Option<u64>,
    /// Pending children's keys.
    pub unprocessed: Vec<String>,
    /// Cursor after `unprocessed`.
    pub next_unprocessed_cursor: Option<u64>,
    /// Keys of children whose failure failed the parent.
    pub failed: Vec<String>,
    /// Cursor after `failed`.
    pub next_failed_cursor: Option<u64>,
    /// Failed reasons of children whose failure was ignored, by child key.
    pub ignored: HashMap<String, String>,
    /// Cursor after `ignored`.
    pub next_ignored_cursor: Option<u64>,
}

/// The kinds of collection a parent keeps its children in.
#[derive(Clone, Copy)]
enum Kind {
    Hash,
    Set,
    SortedSet,
}

/// The read of one page (or all) of a parent's collection `key` of `kind`.
fn read_cmd(kind: Kind, key: String, page: Option<(u64, u64)>) -> redis::Cmd {
    let (whole, scan) = match kind {
        Kind::Hash => ("HGETALL", "HSCAN"),
        Kind::Set => ("SMEMBERS", "SSCAN"),
        Kind::SortedSet => ("ZRANGE", "ZSCAN"),
    };
    match page {
        None => {
            let mut cmd = redis::cmd(whole);
            cmd.arg(key);
            if let Kind::SortedSet = kind {
                cmd.arg(0).arg(-1);
            }
            cmd
        }
        Some((cursor, count)) => {
            let mut cmd = redis::cmd(scan);
            cmd.arg(key).arg(cursor).arg("COUNT").arg(count);
            cmd
        }
    }
}

/// A reply of [`read_cmd`]: the items flat (ZSCAN's scores dropped), and the cursor of a page.
fn read_reply(kind: Kind, paged: bool, v: redis::Value, id: &str) -> Result<(Vec<String>, Option<u64>)> {
    let bad = |e: redis::RedisError| Error::redis("getDependencies", Some(id), e);
    if !paged {
        return Ok((redis::from_redis_value(v).map_err(|e| bad(e.into()))?, None));
    }
    let (next, items): (u64, Vec<String>) = redis::from_redis_value(v).map_err(|e| bad(e.into()))?;
    let items = if let Kind::SortedSet = kind { items.into_iter().step_by(2).collect() } else { items };
    Ok((items, Some(next)))
}

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
}

impl Queue {
    /// What the completed children of job `id` returned, by child key (`prefix:queue:id`).
    /// A value another client stored that is not JSON is kept as a string.
    pub async fn get_children_values(&self, id: &str) -> Result<HashMap<String, Value>> {
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys().key(&format!("{id}:processed")))
            .query_async(&mut self.client()?.conn())
            .await
            .map_err(|e| Error::redis("getChildrenValues", Some(id), e))?;
        Ok(raw.into_iter().map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v)))).collect())
    }

    /// The failed reasons of the children of job `id` whose failure was ignored, by child key.
    pub async fn get_ignored_children_failures(&self, id: &str) -> Result<HashMap<String, String>> {
        redis::cmd("HGETALL")
            .arg(self.keys().key(&format!("{id}:failed")))
            .query_async(&mut self.client()?.conn())
            .await
            .map_err(|e| Error::redis("getIgnoredChildrenFailures", Some(id), e))
    }

    /// The same as [`get_ignored_children_failures`](Queue::get_ignored_children_failures)
    /// (Node's older name).
    pub async fn get_failed_children_values(&self, id: &str) -> Result<HashMap<String, String>> {
        self.get_ignored_children_failures(id).await
    }

    /// How many children of job `id` are in each state.
    pub async fn get_dependencies_count(&self, id: &str) -> Result<DependencyCounts> {
        let key = |s: &str| self.keys().key(&format!("{id}:{s}"));
        let (processed, unprocessed, ignored, failed): (u64, u64, u64, u64) = redis::pipe()
            .cmd("HLEN")
            .arg(key("processed"))
            .cmd("SCARD")
            .arg(key("dependencies"))
            .cmd("HLEN")
            .arg(key("failed"))
            .cmd("ZCARD")
            .arg(key("unsuccessful"))
            .query_async(&mut self.client()?.conn())
            .await
            .map_err(|e| Error::redis("getDependenciesCount", Some(id), e))?;
        Ok(DependencyCounts { processed, unprocessed, ignored, failed })
    }

    /// Breaks the link of child job `id` to its parent (Node's `removeChildDependency`): the
    /// parent no longer waits for it and goes to wait if it was the last pending child. True
    /// when the parent was waiting for it; a missing job or parent is a typed error.
    pub async fn remove_child_dependency(&self, id: &str) -> Result<bool> {
        RemoveChildDependency { id }.run(self.client()?).await
    }

    /// Removes the children of job `id` that have not run (with their own unprocessed
    /// children), keeping running, failed and completed ones (Node's
    /// `removeUnprocessedChildren`). Returns how many jobs were removed.
    pub async fn remove_unprocessed_children(&self, id: &str) -> Result<u64> {
        RemoveUnprocessedChildren { id }.run(self.client()?).await
    }

    /// The children of job `id` by kind, whole or by page (Node's `getDependencies`).
    pub async fn get_dependencies(&self, id: &str, query: DependenciesQuery) -> Result<Dependencies> {
        let key = |s: &str| self.keys().key(&format!("{id}:{s}"));
        let reads = [
            (Kind::Hash, key("processed"), query.processed),
            (Kind::Set, key("dependencies"), query.unprocessed),
            (Kind::SortedSet, key("unsuccessful"), query.failed),
            (Kind::Hash, key("failed"), query.ignored),
        ];
        // The four reads in one round trip.
        let mut pipe = redis::pipe();
        for (kind, k, page) in &reads {
            pipe.add_command(read_cmd(*kind, k.clone(), *page));
        }
        let replies: Vec<redis::Value> = pipe
            .query_async(&mut self.client()?.conn())
            .await
            .map_err(|e| Error::redis("getDependencies", Some(id), e))?;
        let mut out = Vec::with_capacity(4);
        for ((kind, _, page), v) in reads.iter().zip(replies) {
            out.push(read_reply(*kind, page.is_some(), v, id)?);
        }
        let mut out = out.into_iter();
        let mut next = || out.next().unwrap_or_default();
        let ((processed, next_processed_cursor), (unprocessed, next_unprocessed_cursor)) = (next(), next());
        let ((failed, next_failed_cursor), (ignored, next_ignored_cursor)) = (next(), next());
        Ok(Dependencies {
            processed: pairs(processed)
                .into_iter()
                .map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v))))
                .collect(),
            next_processed_cursor,
            unprocessed,
            next_unprocessed_cursor,
            failed,
            next_failed_cursor,
            ignored: pairs(ignored).into_iter().collect(),
            next_ignored_cursor,
        })
    }
}
