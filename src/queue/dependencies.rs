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

/// One page (or all) of a hash, set or sorted set of a parent: its items flat, and the cursor.
async fn read_kind(
    conn: &mut redis::aio::ConnectionManager,
    key: String,
    page: Option<(u64, u64)>,
    kind: &str,
    id: &str,
) -> Result<(Vec<String>, Option<u64>)> {
    let (whole, scan) = match kind {
        "hash" => ("HGETALL", "HSCAN"),
        "set" => ("SMEMBERS", "SSCAN"),
        _ => ("ZRANGE", "ZSCAN"),
    };
    let map = |e| Error::redis("getDependencies", Some(id), e);
    match page {
        None => {
            let mut cmd = redis::cmd(whole);
            cmd.arg(&key);
            if whole == "ZRANGE" {
                cmd.arg(0).arg(-1);
            }
            Ok((cmd.query_async(conn).await.map_err(map)?, None))
        }
        Some((cursor, count)) => {
            let (next, items): (u64, Vec<String>) =
                redis::cmd(scan).arg(&key).arg(cursor).arg("COUNT").arg(count).query_async(conn).await.map_err(map)?;
            // ZSCAN answers member, score pairs: keep the members.
            let items = if scan == "ZSCAN" { items.into_iter().step_by(2).collect() } else { items };
            Ok((items, Some(next)))
        }
    }
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
        let mut conn = self.client()?.conn();
        let (processed, next_processed_cursor) =
            read_kind(&mut conn, key("processed"), query.processed, "hash", id).await?;
        let (unprocessed, next_unprocessed_cursor) =
            read_kind(&mut conn, key("dependencies"), query.unprocessed, "set", id).await?;
        let (failed, next_failed_cursor) = read_kind(&mut conn, key("unsuccessful"), query.failed, "zset", id).await?;
        let (ignored, next_ignored_cursor) = read_kind(&mut conn, key("failed"), query.ignored, "hash", id).await?;
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
