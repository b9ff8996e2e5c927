//! Finishing a fetched job: complete, fail (with the retry decision), delay, push back, and
//! lock extension. Every move checks the lock token in Redis; a wrong or expired token is a
//! `ScriptError` (-2 / -6) and changes nothing.

use serde::Serialize;

use super::fetch::Accepted;
use super::ManualWorker;
use crate::backoff::{next_attempt, NextAttempt};
use crate::error::{check_code, Error, Result};
use crate::job::Job;
use crate::options::KeepJobs;
use crate::queue::{now_ms, Queue};
use crate::scripts::worker::{self as sw, DelayArgs, FetchOpts, FinishArgs, FinishReply};
use crate::telemetry::{record_job, JobMetric};

/// Why a job failed: the message stored as `failedReason`, and where it happened, stored in the
/// job's `stacktrace` (what dashboards such as bull-board show in their error tab).
///
/// The stack entry is built from the place the error was made ([`new`](Self::new), or the `?`
/// that converted another error through `From`), the error's source chain and a backtrace when
/// one was captured: by the processor ([`with_backtrace`](Self::with_backtrace)), or here when
/// `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asks for it. [`with_stack`](Self::with_stack)
/// replaces it with text of your own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The failed reason stored in `failedReason`.
    pub message: String,
    /// A stack trace of your own, stored instead of the one built from the error.
    pub stack: Option<String>,
    /// No retry, whatever the attempts left (Node's `UnrecoverableError`).
    pub unrecoverable: bool,
    location: Option<&'static std::panic::Location<'static>>,
    causes: Vec<String>,
    backtrace: Option<String>,
}

/// A backtrace as text, when one was captured (`RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` set).
fn captured(bt: &std::backtrace::Backtrace) -> Option<String> {
    (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string())
}

impl JobError {
    #[track_caller]
    fn at(message: String, unrecoverable: bool) -> Self {
        JobError {
            message,
            stack: None,
            unrecoverable,
            location: Some(std::panic::Location::caller()),
            causes: Vec::new(),
            backtrace: captured(&std::backtrace::Backtrace::capture()),
        }
    }

    /// A failure that may be retried, recorded as happening where this is called.
    #[track_caller]
    pub fn new(message: impl Into<String>) -> Self {
        Self::at(message.into(), false)
    }

    /// A failure that is never retried, recorded as happening where this is called.
    #[track_caller]
    pub fn unrecoverable(message: impl Into<String>) -> Self {
        Self::at(message.into(), true)
    }

    /// A failure from any error: its message, its source chain, and where this is called.
    #[track_caller]
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut e = Self::at(err.to_string(), false);
        let mut source = err.source();
        while let Some(s) = source {
            e.causes.push(s.to_string());
            source = s.source();
        }
        e
    }

    /// A failure with no place in the processor to point at: a panic (where it panicked is not
    /// known here), a cancel whose grace ran out.
    pub(crate) fn bare(message: String) -> Self {
        JobError { message, stack: None, unrecoverable: false, location: None, causes: Vec::new(), backtrace: None }
    }

    /// Makes it unrecoverable (no retry).
    pub fn into_unrecoverable(mut self) -> Self {
        self.unrecoverable = true;
        self
    }

    /// Replaces the stack trace with your own text.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }

    /// Adds a backtrace the processor captured (shown when it was captured).
    pub fn with_backtrace(mut self, backtrace: &std::backtrace::Backtrace) -> Self {
        self.backtrace = captured(backtrace).or(self.backtrace);
        self
    }

    /// Where the error was made, if known.
    pub fn location(&self) -> Option<&'static std::panic::Location<'static>> {
        self.location
    }

    /// The entry appended to the job's `stacktrace`: the message, `at <file>:<line>:<column>`,
    /// one `caused by:` line per source, then the backtrace if one was captured.
    pub fn stack_text(&self) -> String {
        if let Some(stack) = &self.stack {
            return stack.clone();
        }
        let mut out = self.message.clone();
        if let Some(at) = self.location {
            out.push_str(&format!("\n    at {}:{}:{}", at.file(), at.line(), at.column()));
        }
        for cause in &self.causes {
            out.push_str(&format!("\n    caused by: {cause}"));
        }
        if let Some(bt) = &self.backtrace {
            out.push_str("\nstack backtrace:\n");
            out.push_str(bt);
        }
        out
    }

    /// The same failure under another message, the original kept as its first cause (a
    /// honoured cancel is stored as `job cancelled: <reason>`, caused by what the processor said).
    pub(crate) fn reworded(mut self, message: String) -> Self {
        let said = std::mem::replace(&mut self.message, message);
        self.causes.insert(0, said);
        self
    }
}

