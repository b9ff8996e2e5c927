//! Job options, with BullMQ's names (snake_case) and defaults, their validation, and their
//! stored form: the `opts` JSON of the job hash, with Node's short keys (PROTOCOL.md §5).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest priority BullMQ accepts (2^21 - 1).
pub const MAX_PRIORITY: u32 = 2_097_151;

/// Options of one job. Every field defaults to "not set", which means BullMQ's default. Build
/// them with the methods of the same names: `JobOptions::default().attempts(3).delay(..)`.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOptions {
    /// 1 (highest) ..= 2,097,151. Default none (0): served before any prioritized job.
    pub priority: Option<u32>,
    /// How long to wait before the job becomes ready (stored in ms). Default none.
    pub delay: Option<Duration>,
    /// Total attempts, retries included. Default 0 (stored as 0; 0 and 1 both mean "no retry").
    pub attempts: Option<u32>,
    /// How long to wait between attempts. Default none: retry at once.
    pub backoff: Option<Backoff>,
    /// Serve this job before the others waiting (push to the served end). Default false.
    pub lifo: bool,
    /// A custom job id. Default none: the queue's counter. Must not be a plain integer, `0`,
    /// start with `0:`, or contain `:` unless it has exactly three `:`-separated parts.
    pub job_id: Option<String>,
    /// Deduplication (simple, throttle, debounce). Default none.
    pub deduplication: Option<Deduplication>,
    /// What to keep when the job completes. Default: the worker's setting, else keep it.
    pub remove_on_complete: Option<KeepJobs>,
    /// What to keep when the job fails for good. Default: the worker's setting, else keep it.
    pub remove_on_fail: Option<KeepJobs>,
    /// Keep only the newest N log lines. Default: keep all.
    pub keep_logs: Option<u64>,
    /// Creation time. Default: now.
    pub timestamp: Option<SystemTime>,
    /// Keep only the last N stack traces. Default: keep all (0 keeps none).
    pub stack_trace_limit: Option<u64>,
    /// Refuse data whose JSON exceeds this many bytes. Default: no limit.
    pub size_limit: Option<u64>,
    /// Telemetry propagation metadata, carried through as `tm` / `omc`.
    pub telemetry: Option<Telemetry>,
    /// Make this job a child of an existing job. Default none.
    pub parent: Option<ParentOptions>,
    /// What this child's final failure does to its parent. Default none: the parent stays
    /// waiting for it (BullMQ's behaviour without a policy).
    pub parent_failure: Option<ParentFailurePolicy>,
    /// Cancel the job when it runs longer than this (a worker tree's job actor sends itself
    /// `Cancel { Timeout }`): it fails with `job timed out after <ms> ms` and is retried per its
    /// attempts. Stored as `timeout` (ms), which BullMQ 6 ignores. Default none.
    pub timeout: Option<Duration>,
    /// Options this crate does not model (for example `repeat` of scheduler jobs, or another
    /// client's extensions), kept and written back unchanged.
    pub extra: Map<String, Value>,
}

/// What a child's final failure does to its parent (BullMQ's four child options, of which at
/// most one may be set).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParentFailurePolicy {
    /// Fail the parent too (`failParentOnFailure`, stored `fpof`).
    FailParent,
    /// Let the parent run, recording the failure (`continueParentOnFailure`, `cpof`).
    ContinueParent,
    /// Treat the child as done for the parent, recording the failure
    /// (`ignoreDependencyOnFailure`, `idof`).
    IgnoreDependency,
    /// Drop the child from the parent's dependencies (`removeDependencyOnFailure`, `rdof`).
    RemoveDependency,
}

impl ParentFailurePolicy {
    /// In the order BullMQ's scripts test them, should a job carry several.
    const ALL: [ParentFailurePolicy; 4] = [
        ParentFailurePolicy::FailParent,
        ParentFailurePolicy::ContinueParent,
        ParentFailurePolicy::IgnoreDependency,
        ParentFailurePolicy::RemoveDependency,
    ];

