//! The only layer that knows Lua. Each script in `lua/` has one item here, in a file of its
//! own named after it: its arguments as a struct, the KEYS/ARGV packing, the call, the reply
//! decoding and the mapping of its error codes, returning [`crate::Result`]. Callers see typed
//! arguments and replies, never a raw code or a `RedisError`.
//!
//! Conventions shared by all our scripts: `KEYS[1]` is the queue base `prefix:name:` and every
//! other key of the queue is derived from it inside Lua (all keys of a queue share one hash tag,
//! see DESIGN.md §7); numbers travel as decimal strings; "now" is always passed by the caller.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, RedisResult, ToRedisArgs};

use crate::connection::Client;
use crate::error::{Error, Result, ScriptError};

mod add_flow;
mod add_job_scheduler;
mod add_jobs;
mod change_delay;
mod change_priority;
mod clean_jobs_in_set;
mod drain;
mod extend_locks;
mod extend_taken_locks;
mod fair_heal;
mod fair_join;
mod fetch;
mod finish_many;
mod get_rate_limit_ttl;
mod get_state;
mod mark_run_alone;
mod move_job_from_active_to_wait;
mod move_jobs_to_wait;
mod move_stalled_jobs_to_wait;
mod move_to_active;
mod move_to_delayed;
mod move_to_finished;
mod move_to_waiting_children;
mod msgpack;
mod obliterate;
mod pause;
mod promote;
mod remove_child_dependency;
mod remove_deduplication_key;
mod remove_job;
mod remove_job_scheduler;
mod remove_unprocessed_children;
mod reprocess_job;
mod retry_job;
mod transaction;
mod update_job;
mod update_job_scheduler;

pub(crate) use add_flow::{AddFlow, FlowNode};
pub(crate) use add_job_scheduler::AddJobScheduler;
pub(crate) use add_jobs::{AddJobs, AddReply, NewJob};
pub(crate) use change_delay::ChangeDelay;
pub(crate) use change_priority::ChangePriority;
pub(crate) use clean_jobs_in_set::CleanJobsInSet;
pub(crate) use drain::Drain;
pub(crate) use extend_locks::ExtendLocks;
pub(crate) use extend_taken_locks::ExtendTakenLocks;
pub(crate) use fair_heal::FairHeal;
pub(crate) use fair_join::FairJoin;
pub(crate) use fetch::{FetchArgs, FetchReply};
pub(crate) use finish_many::{FinishMany, ManyJob, Profile};
pub(crate) use get_rate_limit_ttl::GetRateLimitTtl;
pub(crate) use get_state::GetState;
pub(crate) use mark_run_alone::MarkRunAlone;
pub(crate) use move_job_from_active_to_wait::MoveJobFromActiveToWait;
pub(crate) use move_jobs_to_wait::MoveJobsToWait;
pub(crate) use move_stalled_jobs_to_wait::MoveStalledJobsToWait;
pub(crate) use move_to_active::MoveToActive;
pub(crate) use move_to_delayed::MoveToDelayed;
pub(crate) use move_to_finished::{FinishTarget, MoveToFinished};
pub(crate) use move_to_waiting_children::MoveToWaitingChildren;
pub(crate) use obliterate::{Obliterate, ObliterateStep};
pub(crate) use pause::Pause;
pub(crate) use promote::Promote;
pub(crate) use remove_child_dependency::RemoveChildDependency;
pub(crate) use remove_deduplication_key::RemoveDeduplicationKey;
pub(crate) use remove_job::RemoveJob;
pub(crate) use remove_job_scheduler::RemoveJobScheduler;
pub(crate) use remove_unprocessed_children::RemoveUnprocessedChildren;
pub(crate) use reprocess_job::ReprocessJob;
pub(crate) use retry_job::RetryJob;
pub(crate) use transaction::{AppWrite, RunTransaction};
pub(crate) use update_job::{JobField, UpdateJob};
pub(crate) use update_job_scheduler::UpdateJobScheduler;

/// Every script as one function library (see build.rs): `FCALL` runs a script without
/// re-running the includes' top level, which an EVALSHA of a stitched script does on every call.
static LIBRARY: &str = include_str!(concat!(env!("OUT_DIR"), "/lua/_library.lua"));
/// `bullmq_rs_<hash of the library>`: versions of this crate sharing a Redis load side by side.
static LIBRARY_NAME: &str = include_str!(concat!(env!("OUT_DIR"), "/lua/_library_name.txt"));

