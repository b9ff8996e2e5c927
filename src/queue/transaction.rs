//! [`Transaction`]: the application's own Redis writes and job adds to one queue, as one atomic
//! unit.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;

use super::Queue;
use crate::error::{Error, Result};
use crate::job::{ms, BulkJob, Job, JobOptions};
use crate::keys::cluster_slot;
use crate::scripts::{AppWrite, RunTransaction};

/// At most this many values (fields, members, list elements) in one command: Lua passes a
/// command's arguments through its C stack, which holds some 8000.
const MAX_VALUES: usize = 1000;

/// The longest expiry taken (2^46 ms, about 2,200 years): Redis refuses one whose deadline
/// overflows its clock.
const MAX_TTL_MS: u64 = 1 << 46;

impl Queue {
    /// Starts a [`Transaction`] on this queue: app writes and job adds that
    /// [`exec`](Transaction::exec) applies as one atomic unit.
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction { queue: self, writes: Vec::new(), jobs: Vec::new(), error: None }
    }
}

/// The application's own Redis writes and any number of job adds to one queue, applied as one
/// atomic unit: every other client sees all of it or none of it, and input that Redis would
/// refuse writes nothing.
///
/// Built with [`Queue::transaction`], run with [`exec`](Transaction::exec):
///
/// ```no_run
/// # async fn demo(queue: bullmq::Queue) -> bullmq::Result<()> {
/// use bullmq::JobOptions;
/// let reply = queue
///     .transaction()
///     .hset("{app}:order:42", &[("status", "placed"), ("total", "1999")])
///     .incr_by("{app}:orders:placed", 1)
///     .add("charge", serde_json::json!({"order": 42}), JobOptions::default())
///     .add("email", serde_json::json!({"order": 42}), JobOptions::default())
///     .exec()
///     .await?;
/// let placed = reply.integer(1); // the counter after this order
/// let job_ids: Vec<&str> = reply.jobs.iter().map(|j| j.id.as_str()).collect();
/// # let _ = (placed, job_ids); Ok(()) }
/// ```
///
/// # The commands
///
/// App writes come from an allow-list, each a method: [`set`](Self::set),
/// [`set_px`](Self::set_px), [`del`](Self::del), [`expire`](Self::expire),
/// [`incr_by`](Self::incr_by), [`hset`](Self::hset), [`hincr_by`](Self::hincr_by),
/// [`lpush`](Self::lpush), [`rpush`](Self::rpush), [`sadd`](Self::sadd), [`srem`](Self::srem),
/// [`zadd`](Self::zadd), [`zrem`](Self::zrem). Jobs are added with [`add`](Self::add) and
/// [`add_bulk`](Self::add_bulk), with the options, events and replies of [`Queue::add`]: they
/// are ordinary BullMQ jobs, which Node reads and processes. The app commands run first, in
/// order, then the adds.
///
/// # What is checked, and when
///
/// Before anything is sent ([`Error::InvalidOption`] naming the command's position, from 0,
/// among the app commands): a key must not be empty nor lie under a queue's own keys (this
/// queue's `prefix:name:`, or the queue of a job's parent: app writes there would corrupt
/// BullMQ's state); scores must be finite; field, member and value lists must hold 1 to 1000
/// entries; expiries must be 1 ms to 2^46 ms. Job options are checked as by [`Queue::add`].
/// On a Redis Cluster, every key (and every job's parent key) must hash to the queue's slot,
/// else [`Error::CrossSlot`]; a standalone server takes keys of any slot.
///
/// Then one script runs on the server. Its check phase reads everything a write could fail on
/// and refuses the call before the first write ([`Error::TransactionRefused`]): a key of the
/// wrong type for its command, an `INCRBY`/`HINCRBY` target that is not an integer or would
/// overflow 64 bits (each as the transaction's earlier commands leave the key: `DEL` then
/// `HSET` on a list is fine), a job's parent that does not exist, a custom job id that belongs
/// to another live parent ([`Error::Script`], as for [`Queue::add_bulk`]). A custom id that
/// exists is a duplicate, as for [`Queue::add`], not an error. The check errs on the side of
/// refusing in two corners: a set or sorted set emptied by `SREM`/`ZREM` within the
/// transaction still counts as one, and a job that an earlier add of the transaction removes
/// (a `replace` deduplication) still counts as existing. Only then does the write phase run.
///
/// # What can still fail once the checks passed
///
/// Nothing that leaves part of the unit applied. Time stands still inside a script (a key
/// alive at the check is alive at the write), and no other client runs in between. Besides:
/// - Out of memory (`maxmemory`, `noeviction`): Redis 7 refuses the function call before it
///   runs. With scripts run by `EVALSHA` (Redis 6.2, or `BULLMQ_SCRIPTS=eval`), Redis refuses
///   the first write that may grow memory, and only when the script has not written yet; a
///   script that has written is never stopped for memory. Either way nothing was written, and
///   [`Error::is_transient`] holds.
/// - Redis's other refusals of writes (`READONLY` on a replica, `MISCONF` after a failed save,
///   `NOREPLICAS`, `CLUSTERDOWN`) depend on state that cannot change while a script runs: they
///   refuse the call, or its first write, before anything was written.
/// - A long transaction (thousands of commands) makes other clients wait, and answer `BUSY`
///   after `busy-reply-threshold`; `SCRIPT KILL` cannot stop a script that has written, so it
///   runs to its end.
/// - The server dying mid-script (killed, `SHUTDOWN NOSAVE`, power lost) loses the unit whole:
///   Redis passes a script's effects to the AOF and to replicas as one `MULTI` ... `EXEC`
///   block, written to the AOF once the script has ended; loading an AOF whose end was cut
///   inside such a block drops the block (`aof-load-truncated yes`, the default; else
///   `redis-check-aof --fix` does), and a replica applies a block only once it has its `EXEC`.
///   A failover to a replica that had not received the whole block loses all of it, likewise.
/// - Keys the write phase touches without the check phase reading them: only in two rare paths
///   of an add (a `replace` deduplication removing the previous delayed job; a duplicate of a
///   completed child releasing its parent in the parent's queue) and a fair group's keys when
///   the queue is a fair tenant. They are trusted to hold BullMQ's types. They matter on a
///   Redis Cluster resharding the queue's slot at that moment, where Redis refuses a command
///   on a key that has moved: every other key is read by the check phase, which meets that
///   refusal before any write.
#[must_use = "a transaction does nothing until exec"]
#[derive(Debug)]
pub struct Transaction<'q> {
    queue: &'q Queue,
    writes: Vec<Pending>,
    jobs: Vec<BulkJob>,
    /// The first job whose data could not be serialised, returned by `exec`.
    error: Option<Error>,
}