    /// The short flag stored in `opts` and in the child's `parent` JSON.
    pub fn flag(self) -> &'static str {
        match self {
            ParentFailurePolicy::FailParent => "fpof",
            ParentFailurePolicy::ContinueParent => "cpof",
            ParentFailurePolicy::IgnoreDependency => "idof",
            ParentFailurePolicy::RemoveDependency => "rdof",
        }
    }

    fn long_name(self) -> &'static str {
        match self {
            ParentFailurePolicy::FailParent => "failParentOnFailure",
            ParentFailurePolicy::ContinueParent => "continueParentOnFailure",
            ParentFailurePolicy::IgnoreDependency => "ignoreDependencyOnFailure",
            ParentFailurePolicy::RemoveDependency => "removeDependencyOnFailure",
        }
    }

    /// The policy whose flag is set to `true` in a JSON object (short or long names), if any.
    pub(crate) fn from_flags(v: &Value) -> Option<Self> {
        Self::ALL.into_iter().find(|p| {
            v.get(p.flag()).and_then(Value::as_bool) == Some(true)
                || v.get(p.long_name()).and_then(Value::as_bool) == Some(true)
        })
    }
}

/// How long to wait before the next attempt.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum BackoffType {
    /// The same delay before every retry.
    Fixed,
    /// `delay`, then 2·delay, 4·delay, ...
    Exponential,
    /// A strategy of the worker's ([`WorkerOptions::backoff_strategy`](crate::WorkerOptions)),
    /// under this name.
    Custom(String),
}

impl BackoffType {
    /// The name stored in `opts.backoff.type`.
    pub fn as_str(&self) -> &str {
        match self {
            BackoffType::Fixed => "fixed",
            BackoffType::Exponential => "exponential",
            BackoffType::Custom(name) => name,
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "fixed" => BackoffType::Fixed,
            "exponential" => BackoffType::Exponential,
            other => BackoffType::Custom(other.to_owned()),
        }
    }
}

/// Backoff between attempts.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Fixed, exponential or a custom strategy.
    pub kind: BackoffType,
    /// Base delay (stored in ms).
    pub delay: Option<Duration>,
    /// Randomisation in [0, 1]: the wait becomes uniform in [d·(1−jitter), d).
    pub jitter: Option<f64>,
}

impl Backoff {
    /// The same delay before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff { kind: BackoffType::Fixed, delay: Some(delay), jitter: None }
    }
    /// `delay`, then 2·delay, 4·delay, ...
    pub fn exponential(delay: Duration) -> Self {
        Backoff { kind: BackoffType::Exponential, delay: Some(delay), jitter: None }
    }
    /// A strategy registered on the worker under this name.
    pub fn custom(name: impl Into<String>) -> Self {
        Backoff { kind: BackoffType::Custom(name.into()), delay: None, jitter: None }
    }
    /// Adds jitter in [0, 1].
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = Some(jitter);
        self
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.kind.as_str().to_owned()));
        if let Some(d) = self.delay {
            m.insert("delay".into(), ms(d).into());
        }
        if let Some(j) = self.jitter {
            m.insert("jitter".into(), num_f64(j));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Number(_) => Ok(Backoff::fixed(Duration::from_millis(as_u64(v, "backoff")?))),
            Value::Object(m) => Ok(Backoff {
                kind: BackoffType::parse(m.get("type").and_then(Value::as_str).unwrap_or("fixed")),
                delay: m.get("delay").map(|d| as_u64(d, "backoff.delay").map(Duration::from_millis)).transpose()?,
                jitter: m.get("jitter").and_then(Value::as_f64),
            }),
            _ => Err(format!("backoff must be a number or an object, got {v}")),
        }
    }
}

/// Deduplication: while the key is owned, adds with the same id return the owner's id.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deduplication {
    /// The deduplication id (required).
    pub id: String,
    /// Throttle window. Default: until the owner finishes.
    pub ttl: Option<Duration>,
    /// Each duplicate restarts the window.
    pub extend: Option<bool>,
    /// Debounce: a new add replaces an owner that is still delayed.
    pub replace: Option<bool>,
    /// Keep the last add made while the owner is active and run it after the owner.
    pub keep_last_if_active: Option<bool>,
    /// A duplicate moves a delayed owner to its own delay.
    pub reschedule: Option<bool>,
}

