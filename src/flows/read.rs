//! Reading flows back: a tree from any of its jobs down (Node's `FlowProducer.getFlow`), and the
//! parents stuck behind a child that failed without a failure policy.

use std::sync::Arc;

use super::producer::FlowProducer;
use crate::error::{Error, Result};
use crate::job::{pairs_to_map, Job, JobState};
use crate::keys::QueueKeys;
use crate::scripts::GetState;

/// A flow as stored now: a job, its state, and its children (completed, pending, failed and
/// ignored ones alike), down to the depth asked.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct FlowTree {
    /// The job.
    pub job: Job,
    /// Its state.
    pub state: JobState,
    /// Children that failed with no failure policy while this job waits for them: it cannot
    /// go on until they are retried or removed (BullMQ leaves such a parent waiting, unnoticed).
    pub blocked_by: Vec<String>,
    /// Its children, up to `max_children` of them, within `depth`.
    pub children: Vec<FlowTree>,
}

/// A parent waiting for children of which some failed with no failure policy.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedParent {
    /// The parent's id (in the queue asked).
    pub id: String,
    /// The failed children's keys (`prefix:queue:id`).
    pub failed_children: Vec<String>,
}

/// A node's hash, then its processed, pending, ignored and failed children's keys.
type NodeLists = (Vec<String>, Vec<String>, Vec<String>, Vec<String>, Vec<String>);

impl FlowProducer {
    /// The flow under job `id` of `queue_name`: `depth` levels (1: the job alone; BullMQ's
    /// default is 10) with at most `max_children` children read per node (BullMQ's default 20).
    /// `None` when the job does not exist.
    pub async fn get_flow(
        &self,
        queue_name: &str,
        id: &str,
        depth: usize,
        max_children: usize,
    ) -> Result<Option<FlowTree>> {
        let keys = Arc::new(QueueKeys::new(self.prefix(), queue_name)?);
        self.node(keys, id.to_owned(), depth.max(1), max_children).await
    }

    fn node(
        &self,
        keys: Arc<QueueKeys>,
        id: String,
        depth: usize,
        max_children: usize,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<FlowTree>>> {
        Box::pin(async move {
            let key = keys.job(&id);
            let client = self.client();
            let mut conn = client.conn();
            let (flat, processed, pending, ignored, failed): NodeLists = redis::pipe()
                .cmd("HGETALL")
                .arg(&key)
                .cmd("HKEYS")
                .arg(format!("{key}:processed"))
                .cmd("SMEMBERS")
                .arg(format!("{key}:dependencies"))
                .cmd("HKEYS")
                .arg(format!("{key}:failed"))
                .cmd("ZRANGE")
                .arg(format!("{key}:unsuccessful"))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::redis("getFlow", Some(&id), e))?;
            if flat.is_empty() {
                return Ok(None);
            }
            let job = Job::from_hash(&keys, &id, pairs_to_map(flat))?;
            let state = GetState { id: &id, base: Some(&keys.base) }.run(client).await?;
            let mut blocked_by = Vec::new();
            if state == JobState::WaitingChildren {
                for child in &pending {
                    if let Some((ckeys, cid)) = self.split(child) {
                        let s = GetState { id: &cid, base: Some(&ckeys.base) }.run(client).await?;
                        if s == JobState::Failed {
                            blocked_by.push(child.clone());
                        }
                    }
                }
            }
            let mut children = Vec::new();
            if depth > 1 {
                let all = processed.iter().chain(&pending).chain(&failed).chain(&ignored).take(max_children);
                for child in all {
                    if let Some((ckeys, cid)) = self.split(child) {
                        if let Some(t) = self.node(ckeys, cid, depth - 1, max_children).await? {
                            children.push(t);
                        }
                    }
                }
            }
            Ok(Some(FlowTree { job, state, blocked_by, children }))
        })
    }

    /// A child key `prefix:queue:id` as its queue's keys and its id (queue names hold no `:`).
    fn split(&self, child_key: &str) -> Option<(Arc<QueueKeys>, String)> {
        let rest = child_key.strip_prefix(self.prefix())?.strip_prefix(':')?;
        let (queue, id) = rest.split_once(':')?;
        Some((Arc::new(QueueKeys::new(self.prefix(), queue).ok()?), id.to_owned()))
    }

    /// Parents of `queue_name` waiting for children of which some failed with no failure
    /// policy: without a retry or a removal of those children, they never run.
    pub async fn get_blocked_parents(&self, queue_name: &str) -> Result<Vec<BlockedParent>> {
        let keys = QueueKeys::new(self.prefix(), queue_name)?;
        let client = self.client();
        let parents: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys.key("waiting-children"))
            .arg(0)
            .arg(-1)
            .query_async(&mut client.conn())
            .await
            .map_err(|e| Error::redis("getBlockedParents", None, e))?;
        // Two round trips whatever the number of parents: their pending children, then whether
        // each of those is failed.
        let mut pipe = redis::pipe();
        for id in &parents {
            pipe.cmd("SMEMBERS").arg(keys.key(&format!("{id}:dependencies")));
        }
        let pending: Vec<Vec<String>> = if parents.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut client.conn()).await.map_err(|e| Error::redis("getBlockedParents", None, e))?
        };
        let children: Vec<(usize, String)> = pending
            .into_iter()
            .enumerate()
            .flat_map(|(p, kids)| kids.into_iter().map(move |k| (p, k)))
            .filter(|(_, k)| self.split(k).is_some())
            .collect();
        let mut pipe = redis::pipe();
        for (_, child) in &children {
            if let Some((ckeys, cid)) = self.split(child) {
                pipe.cmd("ZSCORE").arg(ckeys.key("failed")).arg(cid);
            }
        }
        let failed: Vec<Option<f64>> = if children.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut client.conn()).await.map_err(|e| Error::redis("getBlockedParents", None, e))?
        };
        let mut out: Vec<BlockedParent> = Vec::new();
        for ((p, child), score) in children.into_iter().zip(failed) {
            if score.is_none() {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.id == parents[p] => last.failed_children.push(child),
                _ => out.push(BlockedParent { id: parents[p].clone(), failed_children: vec![child] }),
            }
        }
        Ok(out)
    }
}
