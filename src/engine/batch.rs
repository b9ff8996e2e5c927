//! Completing many jobs in one call (the worker tree's acker): each job is finished exactly as
//! [`Engine::complete`] would finish it, and the freed slots are refilled in the same call. One
//! call instead of one per job is what keeps Redis CPU per job down at high concurrency: the
//! per-call work (script dispatch, events cap and trim, pause/limit reads, delayed promotion,
//! marker) is paid once per batch.

use std::sync::Arc;

use serde_json::Value;

use super::lease::{Lease, Taken};
use super::{Accepted, Engine};
use crate::clock::now_ms;
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::keys::QueueKeys;
use crate::scripts::{FinishMany, FinishTarget, ManyJob, Profile};

/// One job to complete in a batch: what finishMany needs, owned.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) id: String,
    /// The job's queue (a fair group's batch holds jobs of many).
    keys: Arc<QueueKeys>,
    value: String,
    lease: Lease,
    profile: Profile,
    /// See [`ManyJob::atm_next`].
    atm_next: Option<u64>,
    /// When the job finished, µs since the epoch; the batch keeps them in send order.
    pub(crate) finished_us: u64,
}

/// What a batch did: a result per completion (in order) and the jobs taken for the freed slots.
pub(crate) struct BatchOutcome {
    pub(crate) finished: Vec<Result<()>>,
    pub(crate) taken: Vec<Result<Taken>>,
    /// Ghosts the takes dropped (see `FetchReply::Gone`).
    pub(crate) gone: Vec<String>,
    /// `Some(next delayed due ms, 0: none)` when fewer jobs than asked for were there to take
    /// (and no rate limit stopped the takes): the queue ran dry for this worker.
    pub(crate) ran_dry: Option<u64>,
}

impl Engine {
    /// The completion of `job` with `value`, finished at `finished_us`.
    pub(crate) fn completion(&self, job: &Job, lease: &Lease, value: &Value, finished_us: u64) -> Result<Completion> {
        let text = serde_json::to_string(value).map_err(|source| Error::Serialize {
            what: "returnvalue",
            job_id: Some(job.id.clone()),
            source,
        })?;
        let profile =
            (self.retention(Some(job), FinishTarget::Completed), job.opts.attempts.unwrap_or(0), self.metrics_points());
        Ok(Completion {
            id: job.id.clone(),
            keys: job.queue_keys().clone(),
            value: text,
            lease: lease.clone(),
            profile,
            atm_next: job.next_plain_atm(),
            finished_us,
        })
    }

    /// Completes `jobs` and takes up to `take` next jobs (locked under `<token_prefix>:<i>`) in
    /// one script call. A job whose stored data cannot be decoded is failed at pickup and comes
    /// back as its error; jobs with deferred failures are failed and skipped.
    pub(crate) async fn complete_many(
        &self,
        jobs: &[&Completion],
        take: usize,
        token_prefix: &str,
    ) -> Result<BatchOutcome> {
        let first = jobs.first().map(|c| &c.keys);
        if self.fair.is_some() && first.is_some_and(|k| jobs.iter().any(|c| c.keys.base != k.base)) {
            return Box::pin(self.complete_many_queues(jobs, take, token_prefix)).await;
        }
        let client = match first {
            Some(keys) => self.queue.client()?.for_queue(keys.clone()),
            None => self.queue.client()?.clone(),
        };
        self.complete_many_in(&client, jobs, take, token_prefix).await
    }

    /// A fair group's batch of jobs from several tenant queues: one call per queue, all at
    /// once, the first of them taking for the batch (a fair take does not depend on the queue
    /// it is sent with).
    async fn complete_many_queues(
        &self,
        jobs: &[&Completion],
        take: usize,
        token_prefix: &str,
    ) -> Result<BatchOutcome> {
        let mut groups: Vec<(Arc<QueueKeys>, Vec<usize>)> = Vec::new();
        for (i, c) in jobs.iter().enumerate() {
            match groups.iter_mut().find(|(k, _)| k.base == c.keys.base) {
                Some((_, at)) => at.push(i),
                None => groups.push((c.keys.clone(), vec![i])),
            }
        }
        let client = self.queue.client()?;
        let calls = groups.iter().enumerate().map(|(g, (keys, at))| {
            let part: Vec<&Completion> = at.iter().map(|&i| jobs[i]).collect();
            let client = client.for_queue(keys.clone());
            let prefix = format!("{token_prefix}.{g}");
            async move { self.complete_many_in(&client, &part, if g == 0 { take } else { 0 }, &prefix).await }
        });
        let outcomes = futures_util::future::join_all(calls).await;
        let mut finished: Vec<Option<Result<()>>> = (0..jobs.len()).map(|_| None).collect();
        let (mut taken, mut gone, mut ran_dry) = (Vec::new(), Vec::new(), None);
        let mut first_err = None;
        for ((_, at), outcome) in groups.iter().zip(outcomes) {
            match outcome {
                Ok(o) => {
                    for (&i, r) in at.iter().zip(o.finished) {
                        finished[i] = Some(r);
                    }
                    taken.extend(o.taken);
                    gone.extend(o.gone);
                    ran_dry = ran_dry.or(o.ran_dry);
                }
                Err(e) => {
                    for &i in at {
                        finished[i] = Some(Err(Error::unexpected("finishMany", Some(&jobs[i].id), e.to_string())));
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        // Every group failed alike (Redis gone): the batch's error, as one call's would be.
        if taken.is_empty() && finished.iter().all(|r| matches!(r, Some(Err(_)))) {
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        let finished = finished.into_iter().map(|r| r.unwrap_or(Ok(()))).collect();
        Ok(BatchOutcome { finished, taken, gone, ran_dry })
    }

    async fn complete_many_in(
        &self,
        client: &Client,
        jobs: &[&Completion],
        take: usize,
        token_prefix: &str,
    ) -> Result<BatchOutcome> {
        let mut profiles: Vec<Profile> = Vec::new();
        let args: Vec<ManyJob<'_>> = jobs
            .iter()
            .map(|c| {
                let profile = profiles.iter().position(|q| *q == c.profile).unwrap_or_else(|| {
                    profiles.push(c.profile);
                    profiles.len() - 1
                });
                ManyJob {
                    id: &c.id,
                    value: &c.value,
                    token: c.lease.token(),
                    atm_next: c.atm_next,
                    profile,
                    finished_us: c.finished_us,
                }
            })
            .collect();
        let fetch = self.fetch_args(token_prefix, now_ms());
        let reply = FinishMany { profiles: &profiles, jobs: &args, take, fetch: &fetch }.run(client).await?;
        if reply.ttl > 0 {
            self.set_rate_limited(reply.ttl);
        }
        let ran_dry = (take > 0 && reply.taken.len() < take && reply.ttl == 0).then_some(reply.due);
        let mut taken = Vec::with_capacity(reply.taken.len());
        let mut gone = Vec::new();
        for (job, token) in reply.taken {
            match self.accept(job, &token).await {
                Ok(Accepted::Job(t)) => taken.push(Ok(*t)),
                Ok(Accepted::Gone { id }) => gone.push(id),
                Ok(_) => {}
                Err(e) => taken.push(Err(e)),
            }
        }
        Ok(BatchOutcome { finished: reply.finished, taken, gone, ran_dry })
    }
}