impl Deduplication {
    /// Simple mode: deduplicate until the owner finishes.
    pub fn simple(id: impl Into<String>) -> Self {
        Deduplication { id: id.into(), ..Default::default() }
    }
    /// Throttle mode: deduplicate for `ttl`.
    pub fn throttle(id: impl Into<String>, ttl: Duration) -> Self {
        Deduplication { id: id.into(), ttl: Some(ttl), ..Default::default() }
    }
    /// Debounce mode: replace a delayed owner and restart the window.
    pub fn debounce(id: impl Into<String>, ttl: Duration) -> Self {
        Deduplication { id: id.into(), ttl: Some(ttl), extend: Some(true), replace: Some(true), ..Default::default() }
    }
    /// Builder: each duplicate restarts the window.
    pub fn extend(mut self, on: bool) -> Self {
        self.extend = Some(on);
        self
    }
    /// Builder: a new add replaces an owner that is still delayed.
    pub fn replace(mut self, on: bool) -> Self {
        self.replace = Some(on);
        self
    }
    /// Builder: keep the last add made while the owner is active.
    pub fn keep_last_if_active(mut self, on: bool) -> Self {
        self.keep_last_if_active = Some(on);
        self
    }
    /// Builder: a duplicate moves a delayed owner to its own delay.
    pub fn reschedule(mut self, on: bool) -> Self {
        self.reschedule = Some(on);
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        put(&mut m, "ttl", self.ttl.map(|t| Value::from(ms(t))));
        put(&mut m, "extend", self.extend.map(Value::from));
        put(&mut m, "replace", self.replace.map(Value::from));
        put(&mut m, "keepLastIfActive", self.keep_last_if_active.map(Value::from));
        put(&mut m, "reschedule", self.reschedule.map(Value::from));
        Value::Object(m)
    }

    fn from_json(v: &Value) -> std::result::Result<Self, String> {
        let m = v.as_object().ok_or_else(|| format!("deduplication must be an object, got {v}"))?;
        let id = match m.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => return Err(format!("deduplication.id missing or invalid: {other:?}")),
        };
        Ok(Deduplication {
            id,
            ttl: m.get("ttl").map(|d| as_u64(d, "deduplication.ttl").map(Duration::from_millis)).transpose()?,
            extend: m.get("extend").and_then(Value::as_bool),
            replace: m.get("replace").and_then(Value::as_bool),
            keep_last_if_active: m.get("keepLastIfActive").and_then(Value::as_bool),
            reschedule: m.get("reschedule").and_then(Value::as_bool),
        })
    }
}

/// Retention of finished jobs (`remove_on_complete` / `remove_on_fail`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum KeepJobs {
    /// `true`: remove the job when it finishes; `false`: keep it.
    Bool(bool),
    /// Keep only the newest N finished jobs.
    Count(u64),
    /// Keep jobs younger than `age` and at most `count` of them; remove at most `limit` per
    /// finish (BullMQ's default 1000).
    Options {
        /// Maximum age (stored in whole seconds).
        age: Option<Duration>,
        /// Maximum number kept.
        count: Option<u64>,
        /// Maximum removed per finish.
        limit: Option<u64>,
    },
}

/// Retention as the finish scripts take it: `count` (0 deletes the job at once, -1 keeps
/// everything), `age` in seconds and `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) count: i64,
    pub(crate) age_secs: Option<u64>,
    pub(crate) limit: Option<u64>,
}

impl KeepJobs {
    /// Remove the job as soon as it finishes.
    pub fn remove() -> Self {
        KeepJobs::Bool(true)
    }
    /// Keep only the newest `n` finished jobs.
    pub fn newest(n: u64) -> Self {
        KeepJobs::Count(n)
    }
    /// Keep the jobs younger than `age`.
    pub fn younger_than(age: Duration) -> Self {
        KeepJobs::Options { age: Some(age), count: None, limit: None }
    }

    /// What the finish scripts take for `opt` (`None`: keep everything).
    pub(crate) fn retention(opt: Option<&KeepJobs>) -> Retention {
        let (count, age_secs, limit) = match opt {
            None | Some(KeepJobs::Bool(false)) => (-1, None, None),
            Some(KeepJobs::Bool(true)) => (0, None, None),
            Some(KeepJobs::Count(n)) => (*n as i64, None, None),
            Some(KeepJobs::Options { age, count, limit }) => {
                (count.map(|c| c as i64).unwrap_or(-1), age.map(|a| a.as_secs()), *limit)
            }
        };
        Retention { count, age_secs, limit }
    }