/// Whether scripts run as functions: unknown until the first load, then yes, or no for good
/// (a Redis before 7.0, a user not allowed FUNCTION, or `BULLMQ_SCRIPTS=eval`). One process
/// wide: a fleet mixing Redis versions then runs everything through EVALSHA, which is correct
/// everywhere.
static FUNCTIONS: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// True once the library was loaded and scripts run as FCALL.
pub(crate) fn functions_loaded() -> bool {
    functions_state() == YES
}

/// Whether an error is Redis's answer to an FCALL of a library it does not have (a restart
/// without persistence, `FUNCTION FLUSH`).
pub(crate) fn function_missing(e: &redis::RedisError) -> bool {
    e.to_string().contains("Function not found")
}

fn functions_state() -> u8 {
    let s = FUNCTIONS.load(Ordering::Relaxed);
    if s == UNKNOWN && std::env::var("BULLMQ_SCRIPTS").is_ok_and(|v| v == "eval") {
        FUNCTIONS.store(NO, Ordering::Relaxed);
        return NO;
    }
    s
}

/// One script: its file name (`<name>-<numkeys>`) and stitched source.
pub(crate) struct ScriptDef {
    pub(crate) name: &'static str,
    source: &'static str,
    script: OnceLock<redis::Script>,
    function: OnceLock<String>,
}

impl ScriptDef {
    pub(crate) const fn new(name: &'static str, source: &'static str) -> Self {
        ScriptDef { name, source, script: OnceLock::new(), function: OnceLock::new() }
    }

    /// The redis-rs script object; `invoke_async` sends EVALSHA and falls back to loading the
    /// script when Redis answers NOSCRIPT (after `SCRIPT FLUSH` or a restart).
    fn script(&self) -> &redis::Script {
        self.script.get_or_init(|| redis::Script::new(self.source))
    }

    /// This script's name in the function library.
    fn function(&self) -> &str {
        self.function.get_or_init(|| format!("{LIBRARY_NAME}_{}", self.name.replace('-', "_")))
    }

    /// A call of this script on the queue whose base key is `base` (its only key), to fill with
    /// arguments.
    pub(crate) fn call(&'static self, base: &str) -> Invocation {
        let mut inv = Invocation { def: self, keys: Vec::new(), args: Vec::new() };
        inv.key(base);
        inv
    }
}

/// One script call: as redis-rs's `ScriptInvocation`, but run as `FCALL` of the library when
/// Redis has it, else as EVALSHA.
pub(crate) struct Invocation {
    def: &'static ScriptDef,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Invocation {
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// The call as an FCALL command, for a pipeline: without invoke_async's fallbacks, so only
    /// where [`functions_loaded`] (the caller handles "Function not found").
    pub(crate) fn fcall(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(self.def.function()).arg(self.keys.len()).arg(&self.keys).arg(&self.args);
        cmd
    }

    /// Runs the call on `client`'s connection; a Redis error names `operation` and `job_id`.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        client: &Client,
        operation: &'static str,
        job_id: Option<&str>,
    ) -> Result<T> {
        let mut conn = client.conn();
        self.invoke_async(&mut conn).await.map_err(|e| Error::redis(operation, job_id, e))
    }

    async fn invoke_async<T: FromRedisValue, C: ConnectionLike>(&self, conn: &mut C) -> RedisResult<T> {
        if functions_state() != NO {
            let cmd = self.fcall();
            match cmd.query_async::<redis::Value>(conn).await {
                Ok(v) => return Ok(T::from_redis_value(v)?),
                // After a restart without persistence or a FUNCTION FLUSH: load and retry once.
                Err(e) if function_missing(&e) => {
                    if load_library(conn).await? {
                        return cmd.query_async(conn).await;
                    }
                }
                Err(e) if unsupported(&e) => FUNCTIONS.store(NO, Ordering::Relaxed),
                Err(e) => return Err(e),
            }
        }
        let mut inv = self.def.script().prepare_invoke();
        for k in &self.keys {
            inv.key(k);
        }
        for a in &self.args {
            inv.arg(a);
        }
        inv.invoke_async(conn).await
    }
}

