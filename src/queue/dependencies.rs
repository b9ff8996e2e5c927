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
}