    fn to_json(&self) -> Value {
        match self {
            KeepJobs::Bool(b) => Value::Bool(*b),
            KeepJobs::Count(n) => Value::from(*n),
            KeepJobs::Options { age, count, limit } => {
                let mut m = Map::new();
                put(&mut m, "age", age.map(|a| Value::from(a.as_secs())));
                put(&mut m, "count", count.map(Value::from));
                put(&mut m, "limit", limit.map(Value::from));
                Value::Object(m)
            }
        }
    }

    fn from_json(v: &Value, what: &str) -> std::result::Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(KeepJobs::Bool(*b)),
            Value::Number(_) => Ok(KeepJobs::Count(as_u64(v, what)?)),
            Value::Object(m) => Ok(KeepJobs::Options {
                age: m.get("age").map(|x| as_u64(x, what).map(Duration::from_secs)).transpose()?,
                count: m.get("count").map(|x| as_u64(x, what)).transpose()?,
                limit: m.get("limit").map(|x| as_u64(x, what)).transpose()?,
            }),
            _ => Err(format!("{what} must be a bool, a number or an object, got {v}")),
        }
    }
}

/// Telemetry propagation (`telemetry.metadata` → `tm`, `telemetry.omitContext` → `omc`).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    /// Serialised trace context.
    pub metadata: Option<String>,
    /// Do not propagate the context.
    pub omit_context: Option<bool>,
}

impl Telemetry {
    /// Carries `metadata` (a serialised trace context).
    pub fn metadata(metadata: impl Into<String>) -> Self {
        Telemetry { metadata: Some(metadata.into()), omit_context: None }
    }
    /// Do not propagate the context of the add.
    pub fn omit_context() -> Self {
        Telemetry { metadata: None, omit_context: Some(true) }
    }
}

/// The parent of a job added as a child of an existing job.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct ParentOptions {
    /// The parent's job id.
    pub id: String,
    /// The parent's qualified queue name, `prefix:name` (for example `bull:orders`).
    pub queue: String,
}

impl ParentOptions {
    /// The parent `id` in the queue `queue` (qualified: `prefix:name`).
    pub fn new(id: impl Into<String>, queue: impl Into<String>) -> Self {
        ParentOptions { id: id.into(), queue: queue.into() }
    }

    /// The parent job's hash key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.queue, self.id)
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v);
    }
}

fn num_f64(f: f64) -> Value {
    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// Whole milliseconds of `d`, as stored.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch of `t` (0 before it).
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(ms).unwrap_or(0)
}

/// Reads a non-negative integer the way Node's `parseInt` of a cjson number would: cjson may
/// have written it as a float (`1.2345678901235e+16`).
fn as_u64(v: &Value, what: &str) -> std::result::Result<u64, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    match v.as_f64() {
        Some(f) if f >= 0.0 && f.is_finite() => Ok(f.trunc() as u64),
        _ => match v.as_str().and_then(|s| s.parse::<u64>().ok()) {
            Some(n) => Ok(n),
            None => Err(format!("{what} must be a non-negative number, got {v}")),
        },
    }
}

/// Node's check "parseInt(id) printed back equals id": ids that look like integers are refused
/// because they would collide with the counter.
fn is_canonical_integer(id: &str) -> bool {
    let digits = id.strip_prefix('-').unwrap_or(id);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match id.parse::<f64>() {
        Ok(f) if f.abs() < 1e21 => format!("{}", f as i128) == id,
        _ => false,
    }
}

