//! Operations on one job through its queue: progress, data, logs, priority, delay, promotion,
//! removal, re-running, state.

use serde::Serialize;

use crate::error::{check_code, Error, Result};
use crate::job::Job;
use crate::queue::now_ms;
use crate::scripts::admin as sa;
use crate::state::JobState;

impl Job {
    async fn update(&self, op: &'static str, what: &str, value: &str, keep: Option<u64>) -> Result<i64> {
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let r = sa::update_job(&mut conn, &queue.keys().base, &self.id, what, value, keep)
            .await
            .map_err(|e| Error::redis(op, Some(&self.id), e))?;
        check_code(r, &self.id, op, "")
    }

    /// Reports progress (a number or any JSON object); emits a `progress` event.
    pub async fn update_progress(&mut self, progress: impl Serialize) -> Result<()> {
        let v = serde_json::to_value(progress).map_err(|source| Error::Serialize {
            what: "progress",
            job_id: Some(self.id.clone()),
            source,
        })?;
        self.update("updateProgress", "progress", &v.to_string(), None).await?;
        self.progress = v;
        Ok(())
    }

    /// Replaces the job's data.
    pub async fn update_data(&mut self, data: impl Serialize) -> Result<()> {
        let v = serde_json::to_value(data).map_err(|source| Error::Serialize {
            what: "data",
            job_id: Some(self.id.clone()),
            source,
        })?;
        self.update("updateData", "data", &v.to_string(), None).await?;
        self.data = v;
        Ok(())
    }

    /// Appends a log line (keeping the newest `keep_logs`); returns the number of lines.
    pub async fn log(&self, line: &str) -> Result<u64> {
        Ok(self.update("addLog", "log", line, self.opts.keep_logs).await? as u64)
    }

    /// Log lines `start..=end`, oldest first, and the total count.
    pub async fn get_logs(&self, start: i64, end: i64) -> Result<(Vec<String>, u64)> {
        self.queue()?.get_job_logs(&self.id, start, end, true).await
    }

    /// Changes the priority; a waiting job is re-queued by it (in front of its band with `lifo`).
    pub async fn change_priority(&mut self, priority: u32, lifo: bool) -> Result<()> {
        if priority > crate::options::MAX_PRIORITY {
            return Err(Error::invalid("priority", format!("{priority} is above {}", crate::options::MAX_PRIORITY)));
        }
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let r = sa::change_priority(&mut conn, &queue.keys().base, &self.id, priority, lifo)
            .await
            .map_err(|e| Error::redis("changePriority", Some(&self.id), e))?;
        check_code(r, &self.id, "changePriority", "")?;
        self.priority = priority;
        Ok(())
    }

    /// Re-schedules a delayed job to run `delay_ms` from now.
    pub async fn change_delay(&mut self, delay_ms: u64) -> Result<()> {
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let r = sa::change_delay(&mut conn, &queue.keys().base, &self.id, delay_ms, now_ms())
            .await
            .map_err(|e| Error::redis("changeDelay", Some(&self.id), e))?;
        check_code(r, &self.id, "changeDelay", "delayed")?;
        self.delay = delay_ms;
        Ok(())
    }

    /// Makes a delayed job ready now.
    pub async fn promote(&self) -> Result<()> {
        self.queue()?.promote_job(&self.id).await
    }

    /// Removes the job (and its children with `remove_children`); false when it is locked.
    pub async fn remove(&self, remove_children: bool) -> Result<bool> {
        self.queue()?.remove_job(&self.id, remove_children).await
    }

    /// Runs a failed or completed job again.
    pub async fn retry(&self, state: JobState, reset_attempts_made: bool, reset_attempts_started: bool) -> Result<()> {
        if !matches!(state, JobState::Failed | JobState::Completed) {
            return Err(Error::invalid("state", "retry takes failed or completed"));
        }
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let r = sa::reprocess_job(
            &mut conn,
            &queue.keys().base,
            &self.id,
            state.as_str(),
            reset_attempts_made,
            reset_attempts_started,
            self.opts.lifo,
        )
        .await
        .map_err(|e| Error::redis("reprocessJob", Some(&self.id), e))?;
        check_code(r, &self.id, "reprocessJob", state.as_str()).map(|_| ())
    }

    /// The job's current state.
    pub async fn get_state(&self) -> Result<JobState> {
        self.queue()?.get_job_state(&self.id).await
    }

    /// Deletes the job's deduplication key if this job still owns it. Returns whether it did.
    pub async fn remove_deduplication_key(&self) -> Result<bool> {
        let Some(dedup) = &self.deduplication_id else {
            return Ok(false);
        };
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let n = sa::remove_deduplication_key(&mut conn, &queue.keys().base, dedup, &self.id)
            .await
            .map_err(|e| Error::redis("removeDeduplicationKey", Some(&self.id), e))?;
        Ok(n == 1)
    }
}
