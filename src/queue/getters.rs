//! Reading a queue: states, counts and ranges of jobs.

use std::collections::HashMap;

use super::Queue;
use crate::error::{Error, Result};
use crate::job::{pairs_to_map, Job, JobState};
use crate::scripts::GetState;

impl Queue {
    /// The state of a job (`Unknown` when it does not exist).
    pub async fn get_job_state(&self, id: &str) -> Result<JobState> {
        GetState { id, base: None }.run(self.client()?).await
    }

    /// The number of jobs in each of `states`, read in one round trip.
    pub async fn get_job_counts(&self, states: &[JobState]) -> Result<HashMap<JobState, u64>> {
        let mut pipe = redis::pipe();
        for s in states {
            let key = self.keys().key(s.key().ok_or_else(|| Error::invalid("state", "cannot count unknown jobs"))?);
            if s.is_list() {
                pipe.cmd("LLEN").arg(key);
            } else {
                pipe.cmd("ZCARD").arg(key);
            }
        }
        let mut conn = self.client()?.conn();
        let counts: Vec<u64> = pipe.query_async(&mut conn).await.map_err(|e| Error::redis("getCounts", None, e))?;
        Ok(states.iter().copied().zip(counts).collect())
    }

    /// Counts of every state Node's `getJobCounts()` reports by default.
    pub async fn get_counts(&self) -> Result<HashMap<JobState, u64>> {
        self.get_job_counts(&JobState::DEFAULT_COUNTS).await
    }

    async fn count_of(&self, s: JobState) -> Result<u64> {
        Ok(self.get_job_counts(&[s]).await?.get(&s).copied().unwrap_or(0))
    }

    /// Jobs waiting with priority 0.
    pub async fn get_waiting_count(&self) -> Result<u64> {
        self.count_of(JobState::Waiting).await
    }
    /// Jobs being processed.
    pub async fn get_active_count(&self) -> Result<u64> {
        self.count_of(JobState::Active).await
    }
    /// Delayed jobs.
    pub async fn get_delayed_count(&self) -> Result<u64> {
        self.count_of(JobState::Delayed).await
    }
    /// Prioritized waiting jobs.
    pub async fn get_prioritized_count(&self) -> Result<u64> {
        self.count_of(JobState::Prioritized).await
    }
    /// Completed jobs kept.
    pub async fn get_completed_count(&self) -> Result<u64> {
        self.count_of(JobState::Completed).await
    }
    /// Failed jobs kept.
    pub async fn get_failed_count(&self) -> Result<u64> {
        self.count_of(JobState::Failed).await
    }
    /// Parents waiting for children.
    pub async fn get_waiting_children_count(&self) -> Result<u64> {
        self.count_of(JobState::WaitingChildren).await
    }

    /// Waiting jobs per priority (0 counts the wait list).
    pub async fn get_counts_per_priority(&self, priorities: &[u32]) -> Result<HashMap<u32, u64>> {
        let mut pipe = redis::pipe();
        for p in priorities {
            if *p == 0 {
                pipe.cmd("LLEN").arg(self.keys().key("wait"));
            } else {
                let low = (*p as u64) << 32;
                pipe.cmd("ZCOUNT").arg(self.keys().key("prioritized")).arg(low).arg(low + (1u64 << 32) - 1);
            }
        }
        let mut conn = self.client()?.conn();
        let counts: Vec<u64> =
            pipe.query_async(&mut conn).await.map_err(|e| Error::redis("getCountsPerPriority", None, e))?;
        Ok(priorities.iter().copied().zip(counts).collect())
    }

    /// Ids in `states`, positions `start..=end` of each (negative counts from the end), oldest
    /// first with `asc`.
    pub async fn get_ranges(&self, states: &[JobState], start: i64, end: i64, asc: bool) -> Result<Vec<String>> {
        let mut pipe = redis::pipe();
        for s in states {
            let key = self.keys().key(s.key().ok_or_else(|| Error::invalid("state", "no range of unknown jobs"))?);
            if s.is_list() {
                // Lists hold the newest at the head: ascending order reads from the tail.
                if asc {
                    pipe.cmd("LRANGE").arg(key).arg(-(end + 1)).arg(-(start + 1));
                } else {
                    pipe.cmd("LRANGE").arg(key).arg(start).arg(end);
                }
            } else if asc {
                pipe.cmd("ZRANGE").arg(key).arg(start).arg(end);
            } else {
                pipe.cmd("ZREVRANGE").arg(key).arg(start).arg(end);
            }
        }
        let mut conn = self.client()?.conn();
        let lists: Vec<Vec<String>> =
            pipe.query_async(&mut conn).await.map_err(|e| Error::redis("getRanges", None, e))?;
        let mut out = Vec::new();
        for (s, mut ids) in states.iter().zip(lists) {
            if s.is_list() && asc {
                ids.reverse();
            }
            out.extend(ids);
        }
        Ok(out)
    }

    /// Jobs in `states` (see [`get_ranges`](Self::get_ranges)); ids whose hash is gone are skipped.
    pub async fn get_jobs(&self, states: &[JobState], start: i64, end: i64, asc: bool) -> Result<Vec<Job>> {
        let ids = self.get_ranges(states, start, end, asc).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.keys().job(id));
        }
        let mut conn = self.client()?.conn();
        let hashes: Vec<Vec<String>> =
            pipe.query_async(&mut conn).await.map_err(|e| Error::redis("getJobs", None, e))?;
        let mut jobs = Vec::with_capacity(ids.len());
        for (id, flat) in ids.iter().zip(hashes) {
            if !flat.is_empty() {
                jobs.push(Job::from_hash(self.keys(), id, pairs_to_map(flat))?);
            }
        }
        Ok(jobs)
    }

    /// Waiting jobs, newest first.
    pub async fn get_waiting(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Waiting], start, end, false).await
    }
    /// Active jobs.
    pub async fn get_active(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Active], start, end, false).await
    }
    /// Delayed jobs, latest due first.
    pub async fn get_delayed(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Delayed], start, end, false).await
    }
    /// Prioritized jobs.
    pub async fn get_prioritized(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Prioritized], start, end, false).await
    }
    /// Completed jobs, most recent first.
    pub async fn get_completed(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Completed], start, end, false).await
    }
    /// Failed jobs, most recent first.
    pub async fn get_failed(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::Failed], start, end, false).await
    }
    /// Parents waiting for children.
    pub async fn get_waiting_children(&self, start: i64, end: i64) -> Result<Vec<Job>> {
        self.get_jobs(&[JobState::WaitingChildren], start, end, false).await
    }

    /// A job's log lines `start..=end`, oldest first with `asc`, and the total count.
    pub async fn get_job_logs(&self, id: &str, start: i64, end: i64, asc: bool) -> Result<(Vec<String>, u64)> {
        let key = format!("{}:logs", self.keys().job(id));
        let mut pipe = redis::pipe();
        if asc {
            pipe.cmd("LRANGE").arg(&key).arg(start).arg(end);
        } else {
            pipe.cmd("LRANGE").arg(&key).arg(-(end + 1)).arg(-(start + 1));
        }
        pipe.cmd("LLEN").arg(&key);
        let mut conn = self.client()?.conn();
        let (mut lines, count): (Vec<String>, u64) =
            pipe.query_async(&mut conn).await.map_err(|e| Error::redis("getJobLogs", Some(id), e))?;
        if !asc {
            lines.reverse();
        }
        Ok((lines, count))
    }
}
