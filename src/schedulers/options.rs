//! What a scheduler repeats ([`RepeatOptions`]) and what each iteration is ([`JobTemplate`]),
//! and their validation: everything a scheduler could be refused for is refused at upsert,
//! before anything is written, so no schedule is silently dead.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::cron::Cron;
use crate::error::{Error, Result};
use crate::job::{epoch_ms, ms, JobOptions};

/// When a job scheduler produces iterations (BullMQ's `RepeatOptions`). Exactly one of
/// `pattern` and `every` is set; build with [`RepeatOptions::pattern`] or
/// [`RepeatOptions::every`].
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepeatOptions {
    /// A cron pattern: 5 fields, or 6 with seconds first; Sunday is 0 or 7; day of month and
    /// day of week are ORed when both are restricted; `L`, `#`, `?`, names and steps as
    /// cron-parser 5.10.3 (BullMQ 6.7's) reads them. `W`, a year field and `H` are refused.
    pub pattern: Option<String>,
    /// A fixed interval (at least 1 ms, whole ms).
    pub every: Option<Duration>,
    /// `every` only: where slots fall inside the interval (slot = k·every + offset). Default:
    /// the phase of the first slot, which is the start date, or now.
    pub offset: Option<Duration>,
    /// The IANA time zone `pattern` is read in. Default UTC (cron-parser uses the process's
    /// local zone when none is given: set it when Node workers in another zone share the queue).
    pub tz: Option<String>,
    /// No iteration before this instant. Default none.
    pub start_date: Option<SystemTime>,
    /// No iteration after this instant; must be in the future. Default none.
    pub end_date: Option<SystemTime>,
    /// At most this many iterations (at least 1). Default none.
    pub limit: Option<u64>,
    /// `pattern` only: the first iteration runs now, the next ones on the pattern. Not with
    /// `start_date`. (An `every` scheduler without a start date runs its first slot now
    /// anyway.) Default false.
    pub immediately: bool,
}

impl RepeatOptions {
    /// Iterations on a cron `pattern`.
    pub fn pattern(pattern: impl Into<String>) -> Self {
        RepeatOptions { pattern: Some(pattern.into()), ..Default::default() }
    }
    /// An iteration every `every`.
    pub fn every(every: Duration) -> Self {
        RepeatOptions { every: Some(every), ..Default::default() }
    }
    /// Builder: the time zone of the pattern.
    pub fn tz(mut self, tz: impl Into<String>) -> Self {
        self.tz = Some(tz.into());
        self
    }
    /// Builder: where `every` slots fall inside the interval.
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Builder: no iteration before `at`.
    pub fn start_date(mut self, at: SystemTime) -> Self {
        self.start_date = Some(at);
        self
    }
    /// Builder: no iteration after `at`.
    pub fn end_date(mut self, at: SystemTime) -> Self {
        self.end_date = Some(at);
        self
    }
    /// Builder: at most `n` iterations.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
    /// Builder: the first iteration of a pattern runs now.
    pub fn immediately(mut self, on: bool) -> Self {
        self.immediately = on;
        self
    }

    /// Checks the options at `now` (ms); the parsed pattern when there is one.
    pub(crate) fn validate(&self, now: u64) -> Result<Option<Cron>> {
        if self.immediately && self.start_date.is_some() {
            return Err(Error::invalid("repeat.immediately", "not with `start_date`"));
        }
        if self.limit == Some(0) {
            return Err(Error::invalid("repeat.limit", "must be at least 1"));
        }
        let cron = match (&self.pattern, self.every) {
            (Some(_), Some(_)) => return Err(Error::invalid("repeat", "set `pattern` or `every`, not both")),
            (None, None) => return Err(Error::invalid("repeat", "set `pattern` or `every`")),
            (Some(p), None) => {
                if self.offset.is_some() {
                    return Err(Error::invalid("repeat.offset", "`offset` applies to `every` schedulers only"));
                }
                Some(Cron::parse(p, self.tz.as_deref()).map_err(|m| Error::invalid("repeat.pattern", m))?)
            }
            (None, Some(every)) => {
                if every < Duration::from_millis(1) {
                    return Err(Error::invalid("repeat.every", "must be at least 1 ms"));
                }
                if let Some(offset) = self.offset {
                    if offset >= every {
                        return Err(Error::invalid("repeat.offset", "must be shorter than `every`"));
                    }
                }
                None
            }
        };
        if let Some(end) = self.end_date.map(epoch_ms) {
            if end <= now {
                return Err(Error::invalid("repeat.end_date", "must be in the future"));
            }
            if self.start_date.map(epoch_ms).is_some_and(|start| start >= end) {
                return Err(Error::invalid("repeat.end_date", "must be after `start_date`"));
            }
        }
        Ok(cron)
    }

    /// `every` in ms.
    pub(crate) fn every_ms(&self) -> Option<u64> {
        self.every.map(ms)
    }

    /// `offset` in ms, as BullMQ keeps it (only for `every`, and only when not 0).
    pub(crate) fn offset_ms(&self) -> Option<u64> {
        self.offset.map(ms).filter(|o| *o > 0 && self.every.is_some())
    }
}

/// What each iteration of a scheduler is: its name (default: the scheduler id), data (default
/// `{}`) and job options (merged over the queue's default job options, applied to every
/// iteration).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobTemplate {
    /// The iterations' job name. Default: the scheduler id.
    pub name: Option<String>,
    /// The iterations' data. Default `{}`.
    pub data: Value,
    /// The iterations' options. `job_id`, `delay` and `parent` are refused: a scheduler names
    /// and times its iterations itself. `deduplication` is carried on each iteration's options
    /// but does not deduplicate iterations (as in BullMQ); see the README for the pattern that
    /// does.
    pub opts: JobOptions,
}

impl JobTemplate {
    /// A template whose iterations are named `name`.
    pub fn named(name: impl Into<String>) -> Self {
        JobTemplate { name: Some(name.into()), ..Default::default() }
    }
    /// Builder: the iterations' data.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
    /// Builder: the iterations' options.
    pub fn opts(mut self, opts: JobOptions) -> Self {
        self.opts = opts;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let o = &self.opts;
        o.validate()?;
        if o.job_id.is_some() {
            return Err(Error::invalid("job_id", "a scheduler names its iterations repeat:<id>:<slot>"));
        }
        if o.delay.is_some() {
            return Err(Error::invalid("delay", "a scheduler times its iterations itself"));
        }
        if o.parent.is_some() {
            return Err(Error::invalid("parent", "scheduler iterations cannot have a parent"));
        }
        Ok(())
    }
}