impl JobOptions {
    /// Checks the rules Node's producer enforces (PROTOCOL.md §5.3). Nothing is written when
    /// this fails.
    pub fn validate(&self) -> Result<()> {
        if let Some(id) = &self.job_id {
            if id.is_empty() {
                return Err(Error::invalid("job_id", "must not be empty"));
            }
            if is_canonical_integer(id) {
                return Err(Error::invalid("job_id", format!("custom id {id:?} cannot be an integer")));
            }
            if id == "0" || id.starts_with("0:") {
                return Err(Error::invalid("job_id", format!("custom id {id:?} cannot be 0 or start with 0:")));
            }
            if id.contains(':') && id.split(':').count() != 3 {
                return Err(Error::invalid(
                    "job_id",
                    format!("custom id {id:?} cannot contain ':' unless it has exactly three parts"),
                ));
            }
        }
        if let Some(p) = self.priority {
            if p > MAX_PRIORITY {
                return Err(Error::invalid("priority", format!("{p} is above {MAX_PRIORITY}")));
            }
        }
        if let Some(de) = &self.deduplication {
            if de.id.is_empty() {
                return Err(Error::invalid("deduplication", "id is required"));
            }
            if self.parent.is_some() {
                return Err(Error::invalid("deduplication", "cannot be combined with parent"));
            }
        }
        if let Some(b) = &self.backoff {
            if let Some(j) = b.jitter {
                if !(0.0..=1.0).contains(&j) {
                    return Err(Error::invalid("backoff", format!("jitter {j} must be within [0, 1]")));
                }
            }
            if b.kind.as_str().is_empty() {
                return Err(Error::invalid("backoff", "type must not be empty"));
            }
        }
        if let Some(p) = &self.parent {
            if p.id.is_empty() || p.queue.is_empty() {
                return Err(Error::invalid("parent", "id and queue are required"));
            }
        }
        if self.extra.contains_key("debounce") {
            return Err(Error::invalid("debounce", "removed in BullMQ 6; use deduplication"));
        }
        Ok(())
    }

    /// Options merged over `defaults` (set fields of `self` win), as Node merges a queue's
    /// default job options.
    pub(crate) fn merged_over(&self, defaults: &JobOptions) -> JobOptions {
        let d = defaults.clone();
        let mut extra = d.extra.clone();
        extra.extend(self.extra.clone());
        JobOptions {
            priority: self.priority.or(d.priority),
            delay: self.delay.or(d.delay),
            attempts: self.attempts.or(d.attempts),
            backoff: self.backoff.clone().or(d.backoff),
            lifo: self.lifo || d.lifo,
            job_id: self.job_id.clone().or(d.job_id),
            deduplication: self.deduplication.clone().or(d.deduplication),
            remove_on_complete: self.remove_on_complete.clone().or(d.remove_on_complete),
            remove_on_fail: self.remove_on_fail.clone().or(d.remove_on_fail),
            keep_logs: self.keep_logs.or(d.keep_logs),
            timestamp: self.timestamp.or(d.timestamp),
            stack_trace_limit: self.stack_trace_limit.or(d.stack_trace_limit),
            size_limit: self.size_limit.or(d.size_limit),
            telemetry: self.telemetry.clone().or(d.telemetry),
            parent: self.parent.clone().or(d.parent),
            parent_failure: self.parent_failure.or(d.parent_failure),
            timeout: self.timeout.or(d.timeout),
            extra,
        }
    }

    /// The stored `opts` JSON, with Node's short keys. `attempts` is always present, as Node
    /// writes it.
    pub(crate) fn to_stored(&self) -> Value {
        Value::Object(self.to_stored_map())
    }

    /// [`to_stored`](JobOptions::to_stored) as its map, for callers that add fields to it.
    pub(crate) fn to_stored_map(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("attempts".into(), Value::from(self.attempts.unwrap_or(0)));
        put(&mut m, "priority", self.priority.map(Value::from));
        put(&mut m, "delay", self.delay.map(|d| Value::from(ms(d))));
        put(&mut m, "backoff", self.backoff.as_ref().map(Backoff::to_json));
        if self.lifo {
            m.insert("lifo".into(), Value::Bool(true));
        }
        put(&mut m, "jobId", self.job_id.clone().map(Value::String));
        put(&mut m, "de", self.deduplication.as_ref().map(Deduplication::to_json));
        put(&mut m, "removeOnComplete", self.remove_on_complete.as_ref().map(KeepJobs::to_json));
        put(&mut m, "removeOnFail", self.remove_on_fail.as_ref().map(KeepJobs::to_json));
        put(&mut m, "kl", self.keep_logs.map(Value::from));
        put(&mut m, "timestamp", self.timestamp.map(|t| Value::from(epoch_ms(t))));
        put(&mut m, "stackTraceLimit", self.stack_trace_limit.map(Value::from));
        put(&mut m, "sizeLimit", self.size_limit.map(Value::from));
        put(&mut m, "timeout", self.timeout.map(|d| Value::from(ms(d))));
        if let Some(t) = &self.telemetry {
            put(&mut m, "tm", t.metadata.clone().map(Value::String));
            put(&mut m, "omc", t.omit_context.map(Value::Bool));
        }
        if let Some(p) = &self.parent {
            m.insert("parent".into(), serde_json::json!({"id": p.id, "queue": p.queue}));
        }
        if let Some(policy) = self.parent_failure {
            m.insert(policy.flag().into(), Value::Bool(true));
        }
        m
    }