/// FUNCTION (or FCALL) refused as such: an older Redis, or an ACL without it.
fn unsupported(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    text.contains("unknown command") || text.contains("NOPERM") || text.contains("unknown subcommand")
}

/// `FUNCTION LOAD REPLACE`s the library; false (and EVALSHA from then on) where Redis has no
/// functions.
async fn load_library<C: ConnectionLike>(conn: &mut C) -> RedisResult<bool> {
    match redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(LIBRARY).query_async::<String>(conn).await {
        Ok(_) => {
            FUNCTIONS.store(YES, Ordering::Relaxed);
            Ok(true)
        }
        Err(e) if unsupported(&e) => {
            FUNCTIONS.store(NO, Ordering::Relaxed);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A reply code of a script that returns BullMQ's codes: `Ok` for 0 and above, the matching
/// [`ScriptError`] (or an `UnexpectedReply` for an unknown code) below. `detail` is the expected
/// state (for -3 and -6) or the parent key (for -5 and -7).
pub(crate) fn code(reply: i64, job_id: &str, command: &'static str, detail: &str) -> Result<i64> {
    if reply >= 0 {
        return Ok(reply);
    }
    match ScriptError::from_reply(reply, job_id, command, detail) {
        Some(e) => Err(Error::Script(e)),
        None => Err(Error::unexpected(command, Some(job_id), format!("unknown code {reply}"))),
    }
}

/// `"1"` or `"0"`, as the scripts take flags.
pub(crate) fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// An optional number as the scripts take it: the decimal text, or "" for none.
pub(crate) fn opt_arg(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// Declares the `ScriptDef` static `DEF` for `lua/<file>.lua` (stitched by build.rs).
macro_rules! script_def {
    ($file:literal) => {
        pub(super) static DEF: $crate::scripts::ScriptDef =
            $crate::scripts::ScriptDef::new($file, include_str!(concat!(env!("OUT_DIR"), "/lua/", $file, ".lua")));
    };
}
use script_def;

/// Every script, for loading at connect.
fn all() -> impl Iterator<Item = &'static ScriptDef> {
    [
        &add_flow::DEF,
        &add_job_scheduler::DEF,
        &add_jobs::DEF,
        &change_delay::DEF,
        &change_priority::DEF,
        &clean_jobs_in_set::DEF,
        &drain::DEF,
        &extend_locks::DEF,
        &extend_taken_locks::DEF,
        &fair_heal::DEF,
        &fair_join::DEF,
        &finish_many::DEF,
        &get_rate_limit_ttl::DEF,
        &get_state::DEF,
        &mark_run_alone::DEF,
        &move_job_from_active_to_wait::DEF,
        &move_jobs_to_wait::DEF,
        &move_stalled_jobs_to_wait::DEF,
        &move_to_active::DEF,
        &move_to_delayed::DEF,
        &move_to_finished::DEF,
        &move_to_waiting_children::DEF,
        &obliterate::DEF,
        &pause::DEF,
        &promote::DEF,
        &remove_deduplication_key::DEF,
        &remove_child_dependency::DEF,
        &remove_job::DEF,
        &remove_job_scheduler::DEF,
        &remove_unprocessed_children::DEF,
        &reprocess_job::DEF,
        &retry_job::DEF,
        &transaction::DEF,
        &update_job::DEF,
        &update_job_scheduler::DEF,
    ]
    .into_iter()
}

/// Loads the function library (Redis >= 7.0), or else `SCRIPT LOAD`s every script, so that
/// the first call of each finds it. (Should FCALL be refused later, EVALSHA still loads a
/// script Redis lacks on its first NOSCRIPT; no script is sent in a pipeline.)
pub(crate) async fn load_all(client: &Client) -> Result<()> {
    let mut conn = client.conn();
    let loaded: RedisResult<()> = async {
        if functions_state() != NO {
            tracing::trace!(library = LIBRARY_NAME, "FUNCTION LOAD");
            if load_library(&mut conn).await? {
                return Ok(());
            }
        }
        let mut pipe = redis::pipe();
        for def in all() {
            tracing::trace!(script = def.name, "SCRIPT LOAD");
            pipe.cmd("SCRIPT").arg("LOAD").arg(def.source);
        }
        pipe.query_async::<()>(&mut conn).await
    }
    .await;
    loaded.map_err(|e| Error::redis("SCRIPT LOAD", None, e))
}
