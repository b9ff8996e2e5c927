//! What every fetch sends and answers: shared by moveToActive and the scripts that may take the
//! next job in the same call (moveToFinished, moveToDelayed, finishMany).

use std::collections::HashMap;
use std::time::Duration;

use redis::{FromRedisValue, RedisResult, Value};

use super::Invocation;

/// What a worker sends with every fetch (and every finish that may fetch the next job).
#[derive(Debug, Clone)]
pub(crate) struct FetchArgs<'a> {
    /// The client's clock (ms); 0: the script reads the server's (for a take sent before it runs).
    pub(crate) now: u64,
    /// The lock token of the job taken (finishMany: the prefix of its takes' tokens).
    pub(crate) token: &'a str,
    pub(crate) lock_duration: Duration,
    /// The worker's rate limiter `(max, window)`.
    pub(crate) limiter: Option<(u64, Duration)>,
    /// The worker's name, stored in `pb` ("" for none).
    pub(crate) name: &'a str,
    /// A fair group's take (includes/fair.lua's `fairOption`), "" for a plain worker.
    pub(crate) fair: &'a str,
}

impl FetchArgs<'_> {
    /// ARGV: now ("" for the server's clock), token, lock duration ms, limiter max and window ms
    /// ("" and "" for none), name, fair group ("" for none).
    pub(super) fn push(&self, inv: &mut Invocation) {
        if self.now == 0 {
            inv.arg("");
        } else {
            inv.arg(self.now);
        }
        inv.arg(self.token).arg(self.lock_duration.as_millis() as u64);
        match self.limiter {
            Some((max, window)) => inv.arg(max).arg(window.as_millis() as u64),
            None => inv.arg("").arg(""),
        };
        inv.arg(self.name).arg(self.fair);
    }
}

/// The answer of a fetch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FetchReply {
    /// A job, now active and locked.
    Job { id: String, hash: HashMap<String, String> },
    /// A job, now active and locked, whose hash cannot even be read as text (a field that is
    /// not UTF-8, written by another client): to be failed at pickup like any corrupt job,
    /// without failing the other jobs of its call.
    Unreadable {
        id: String,
        message: String,
        /// The queue a fair group's take named for it (`tq`), when that field is readable.
        queue: Option<String>,
    },
    /// An id whose job is gone (its hash deleted, or holding no name and data): the take
    /// dropped it from active, with its lock, and ran nothing.
    Gone { id: String },
    /// The rate limiter is exhausted for this many ms.
    RateLimited(u64),
    /// Nothing to do; the next delayed job is due at this ms (0: none). `blocked` (paused or at
    /// the global concurrency) is not distinguished from "empty": both mean "wait for the marker".
    Empty { delay_until: u64 },
}

/// A taken job's flat hash as text, or why it is not (an empty hash: a ghost, see `Gone`).
pub(super) fn taken_job(id: String, flat: Vec<Vec<u8>>) -> FetchReply {
    if flat.is_empty() {
        return FetchReply::Gone { id };
    }
    // A fair group's take appends the job's queue (`tq`) last: read it first, so that a job
    // whose other fields are unreadable can still be failed in its own queue.
    let queue = match flat.as_slice() {
        [.., k, v] if k.as_slice() == b"tq" => String::from_utf8(v.clone()).ok(),
        _ => None,
    };
    let mut text = Vec::with_capacity(flat.len());
    for (i, bytes) in flat.into_iter().enumerate() {
        match String::from_utf8(bytes) {
            Ok(s) => text.push(s),
            Err(e) => {
                let what = if i % 2 == 0 { "a field name" } else { "the value of" };
                let field = if i % 2 == 0 { String::new() } else { format!(" `{}`", text[i - 1]) };
                let message = format!("{what}{field} is not UTF-8 ({e})");
                return FetchReply::Unreadable { id, message, queue };
            }
        }
    }
    FetchReply::Job { id, hash: crate::job::pairs_to_map(text) }
}

/// Decodes `{hash, id, ttl, delayUntil}`.
pub(super) fn decode_fetch(v: Vec<Value>) -> RedisResult<FetchReply> {
    let mut it = v.into_iter();
    let (hash, id, ttl, delay) = (it.next(), it.next(), it.next(), it.next());
    if let (Some(Value::Array(flat)), Some(id)) = (hash, id) {
        let id = String::from_redis_value(id)?;
        let flat: Vec<Vec<u8>> = flat.into_iter().map(Vec::<u8>::from_redis_value).collect::<Result<_, _>>()?;
        return Ok(taken_job(id, flat));
    }
    let num = |v: Option<Value>| -> RedisResult<i64> { Ok(v.map(i64::from_redis_value).transpose()?.unwrap_or(0)) };
    let ttl = num(ttl)?;
    if ttl > 0 {
        return Ok(FetchReply::RateLimited(ttl as u64));
    }
    Ok(FetchReply::Empty { delay_until: num(delay)?.max(0) as u64 })
}

/// The reply of a script that may have fetched the next job: a code (0 or negative), or what the
/// fetch found.
pub(super) enum CodeOrFetch {
    Code(i64),
    Fetched(FetchReply),
}

pub(super) fn decode_code_or_fetch(v: Value) -> RedisResult<CodeOrFetch> {
    match v {
        Value::Array(a) => Ok(CodeOrFetch::Fetched(decode_fetch(a)?)),
        other => Ok(CodeOrFetch::Code(i64::from_redis_value(other)?)),
    }
}