    /// Reads stored options, accepting Node's short keys and the long names (PROTOCOL.md §5.1).
    pub(crate) fn from_stored(v: &Value) -> std::result::Result<JobOptions, String> {
        let m = match v {
            Value::Object(m) => m,
            // cjson writes an empty table as `{}` but an empty array may appear as `[]`.
            Value::Array(a) if a.is_empty() => return Ok(JobOptions::default()),
            _ => return Err(format!("opts must be a JSON object, got {v}")),
        };
        let mut o = JobOptions { parent_failure: ParentFailurePolicy::from_flags(v), ..JobOptions::default() };
        for (k, val) in m {
            match k.as_str() {
                "attempts" => o.attempts = Some(as_u64(val, "attempts")? as u32),
                "priority" => o.priority = Some(as_u64(val, "priority")? as u32),
                "delay" => o.delay = Some(Duration::from_millis(as_u64(val, "delay")?)),
                "backoff" => o.backoff = Some(Backoff::from_json(val)?),
                "lifo" => o.lifo = val.as_bool().unwrap_or(false),
                "jobId" => o.job_id = Some(val.as_str().map(str::to_owned).unwrap_or_else(|| val.to_string())),
                "de" | "deduplication" | "debounce" => o.deduplication = Some(Deduplication::from_json(val)?),
                "removeOnComplete" => o.remove_on_complete = Some(KeepJobs::from_json(val, "removeOnComplete")?),
                "removeOnFail" => o.remove_on_fail = Some(KeepJobs::from_json(val, "removeOnFail")?),
                "kl" | "keepLogs" => o.keep_logs = Some(as_u64(val, "keepLogs")?),
                "timestamp" => {
                    o.timestamp = Some(UNIX_EPOCH + Duration::from_millis(as_u64(val, "timestamp")?));
                }
                "stackTraceLimit" => o.stack_trace_limit = Some(as_u64(val, "stackTraceLimit")?),
                "sizeLimit" => o.size_limit = Some(as_u64(val, "sizeLimit")?),
                "timeout" => o.timeout = Some(Duration::from_millis(as_u64(val, "timeout")?)),
                "tm" => o.telemetry.get_or_insert_with(Default::default).metadata = val.as_str().map(str::to_owned),
                "omc" => o.telemetry.get_or_insert_with(Default::default).omit_context = val.as_bool(),
                "telemetry" => {
                    let t = o.telemetry.get_or_insert_with(Default::default);
                    t.metadata = val.get("metadata").and_then(Value::as_str).map(str::to_owned);
                    t.omit_context = val.get("omitContext").and_then(Value::as_bool);
                }
                "parent" => {
                    let id = val.get("id").map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()));
                    let queue = val.get("queue").and_then(Value::as_str).map(str::to_owned);
                    match (id, queue) {
                        (Some(id), Some(queue)) => o.parent = Some(ParentOptions { id, queue }),
                        _ => {
                            o.extra.insert(k.clone(), val.clone());
                        }
                    }
                }
                "fpof"
                | "failParentOnFailure"
                | "cpof"
                | "continueParentOnFailure"
                | "idof"
                | "ignoreDependencyOnFailure"
                | "rdof"
                | "removeDependencyOnFailure" => {}
                _ => {
                    o.extra.insert(k.clone(), val.clone());
                }
            }
        }
        Ok(o)
    }

    /// Builder: cancel the job (and fail it, retried per its attempts) when it runs longer.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// Builder: priority (1 is the highest).
    pub fn priority(mut self, p: u32) -> Self {
        self.priority = Some(p);
        self
    }
    /// Builder: delay before the job is ready.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
    /// Builder: attempts.
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = Some(n);
        self
    }
    /// Builder: backoff.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = Some(b);
        self
    }
    /// Builder: LIFO.
    pub fn lifo(mut self, lifo: bool) -> Self {
        self.lifo = lifo;
        self
    }
    /// Builder: custom job id.
    pub fn job_id(mut self, id: impl Into<String>) -> Self {
        self.job_id = Some(id.into());
        self
    }
    /// Builder: deduplication.
    pub fn deduplication(mut self, d: Deduplication) -> Self {
        self.deduplication = Some(d);
        self
    }
    /// Builder: retention on completion.
    pub fn remove_on_complete(mut self, k: KeepJobs) -> Self {
        self.remove_on_complete = Some(k);
        self
    }
    /// Builder: retention on final failure.
    pub fn remove_on_fail(mut self, k: KeepJobs) -> Self {
        self.remove_on_fail = Some(k);
        self
    }
    /// Builder: keep only the newest `n` log lines.
    pub fn keep_logs(mut self, n: u64) -> Self {
        self.keep_logs = Some(n);
        self
    }
    /// Builder: creation time.
    pub fn timestamp(mut self, at: SystemTime) -> Self {
        self.timestamp = Some(at);
        self
    }
    /// Builder: keep only the last `n` stack traces.
    pub fn stack_trace_limit(mut self, n: u64) -> Self {
        self.stack_trace_limit = Some(n);
        self
    }
    /// Builder: refuse data larger than `bytes` of JSON.
    pub fn size_limit(mut self, bytes: u64) -> Self {
        self.size_limit = Some(bytes);
        self
    }
    /// Builder: telemetry metadata.
    pub fn telemetry(mut self, t: Telemetry) -> Self {
        self.telemetry = Some(t);
        self
    }
    /// Builder: make the job a child of `parent`.
    pub fn parent(mut self, parent: ParentOptions) -> Self {
        self.parent = Some(parent);
        self
    }
    /// Builder: what this child's final failure does to its parent.
    pub fn parent_failure(mut self, policy: ParentFailurePolicy) -> Self {
        self.parent_failure = Some(policy);
        self
    }
    /// Builder: an option this crate does not model, stored as given under `key`.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ids_refused() {
        assert!(is_canonical_integer("123"));
        assert!(is_canonical_integer("-5"));
        assert!(!is_canonical_integer("0123"));
        assert!(!is_canonical_integer("12a"));
        assert!(JobOptions::default().job_id("a:b").validate().is_err());
        assert!(JobOptions::default().job_id("repeat:a:1").validate().is_ok());
        assert!(JobOptions::default().job_id("0:x:y").validate().is_err());
    }

    #[test]
    fn stored_round_trip() {
        let o = JobOptions::default()
            .attempts(3)
            .backoff(Backoff::exponential(Duration::from_secs(1)).with_jitter(0.5))
            .remove_on_complete(KeepJobs::Options {
                age: Some(Duration::from_secs(3600)),
                count: Some(10),
                limit: None,
            })
            .remove_on_fail(KeepJobs::Count(5))
            .deduplication(Deduplication::throttle("d", Duration::from_secs(5)))
            .parent_failure(ParentFailurePolicy::IgnoreDependency);
        let v = o.to_stored();
        assert_eq!(v["de"]["ttl"], 5000);
        assert_eq!(v["idof"], true);
        assert_eq!(JobOptions::from_stored(&v).unwrap(), o);
        let long = serde_json::json!({"keepLogs": 4, "backoff": 200, "attempts": 2, "failParentOnFailure": true});
        let r = JobOptions::from_stored(&long).unwrap();
        assert_eq!(r.keep_logs, Some(4));
        assert_eq!(r.backoff, Some(Backoff::fixed(Duration::from_millis(200))));
        assert_eq!(r.parent_failure, Some(ParentFailurePolicy::FailParent));
    }
}