/// An app command as given, and what is wrong with its values if anything is (reported by
/// `exec` with its position).
#[derive(Debug)]
struct Pending {
    write: AppWrite,
    problem: Option<String>,
}

/// What a [`Transaction`] answered.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TransactionReply {
    /// The added jobs, in the order they were given, as [`Queue::add`] returns them: the id is
    /// new, the existing job's for a duplicate custom id, or the owner's for a deduplicated add.
    pub jobs: Vec<Job>,
    /// Each app command's reply, in order (jobs not counted): `SET` answers `Okay`, `INCRBY`
    /// and `HINCRBY` the new value, the others a count (`DEL`, `HSET`, `SADD`, `SREM`,
    /// `ZADD`, `ZREM`: keys or entries added or removed; `LPUSH`, `RPUSH`: the list's length;
    /// `PEXPIRE`: 1, or 0 when the key does not exist).
    pub replies: Vec<redis::Value>,
}

impl TransactionReply {
    /// App command `index`'s reply when it is an integer (all but `SET`'s).
    pub fn integer(&self, index: usize) -> Option<i64> {
        match self.replies.get(index)? {
            redis::Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

fn bytes(v: impl AsRef<[u8]>) -> Vec<u8> {
    v.as_ref().to_vec()
}

fn list_problem(len: usize, what: &str) -> Option<String> {
    if len == 0 {
        Some(format!("no {what}"))
    } else if len > MAX_VALUES {
        Some(format!("{len} {what}, above the limit of {MAX_VALUES} per command"))
    } else {
        None
    }
}

fn ttl_ms(ttl: Duration) -> (u64, Option<String>) {
    let n = ms(ttl);
    let problem = if n == 0 {
        Some(format!("expiry {ttl:?} is under 1 ms"))
    } else if n > MAX_TTL_MS {
        Some(format!("expiry {ttl:?} is above {MAX_TTL_MS} ms"))
    } else {
        None
    };
    (n, problem)
}

impl<'q> Transaction<'q> {
    fn push(mut self, command: &'static str, key: String, args: Vec<Vec<u8>>, problem: Option<String>) -> Self {
        self.writes.push(Pending { write: AppWrite { command, key, args }, problem });
        self
    }

    /// `SET key value`: whatever the key held, it becomes this string (without expiry).
    pub fn set(self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.push("SET", key.into(), vec![bytes(value)], None)
    }

    /// `SET key value PX ttl`: as [`set`](Self::set), expiring after `ttl` (1 ms or more).
    pub fn set_px(self, key: impl Into<String>, value: impl AsRef<[u8]>, ttl: Duration) -> Self {
        let (n, problem) = ttl_ms(ttl);
        self.push("SET", key.into(), vec![bytes(value), bytes("PX"), bytes(n.to_string())], problem)
    }

    /// `DEL key`.
    pub fn del(self, key: impl Into<String>) -> Self {
        self.push("DEL", key.into(), Vec::new(), None)
    }

    /// `PEXPIRE key ttl`: the key (if it exists) expires after `ttl` (1 ms or more).
    pub fn expire(self, key: impl Into<String>, ttl: Duration) -> Self {
        let (n, problem) = ttl_ms(ttl);
        self.push("PEXPIRE", key.into(), vec![bytes(n.to_string())], problem)
    }

    /// `INCRBY key delta`: the key must be missing (0) or a 64-bit integer, and stay one.
    pub fn incr_by(self, key: impl Into<String>, delta: i64) -> Self {
        self.push("INCRBY", key.into(), vec![bytes(delta.to_string())], None)
    }

    /// `HSET key field value...`, one to 1000 pairs; the key must be missing or a hash.
    pub fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(self, key: impl Into<String>, fields: &[(F, V)]) -> Self {
        let problem = list_problem(fields.len(), "fields");
        let args = fields.iter().flat_map(|(f, v)| [bytes(f), bytes(v)]).collect();
        self.push("HSET", key.into(), args, problem)
    }

    /// `HINCRBY key field delta`: the key must be missing or a hash, the field missing (0) or a
    /// 64-bit integer, and stay one.
    pub fn hincr_by(self, key: impl Into<String>, field: impl AsRef<[u8]>, delta: i64) -> Self {
        self.push("HINCRBY", key.into(), vec![bytes(field), bytes(delta.to_string())], None)
    }

    /// `LPUSH key value...`, one to 1000 values; the key must be missing or a list.
    pub fn lpush<V: AsRef<[u8]>>(self, key: impl Into<String>, values: &[V]) -> Self {
        self.values("LPUSH", key.into(), values)
    }

    /// `RPUSH key value...`, one to 1000 values; the key must be missing or a list.
    pub fn rpush<V: AsRef<[u8]>>(self, key: impl Into<String>, values: &[V]) -> Self {
        self.values("RPUSH", key.into(), values)
    }

    /// `SADD key member...`, one to 1000 members; the key must be missing or a set.
    pub fn sadd<V: AsRef<[u8]>>(self, key: impl Into<String>, members: &[V]) -> Self {
        self.values("SADD", key.into(), members)
    }

    /// `SREM key member...`, one to 1000 members; the key must be missing or a set.
    pub fn srem<V: AsRef<[u8]>>(self, key: impl Into<String>, members: &[V]) -> Self {
        self.values("SREM", key.into(), members)
    }

    /// `ZADD key score member...`, one to 1000 pairs of a finite score and a member; the key
    /// must be missing or a sorted set.
    pub fn zadd<V: AsRef<[u8]>>(self, key: impl Into<String>, members: &[(f64, V)]) -> Self {
        let problem = list_problem(members.len(), "members").or_else(|| {
            let bad = members.iter().position(|(s, _)| !s.is_finite())?;
            Some(format!("score {} of member {bad} is not a finite number", members[bad].0))
        });
        let args = members.iter().flat_map(|(s, m)| [bytes(s.to_string()), bytes(m)]).collect();
        self.push("ZADD", key.into(), args, problem)
    }

    /// `ZREM key member...`, one to 1000 members; the key must be missing or a sorted set.
    pub fn zrem<V: AsRef<[u8]>>(self, key: impl Into<String>, members: &[V]) -> Self {
        self.values("ZREM", key.into(), members)
    }

    fn values<V: AsRef<[u8]>>(self, command: &'static str, key: String, values: &[V]) -> Self {
        let problem = list_problem(values.len(), "values");
        self.push(command, key, values.iter().map(bytes).collect(), problem)
    }

    /// Adds a job, as [`Queue::add`] would (the queue's default job options apply).
    pub fn add(mut self, name: &str, data: impl Serialize, opts: JobOptions) -> Self {
        match BulkJob::new(name, data, opts) {
            Ok(job) => self.jobs.push(job),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Adds jobs, as [`Queue::add_bulk`] would.
    pub fn add_bulk(mut self, jobs: Vec<BulkJob>) -> Self {
        self.jobs.extend(jobs);
        self
    }

    /// Checks everything, then runs the whole transaction as one script: all of it is applied,
    /// or (on any error) none of it. See [`Transaction`] for what is checked where.
    ///
    /// Jobs added get the producer span of [`Queue::add_bulk`] (`addBulk`).
    pub async fn exec(self) -> Result<TransactionReply> {
        let Transaction { queue, writes, jobs, error } = self;
        if let Some(e) = error {
            return Err(e);
        }
        if jobs.is_empty() {
            return run(queue, writes, jobs).await;
        }
        let mut replies = Vec::new();
        let out = &mut replies;
        let jobs = crate::telemetry::traced_add_bulk(queue.name(), jobs, |jobs| async move {
            let reply = run(queue, writes, jobs).await?;
            *out = reply.replies;
            Ok(reply.jobs)
        })
        .await?;
        Ok(TransactionReply { jobs, replies })
    }
}

async fn run(queue: &Queue, writes: Vec<Pending>, jobs: Vec<BulkJob>) -> Result<TransactionReply> {
    let client = queue.client()?;
    let (prepared, merged) = queue.prepare_bulk(&jobs)?;
    // Keys no app command may write: this queue's, and those of the queues of the jobs' parents.
    let mut fenced = vec![queue.keys().base.clone()];
    fenced.extend(merged.iter().filter_map(|o| o.parent.as_ref()).map(|p| format!("{}:", p.queue)));
    let mut app = Vec::with_capacity(writes.len());
    for (i, Pending { write, problem }) in writes.into_iter().enumerate() {
        let invalid = |why: String| {
            Error::invalid("transaction", format!("command {i} ({} {:?}): {why}", write.command, write.key))
        };
        if let Some(why) = problem {
            return Err(invalid(why));
        }
        if write.key.is_empty() {
            return Err(invalid("the key is empty".to_owned()));
        }
        if let Some(base) = fenced.iter().find(|b| write.key.starts_with(b.as_str())) {
            return Err(invalid(format!(
                "the key is one of the queue keys {base}* (BullMQ's state: app writes would corrupt it)"
            )));
        }
        app.push(write);
    }
    if app.is_empty() && prepared.is_empty() {
        return Ok(TransactionReply { jobs: Vec::new(), replies: Vec::new() });
    }
    let parents = prepared.iter().map(|j| j.parent_key.as_str()).filter(|k| !k.is_empty());
    check_slots(queue, app.iter().map(|w| w.key.as_str()).chain(parents)).await?;
    let done = RunTransaction { writes: &app, jobs: &prepared }.run(client).await?;
    let jobs = done
        .ids
        .into_iter()
        .zip(jobs)
        .zip(prepared.iter().zip(merged))
        .map(|((id, j), (new, opts))| {
            // Stored as `{}`, as Node stores no payload.
            let data = if j.data.is_null() { serde_json::Value::Object(Default::default()) } else { j.data };
            Job::created(queue.keys(), id, j.name, data, opts, new.timestamp)
        })
        .collect();
    Ok(TransactionReply { jobs, replies: done.replies })
}

/// On a Redis Cluster, refuses keys outside the queue's slot (that of its base `prefix:name:`,
/// which all its keys share when the prefix or name has a hash tag).
async fn check_slots<'k>(queue: &Queue, keys: impl Iterator<Item = &'k str>) -> Result<()> {
    let slot = cluster_slot(queue.keys().base.as_bytes());
    let mut off: Vec<String> = keys.filter(|k| cluster_slot(k.as_bytes()) != slot).map(str::to_owned).collect();
    if off.is_empty() || !cluster_enabled(queue).await? {
        return Ok(());
    }
    off.sort();
    off.dedup();
    Err(Error::CrossSlot { operation: "transaction", slot, keys: off })
}

/// Whether the queue's server runs in cluster mode (`INFO cluster`), asked once per server
/// address in this process: a server does not change mode without a restart. (Should one
/// restart in cluster mode at the same address, it refuses a script whose declared keys span
/// slots itself, before running it: still nothing written.)
async fn cluster_enabled(queue: &Queue) -> Result<bool> {
    static KNOWN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let r = &queue.options().connection.redis;
    let address = format!("{:?} {}:{} {}", r.url, r.host, r.port, r.db);
    let known = KNOWN.get_or_init(Default::default);
    if let Some(&on) = known.lock().unwrap_or_else(|p| p.into_inner()).get(&address) {
        return Ok(on);
    }
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut queue.client()?.conn())
        .await
        .map_err(|e| Error::redis("transaction", None, e))?;
    let on = info.lines().any(|l| l.trim() == "cluster_enabled:1");
    known.lock().unwrap_or_else(|p| p.into_inner()).insert(address, on);
    Ok(on)
}
