//! Keeping jobs owned and recovering the lost: lock renewal and the stalled check (PROTOCOL.md
//! §11).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::clock::now_ms;
use crate::error::Result;
use crate::keys::QueueKeys;
use crate::scripts::{ExtendLocks, ExtendTakenLocks, MarkRunAlone, MoveStalledJobsToWait};

/// One queue's locks to renew: its keys and `(job id, token)` pairs.
type QueueLocks<'a> = (&'a Arc<QueueKeys>, Vec<(String, String)>);

impl Engine {
    /// Renews the locks of many active jobs, `(job id, token)`, in one call. Returns the ids
    /// whose lock was lost (missing or held by another token).
    pub(crate) async fn extend_locks(&self, jobs: &[(String, String)], duration: Duration) -> Result<Vec<String>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.maintenance_client().await?;
        let extend = ExtendLocks { duration, jobs };
        let call = extend.run(client);
        crate::telemetry::traced_extend_locks(self.queue.name(), self.opts.name.as_deref(), jobs, call).await
    }

    /// Renews the locks of many active jobs, `(queue, job id, token)`: one call per queue (a
    /// fair group's jobs come from many). Returns the jobs whose lock was lost, `(queue, id)`.
    pub(crate) async fn extend_locks_of(
        &self,
        jobs: &[(Arc<QueueKeys>, String, String)],
        duration: Duration,
    ) -> Result<Vec<(Arc<QueueKeys>, String)>> {
        let own = self.queue.keys();
        if jobs.iter().all(|(k, _, _)| **k == **own) {
            let pairs: Vec<(String, String)> = jobs.iter().map(|(_, id, t)| (id.clone(), t.clone())).collect();
            let lost = self.extend_locks(&pairs, duration).await?;
            return Ok(lost.into_iter().map(|id| (own.clone(), id)).collect());
        }
        let mut by_queue: HashMap<&str, QueueLocks<'_>> = HashMap::new();
        for (keys, id, token) in jobs {
            by_queue
                .entry(keys.base.as_str())
                .or_insert_with(|| (keys, Vec::new()))
                .1
                .push((id.clone(), token.clone()));
        }
        let client = self.maintenance_client().await?;
        let mut lost = Vec::new();
        for (keys, pairs) in by_queue.into_values() {
            let (extend, tenant) = (ExtendLocks { duration, jobs: &pairs }, client.for_queue(keys.clone()));
            let call = extend.run(&tenant);
            let ids =
                crate::telemetry::traced_extend_locks(&keys.name, self.opts.name.as_deref(), &pairs, call).await?;
            lost.extend(ids.into_iter().map(|id| (keys.clone(), id)));
        }
        Ok(lost)
    }

    /// Renews the locks of the jobs taken under `tokens` (see `ExtendTakenLocks`): for takes
    /// whose reply is not read yet (a fair group's, in its busy tenants' queues). Returns the
    /// ids renewed.
    pub(crate) async fn extend_taken_locks(&self, tokens: &[String], duration: Duration) -> Result<Vec<String>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.maintenance_client().await?;
        let tenant_prefix = self.fair.as_ref().map(|f| f.tenant_prefix.as_str());
        ExtendTakenLocks { duration, tenant_prefix, tokens }.run(client).await
    }

    /// Records that this run of `job` (which stalled before) is alone in its worker, for the
    /// stalled check's failure reason should it stall again. False when the lock is not ours.
    pub(crate) async fn mark_run_alone(&self, job: &crate::job::Job, lease: &super::Lease) -> Result<bool> {
        let call = MarkRunAlone { id: &job.id, token: lease.token(), stalled_count: job.stalled_counter };
        call.run(&self.client_of(Some(job))?).await
    }

    /// Runs the stalled check once (at most once per `stalled_interval` across all workers of
    /// the queue). Returns the ids put back to wait.
    pub(crate) async fn stalled_check(&self) -> Result<Vec<String>> {
        let o = &self.opts;
        let check = MoveStalledJobsToWait {
            max_stalled_count: o.max_stalled_count,
            now: now_ms(),
            interval: o.stalled_interval,
        };
        let client = self.maintenance_client().await?;
        if let Some(fair) = &self.fair {
            let call = self.fair_stalled_check(fair, client);
            return crate::telemetry::stalled_check(self.queue.name(), o.name.as_deref(), call).await;
        }
        crate::telemetry::stalled_check(self.queue.name(), o.name.as_deref(), check.run(client)).await
    }

    /// The pause between the end of one stalled check and the next: the interval, plus a
    /// millisecond, so that the `stalled-check` key the previous check set (for exactly the
    /// interval, by Redis's clock) has expired when the next one runs; a check that meets the
    /// key does nothing.
    pub(crate) fn stalled_check_pause(&self) -> Duration {
        self.opts.stalled_interval + Duration::from_millis(1)
    }

    /// Runs the stalled check now and then after every [`stalled_check_pause`], in the
    /// background, until stopped or the engine is dropped.
    ///
    /// [`stalled_check_pause`]: Self::stalled_check_pause
    pub(crate) fn start_stalled_check_timer(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let pause = self.stalled_check_pause();
        let handle = tokio::spawn(async move {
            let mut first = true;
            loop {
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(pause).await;
                }
                let Some(engine) = weak.upgrade() else { return };
                if let Err(e) = engine.stalled_check().await {
                    tracing::warn!(error = %e, "stalled check failed");
                }
            }
        });
        if let Ok(mut g) = self.stalled_timer.lock() {
            if let Some(old) = g.replace(handle) {
                old.abort();
            }
        }
    }

    /// Stops the background stalled check.
    pub(crate) fn stop_stalled_check_timer(&self) {
        if let Some(h) = self.stalled_timer.lock().ok().and_then(|mut g| g.take()) {
            h.abort();
        }
    }
}
