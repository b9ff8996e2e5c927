//! Job schedulers on a queue (Node's `Queue.upsertJobScheduler`, `getJobScheduler`, ...), and
//! the [`JobScheduler`] facade of the Elixir port (`upsert/list/get/remove/count`).

use super::Queue;
use crate::error::Result;
use crate::job::Job;
use crate::schedulers::{self, JobSchedulerRecord, JobTemplate, LegacyRepeatableJob, RepeatOptions};

impl Queue {
    /// Creates job scheduler `id`, or updates it: iterations of `template` on `repeat`, merged
    /// over the queue's default job options. Returns the pending iteration (id
    /// `repeat:<id>:<slot ms>`, delayed until its slot).
    ///
    /// Everything is checked before anything is written: an invalid pattern, time zone, date or
    /// option is an [`Error::InvalidOption`](crate::Error::InvalidOption). Upserting a scheduler
    /// with the options it already has changes nothing (N processes upserting at boot leave one
    /// scheduler and one pending iteration); changed options replace the pending iteration, or,
    /// when it is running, apply from the next one.
    pub async fn upsert_job_scheduler(&self, id: &str, repeat: RepeatOptions, template: JobTemplate) -> Result<Job> {
        let (job, unchanged) =
            schedulers::upsert(self.client()?, &self.options().default_job_options, id, &repeat, &template).await?;
        if unchanged {
            // Nothing was written: the pending iteration is the one already stored.
            if let Some(stored) = self.get_job(&job.id).await? {
                return Ok(stored);
            }
        }
        Ok(job)
    }

    /// Scheduler `id`, or `None`.
    pub async fn get_job_scheduler(&self, id: &str) -> Result<Option<JobSchedulerRecord>> {
        schedulers::get(self.client()?, id).await
    }

    /// Schedulers `start..=end` (indexes, `-1` the last) ordered by next slot, ascending when
    /// `asc` (Node's default is descending).
    pub async fn get_job_schedulers(&self, start: isize, end: isize, asc: bool) -> Result<Vec<JobSchedulerRecord>> {
        schedulers::list(self.client()?, start, end, asc).await
    }

    /// How many schedulers there are (legacy repeatable entries included, as Node counts).
    pub async fn get_job_schedulers_count(&self) -> Result<u64> {
        schedulers::count(self.client()?).await
    }

    /// Removes scheduler `id` (or a legacy repeatable entry) and its pending iteration unless it
    /// is running; a running one finishes and produces nothing. False when there was none.
    pub async fn remove_job_scheduler(&self, id: &str) -> Result<bool> {
        schedulers::remove(self.client()?, id).await
    }

    /// BullMQ 5 repeatable jobs left on this queue (`start..=end`, as
    /// [`get_job_schedulers`](Queue::get_job_schedulers)): listed so they can be removed; this
    /// crate never creates or iterates them.
    pub async fn get_repeatable_jobs(&self, start: isize, end: isize, asc: bool) -> Result<Vec<LegacyRepeatableJob>> {
        schedulers::list_legacy(self.client()?, start, end, asc).await
    }
}

/// The job schedulers of one queue, under the Elixir port's names.
#[derive(Debug, Clone)]
pub struct JobScheduler {
    queue: Queue,
}

impl JobScheduler {
    /// The schedulers of `queue`.
    pub fn new(queue: &Queue) -> Self {
        JobScheduler { queue: queue.clone() }
    }
    /// See [`Queue::upsert_job_scheduler`].
    pub async fn upsert(&self, id: &str, repeat: RepeatOptions, template: JobTemplate) -> Result<Job> {
        self.queue.upsert_job_scheduler(id, repeat, template).await
    }
    /// All schedulers, by next slot ascending.
    pub async fn list(&self) -> Result<Vec<JobSchedulerRecord>> {
        self.queue.get_job_schedulers(0, -1, true).await
    }
    /// See [`Queue::get_job_scheduler`].
    pub async fn get(&self, id: &str) -> Result<Option<JobSchedulerRecord>> {
        self.queue.get_job_scheduler(id).await
    }
    /// See [`Queue::remove_job_scheduler`].
    pub async fn remove(&self, id: &str) -> Result<bool> {
        self.queue.remove_job_scheduler(id).await
    }
    /// See [`Queue::get_job_schedulers_count`].
    pub async fn count(&self) -> Result<u64> {
        self.queue.get_job_schedulers_count().await
    }
}
