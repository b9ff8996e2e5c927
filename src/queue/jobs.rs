//! Operations on one job of the queue, by id (as Node's `Queue.updateJobProgress`,
//! `Queue.addJobLog`, ...): progress, data, logs, priority, delay, re-running, deduplication.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::Queue;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::job::{Job, JobState, MAX_PRIORITY};
use crate::scripts::{ChangeDelay, ChangePriority, JobField, RemoveDeduplicationKey, ReprocessJob, UpdateJob};

fn json(what: &'static str, id: &str, value: impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|source| Error::Serialize { what, job_id: Some(id.to_owned()), source })
}

impl Queue {
    /// Reports the progress of job `id` (a number or any JSON object): stored on the job, and a
    /// `progress` event in the queue's stream. Returns the progress as stored.
    pub async fn update_job_progress(&self, id: &str, progress: impl Serialize) -> Result<Value> {
        let v = json("progress", id, progress)?;
        let value = v.to_string();
        UpdateJob { id, field: JobField::Progress, value: &value, keep_logs: None }.run(self.client()?).await?;
        Ok(v)
    }

    /// Replaces the data of job `id`. Returns the data as stored.
    pub async fn update_job_data(&self, id: &str, data: impl Serialize) -> Result<Value> {
        let v = json("data", id, data)?;
        let value = v.to_string();
        UpdateJob { id, field: JobField::Data, value: &value, keep_logs: None }.run(self.client()?).await?;
        Ok(v)
    }

    /// Appends a line to the log of job `id`, keeping only the newest `keep_logs` when set (a
    /// job's own `keep_logs` option is what a worker passes). Returns the number of lines.
    pub async fn add_job_log(&self, id: &str, line: &str, keep_logs: Option<u64>) -> Result<u64> {
        UpdateJob { id, field: JobField::Log, value: line, keep_logs }.run(self.client()?).await
    }

    /// Changes the priority of job `id`; a waiting job is re-queued by it (in front of its band
    /// with `lifo`).
    pub async fn change_job_priority(&self, id: &str, priority: u32, lifo: bool) -> Result<()> {
        if priority > MAX_PRIORITY {
            return Err(Error::invalid("priority", format!("{priority} is above {MAX_PRIORITY}")));
        }
        ChangePriority { id, priority, lifo }.run(self.client()?).await
    }

    /// Re-schedules delayed job `id` to run `delay` from now.
    pub async fn change_job_delay(&self, id: &str, delay: Duration) -> Result<()> {
        ChangeDelay { id, delay, now: now_ms() }.run(self.client()?).await
    }

    /// Runs a failed or completed job again (Node's `job.retry(state)`), resetting its attempt
    /// counters when asked. It goes to the front of the line when it was added LIFO.
    pub async fn retry_job(
        &self,
        job: &Job,
        state: JobState,
        reset_attempts_made: bool,
        reset_attempts_started: bool,
    ) -> Result<()> {
        if !matches!(state, JobState::Failed | JobState::Completed) {
            return Err(Error::invalid("state", "retry takes failed or completed"));
        }
        let lifo = job.opts.lifo;
        ReprocessJob { id: &job.id, state, reset_attempts_made, reset_attempts_started, lifo }.run(self.client()?).await
    }

    /// Deletes the deduplication key of `job` if the job still owns it. Returns whether it did.
    pub async fn remove_job_deduplication_key(&self, job: &Job) -> Result<bool> {
        let Some(dedup) = &job.deduplication_id else {
            return Ok(false);
        };
        RemoveDeduplicationKey { dedup, job_id: &job.id }.run(self.client()?).await
    }
}
