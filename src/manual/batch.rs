//! Completing many jobs in one call (the worker tree's finisher): each job is finished exactly
//! as [`Job::move_to_completed`] would finish it, and the freed slots are refilled in the same
//! call. One call instead of one per job is what keeps Redis CPU per job down at high
//! concurrency: the per-call work (script dispatch, events cap and trim, pause/limit reads,
//! delayed promotion, marker) is paid once per batch.

use serde_json::Value;

use super::fetch::Accepted;
use super::ManualWorker;
use crate::error::{check_code, Error, Result};
use crate::job::Job;
use crate::options::KeepJobs;
use crate::queue::now_ms;
use crate::scripts::worker as sw;

/// One job to complete: what moveToFinished needs, owned.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub(crate) id: String,
    pub(crate) value: String,
    pub(crate) token: String,
    keep: (i64, Option<u64>, Option<u64>),
    attempts: u32,
    /// `atm + 1` when the job has no parent link nor deduplication id (see `Job::plain_atm`):
    /// the script then reads nothing back from the job's hash. Empty otherwise.
    atm_next: String,
    /// When the job finished, µs since the epoch (see [`Completion::finished_at`]).
    pub(crate) finished_us: u64,
}

impl Completion {
    /// The finish time as finishMany takes it: ms with the µs as a fraction.
    fn finished_at(&self) -> String {
        format!("{}.{:03}", self.finished_us / 1000, self.finished_us % 1000)
    }
}

/// µs since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// What a batch did: a result per completion (in order) and the jobs taken for the freed slots.
pub(crate) struct BatchOutcome {
    pub(crate) finished: Vec<Result<()>>,
    pub(crate) taken: Vec<Result<Job>>,
    /// `Some(next delayed due ms, 0: none)` when fewer jobs than asked for were there to take
    /// (and no rate limit stopped the takes): the queue ran dry for this worker.
    pub(crate) ran_dry: Option<u64>,
}

impl Job {
    /// The completion of this job with `returnvalue`, with the retention the job (or else the
    /// worker) asks for.
    pub(crate) fn completion(&self, returnvalue: &Value, token: &str) -> Result<Completion> {
        let value = serde_json::to_string(returnvalue).map_err(|source| Error::Serialize {
            what: "returnvalue",
            job_id: Some(self.id.clone()),
            source,
        })?;
        let worker = self.worker.as_ref();
        let keep =
            self.opts.remove_on_complete.as_ref().or(worker.and_then(|w| w.inner.opts.remove_on_complete.as_ref()));
        Ok(Completion {
            id: self.id.clone(),
            value,
            token: token.to_owned(),
            keep: KeepJobs::as_triple(keep),
            attempts: self.opts.attempts.unwrap_or(0),
            atm_next: self.plain_atm.map(|n| (n + 1).to_string()).unwrap_or_default(),
            finished_us: now_us(),
        })
    }
}

impl ManualWorker {
    /// Completes `jobs` and takes up to `take` next jobs (locked under `<token_prefix>:<i>`) in
    /// one script call. A job whose stored data cannot be decoded is failed at pickup and comes
    /// back as its error; jobs with deferred failures are failed and skipped.
    pub(crate) async fn complete_many(
        &self,
        jobs: &[&Completion],
        take: usize,
        token_prefix: &str,
    ) -> Result<BatchOutcome> {
        let metrics = self.inner.opts.metrics.map(|m| m.max_data_points);
        let mut profiles: Vec<sw::Profile> = Vec::new();
        let times: Vec<String> = jobs.iter().map(|c| c.finished_at()).collect();
        let args: Vec<sw::ManyJob<'_>> = jobs
            .iter()
            .zip(&times)
            .map(|(c, finished_at)| {
                let p = (c.keep, c.attempts, metrics);
                let profile = profiles.iter().position(|q| *q == p).unwrap_or_else(|| {
                    profiles.push(p);
                    profiles.len() - 1
                });
                sw::ManyJob { id: &c.id, value: &c.value, token: &c.token, atm_next: &c.atm_next, profile, finished_at }
            })
            .collect();
        let mut conn = self.inner.queue.conn()?;
        let f = self.fetch_opts(token_prefix, now_ms());
        let reply = sw::finish_many(&mut conn, &self.inner.queue.keys().base, &profiles, &args, take, &f)
            .await
            .map_err(|e| Error::redis("finishMany", None, e))?;
        if reply.ttl > 0 {
            self.set_rate_limited(reply.ttl);
        }
        let finished = jobs
            .iter()
            .zip(reply.codes.iter().copied().chain(std::iter::repeat(0)))
            .map(|(c, code)| check_code(code, &c.id, "moveToFinished", "active").map(|_| ()))
            .collect();
        let ran_dry = (take > 0 && reply.taken.len() < take && reply.ttl == 0).then_some(reply.due);
        let mut taken = Vec::with_capacity(reply.taken.len());
        for (job, token) in reply.taken {
            match self.accept(job, &token).await {
                Ok(Accepted::Job(job)) => taken.push(Ok(*job)),
                Ok(_) => {}
                Err(e) => taken.push(Err(e)),
            }
        }
        Ok(BatchOutcome { finished, taken, ran_dry })
    }
}
