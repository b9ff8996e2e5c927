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
    /// back as its error; jobs with deferred failures are failed and skipped. A fair group's
    /// batch holds jobs of many tenant queues: the call lists them, and its take is the group's.
    pub(crate) async fn complete_many(
        &self,
        jobs: &[&Completion],
        take: usize,
        token_prefix: &str,
    ) -> Result<BatchOutcome> {
        let client = self.queue.client()?;
        let mut bases: Vec<&str> = Vec::new();
        let mut profiles: Vec<Profile> = Vec::new();
        let args: Vec<ManyJob<'_>> = jobs
            .iter()
            .map(|c| {
                let profile = profiles.iter().position(|q| *q == c.profile).unwrap_or_else(|| {
                    profiles.push(c.profile);
                    profiles.len() - 1
                });
                let base = match self.fair {
                    Some(_) => bases.iter().position(|b| *b == c.keys.base).unwrap_or_else(|| {
                        bases.push(&c.keys.base);
                        bases.len() - 1
                    }),
                    None => 0,
                };
                ManyJob {
                    id: &c.id,
                    base,
                    value: &c.value,
                    token: c.lease.token(),
                    atm_next: c.atm_next,
                    profile,
                    finished_us: c.finished_us,
                }
            })
            .collect();
        let fetch = self.fetch_args(token_prefix, now_ms());
        let call = FinishMany { profiles: &profiles, jobs: &args, take, fetch: &fetch, bases: &bases };
        let reply = call.run(client).await?;
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