impl<E: std::error::Error + 'static> From<E> for JobError {
    /// Any error, with its source chain, recorded where the `?` (or `into`) converted it.
    #[track_caller]
    fn from(err: E) -> Self {
        JobError::from_error(&err)
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What [`Job::move_to_failed`] did.
#[derive(Debug)]
pub enum FailOutcome {
    /// The job will run again after `delay` ms (0: it is waiting already).
    Retried {
        /// Backoff delay in ms.
        delay: u64,
    },
    /// The job failed for good; `next` is the next job when one was asked for.
    Failed {
        /// The next job, locked with the same token.
        next: Option<Box<Job>>,
    },
}

/// Defaults used for a job that was not fetched through a worker.
fn default_worker_opts() -> crate::worker_options::WorkerOptions {
    crate::worker_options::WorkerOptions::default()
}

impl Job {
    fn handles(&self) -> Result<(&Queue, Option<&ManualWorker>)> {
        Ok((self.queue()?, self.worker.as_ref()))
    }

    fn fetch_opts<'a>(&self, worker: Option<&'a ManualWorker>, token: &'a str, now: u64) -> FetchOpts<'a> {
        match worker {
            Some(w) => w.fetch_opts(token, now),
            None => FetchOpts { now, token, lock_duration: 30_000, limiter: None, name: "" },
        }
    }

    /// Completes the job with `returnvalue` (stored as JSON; `()` is `null`). With `fetch_next`
    /// the next job is fetched in the same call and returned, locked with the same token.
    pub async fn move_to_completed(
        &self,
        returnvalue: impl Serialize,
        token: &str,
        fetch_next: bool,
    ) -> Result<Option<Job>> {
        let value = serde_json::to_string(&returnvalue).map_err(|source| Error::Serialize {
            what: "returnvalue",
            job_id: Some(self.id.clone()),
            source,
        })?;
        let (queue, worker) = self.handles()?;
        let keep =
            self.opts.remove_on_complete.as_ref().or(worker.and_then(|w| w.inner.opts.remove_on_complete.as_ref()));
        let args = FinishArgs {
            id: &self.id,
            target: "completed",
            value: &value,
            fetch_next: fetch_next && worker.is_some(),
            keep: KeepJobs::as_triple(keep),
            attempts: self.opts.attempts.unwrap_or(0),
            metrics_max_data_points: worker.and_then(|w| w.inner.opts.metrics.map(|m| m.max_data_points)),
            stacktrace: None,
        };
        self.finish(queue, worker, &args, token, "moveToFinished")
            .await
            .inspect(|_| record_job(self, JobMetric::Completed))
    }

    /// Fails the job: retried after its backoff when attempts are left and the error is
    /// recoverable, otherwise failed for good (PROTOCOL.md §19). The stack trace is appended to
    /// the job's `stacktrace`, kept to `stack_trace_limit`.
    pub async fn move_to_failed(&self, err: &JobError, token: &str, fetch_next: bool) -> Result<FailOutcome> {
        let (queue, worker) = self.handles()?;
        let wopts_default;
        let wopts = match worker {
            Some(w) => &w.inner.opts,
            None => {
                wopts_default = default_worker_opts();
                &wopts_default
            }
        };
        let mut stack = self.stacktrace.clone();
        stack.push(err.stack_text());
        if let Some(limit) = self.opts.stack_trace_limit {
            let drop = stack.len().saturating_sub(limit as usize);
            stack.drain(..drop);
        }
        let stack_json = serde_json::to_string(&stack).unwrap_or_else(|_| "[]".into());

        let attempts = self.opts.attempts.unwrap_or(0) as u64;
        let started_too_often = wopts.max_started_attempts.is_some_and(|m| self.attempts_started >= m);
        let mut reason = err.message.clone();
        let mut retry_in = None;
        if !err.unrecoverable && self.attempts_made + 1 < attempts && !started_too_often {
            match next_attempt(
                self.opts.backoff.as_ref(),
                self.attempts_made + 1,
                err,
                self,
                wopts.backoff_strategy.as_ref(),
            ) {
                NextAttempt::After(d) => retry_in = Some(d),
                NextAttempt::Stop => {}
                NextAttempt::Unknown(kind) => reason = format!("Unknown backoff strategy {kind}"),
            }
        }
        let mut conn = queue.conn()?;
        let base = &queue.keys().base;
        match retry_in {
            Some(0) => {
                let code =
                    sw::retry_job(&mut conn, base, &self.id, now_ms(), token, self.opts.lifo, &reason, &stack_json)
                        .await
                        .map_err(|e| Error::redis("retryJob", Some(&self.id), e))?;
                check_code(code, &self.id, "retryJob", "active")?;
                record_job(self, JobMetric::Retried);
                Ok(FailOutcome::Retried { delay: 0 })
            }
            Some(delay) => {
                let args = DelayArgs {
                    id: &self.id,
                    delay,
                    skip_attempt: false,
                    failed_reason: Some(&reason),
                    stacktrace: Some(&stack_json),
                    fetch_next: false,
                };
                let reply = sw::move_to_delayed(&mut conn, base, &args, &self.fetch_opts(worker, token, now_ms()))
                    .await
                    .map_err(|e| Error::redis("moveToDelayed", Some(&self.id), e))?;
                if let FinishReply::Code(code) = reply {
                    check_code(code, &self.id, "moveToDelayed", "active")?;
                }
                record_job(self, JobMetric::Delayed);
                Ok(FailOutcome::Retried { delay })
            }
            None => {
                let keep = self.opts.remove_on_fail.as_ref().or(wopts.remove_on_fail.as_ref());
                let args = FinishArgs {
                    id: &self.id,
                    target: "failed",
                    value: &reason,
                    fetch_next: fetch_next && worker.is_some(),
                    keep: KeepJobs::as_triple(keep),
                    attempts: self.opts.attempts.unwrap_or(0),
                    metrics_max_data_points: wopts.metrics.map(|m| m.max_data_points),
                    stacktrace: Some(&stack_json),
                };
                let next = self.finish(queue, worker, &args, token, "moveToFinished").await?;
                record_job(self, JobMetric::Failed);
                Ok(FailOutcome::Failed { next: next.map(Box::new) })
            }
        }
    }

    async fn finish(
        &self,
        queue: &Queue,
        worker: Option<&ManualWorker>,
        args: &FinishArgs<'_>,
        token: &str,
        command: &'static str,
    ) -> Result<Option<Job>> {
        match self.finish_raw(queue, worker, args, token, command).await? {
            FinishReply::Code(code) => {
                check_code(code, &self.id, command, "active")?;
                Ok(None)
            }
            FinishReply::Next(next) => match worker {
                Some(w) => match w.accept(next, token).await? {
                    Accepted::Job(job) => Ok(Some(*job)),
                    _ => Ok(None),
                },
                None => Ok(None),
            },
        }
    }

    async fn finish_raw(
        &self,
        queue: &Queue,
        worker: Option<&ManualWorker>,
        args: &FinishArgs<'_>,
        token: &str,
        command: &'static str,
    ) -> Result<FinishReply> {
        let mut conn = queue.conn()?;
        sw::move_to_finished(&mut conn, &queue.keys().base, args, &self.fetch_opts(worker, token, now_ms()))
            .await
            .map_err(|e| Error::redis(command, Some(&self.id), e))
    }

    /// Fails a job at pickup, without running it and without retry (deferred failures).
    pub(crate) async fn fail_at_pickup(&self, reason: &str, token: &str) -> Result<()> {
        let (queue, worker) = self.handles()?;
        let keep = self.opts.remove_on_fail.as_ref().or(worker.and_then(|w| w.inner.opts.remove_on_fail.as_ref()));
        let mut stack = self.stacktrace.clone();
        stack.push(reason.to_owned());
        let stack_json = serde_json::to_string(&stack).unwrap_or_else(|_| "[]".into());
        let args = FinishArgs {
            id: &self.id,
            target: "failed",
            value: reason,
            fetch_next: false,
            keep: KeepJobs::as_triple(keep),
            attempts: self.opts.attempts.unwrap_or(0),
            metrics_max_data_points: worker.and_then(|w| w.inner.opts.metrics.map(|m| m.max_data_points)),
            stacktrace: Some(&stack_json),
        };
        if let FinishReply::Code(code) = self.finish_raw(queue, worker, &args, token, "moveToFinished").await? {
            check_code(code, &self.id, "moveToFinished", "active")?;
        }
        record_job(self, JobMetric::Failed);
        Ok(())
    }

    /// Puts the job back at the front of the line without counting an attempt, for a processor
    /// that hit a rate limit. Returns the limiter's remaining ms (0 when none).
    pub async fn move_to_wait(&self, token: &str) -> Result<u64> {
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let code = sw::move_job_from_active_to_wait(&mut conn, &queue.keys().base, &self.id, token)
            .await
            .map_err(|e| Error::redis("moveJobFromActiveToWait", Some(&self.id), e))?;
        let ttl = check_code(code, &self.id, "moveJobFromActiveToWait", "active")? as u64;
        record_job(self, JobMetric::Waiting);
        Ok(ttl)
    }

    /// Makes the job wait for its children (Node's `moveToWaitingChildren`): when a child is
    /// still pending (`child_key`, a full child job key, or any child when `None`), the job
    /// leaves active for waiting-children and its lock is released; the last child to finish
    /// moves it on. Returns false, leaving the job active, when nothing is pending.
    pub async fn move_to_waiting_children(&self, token: &str, child_key: Option<&str>) -> Result<bool> {
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let base = &queue.keys().base;
        let code = sw::move_to_waiting_children(&mut conn, base, &self.id, token, now_ms(), child_key)
            .await
            .map_err(|e| Error::redis("moveToWaitingChildren", Some(&self.id), e))?;
        Ok(check_code(code, &self.id, "moveToWaitingChildren", "active")? == 0)
    }

    /// Moves the job to delayed until `timestamp_ms` without counting an attempt (the
    /// processor asked to run later).
    pub async fn move_to_delayed(&self, timestamp_ms: u64, token: &str) -> Result<()> {
        let (queue, worker) = self.handles()?;
        let now = now_ms();
        let args = DelayArgs {
            id: &self.id,
            delay: timestamp_ms.saturating_sub(now),
            skip_attempt: true,
            failed_reason: None,
            stacktrace: None,
            fetch_next: false,
        };
        let mut conn = queue.conn()?;
        let reply = sw::move_to_delayed(&mut conn, &queue.keys().base, &args, &self.fetch_opts(worker, token, now))
            .await
            .map_err(|e| Error::redis("moveToDelayed", Some(&self.id), e))?;
        if let FinishReply::Code(code) = reply {
            check_code(code, &self.id, "moveToDelayed", "active")?;
        }
        record_job(self, JobMetric::Delayed);
        Ok(())
    }

    /// Renews this job's lock for `duration_ms`. False when the lock is no longer ours.
    pub async fn extend_lock(&self, token: &str, duration_ms: u64) -> Result<bool> {
        let queue = self.queue()?;
        let mut conn = queue.conn()?;
        let lost = sw::extend_locks(&mut conn, &queue.keys().base, duration_ms, &[(self.id.clone(), token.to_owned())])
            .await
            .map_err(|e| Error::redis("extendLock", Some(&self.id), e))?;
        Ok(lost.is_empty())
    }
}

impl ManualWorker {
    /// Fails a job whose hash cannot be decoded, unrecoverably, keeping it for inspection
    /// unless the worker's `remove_on_fail` says otherwise.
    pub(crate) async fn fail_corrupt(&self, id: &str, token: &str, reason: &str) -> Result<()> {
        let queue = &self.inner.queue;
        let stack = serde_json::to_string(&[reason]).unwrap_or_else(|_| "[]".into());
        let args = FinishArgs {
            id,
            target: "failed",
            value: reason,
            fetch_next: false,
            keep: KeepJobs::as_triple(self.inner.opts.remove_on_fail.as_ref()),
            attempts: 0,
            metrics_max_data_points: self.inner.opts.metrics.map(|m| m.max_data_points),
            stacktrace: Some(&stack),
        };
        let mut conn = queue.conn()?;
        let reply = sw::move_to_finished(&mut conn, &queue.keys().base, &args, &self.fetch_opts(token, now_ms()))
            .await
            .map_err(|e| Error::redis("moveToFinished", Some(id), e))?;
        if let FinishReply::Code(code) = reply {
            check_code(code, id, "moveToFinished", "active")?;
        }
        Ok(())
    }
}
