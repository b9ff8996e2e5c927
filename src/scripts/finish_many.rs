//! `finishMany-1`: complete a batch of active jobs and take the next ones, in one call.

use super::fetch::{taken_job, FetchArgs, FetchReply};
use super::{code, msgpack, opt_arg, script_def};
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::Retention;

script_def!("finishMany-1");

/// What the completions of a batch mostly share, sent once per call: retention, attempts,
/// metrics max data points.
pub(crate) type Profile = (Retention, u32, Option<u64>);

/// One completion of a batch.
#[derive(Debug, Clone)]
pub(crate) struct ManyJob<'a> {
    pub(crate) id: &'a str,
    /// Its queue's index in `FinishMany::bases` (a fair group's batch), else unused.
    pub(crate) base: usize,
    /// The return value JSON.
    pub(crate) value: &'a str,
    pub(crate) token: &'a str,
    /// `atm + 1` when finishing the job needs nothing read back from its hash (no parent link,
    /// no deduplication id), else none.
    pub(crate) atm_next: Option<u64>,
    /// Its profile's index in `profiles`.
    pub(crate) profile: usize,
    /// When it finished, µs since the epoch.
    pub(crate) finished_us: u64,
}

/// Completes `jobs` (each under its own token) and takes up to `take` next jobs, locked under
/// `<fetch.token>:<i>`.
pub(crate) struct FinishMany<'a> {
    pub(crate) profiles: &'a [Profile],
    pub(crate) jobs: &'a [ManyJob<'a>],
    pub(crate) take: usize,
    pub(crate) fetch: &'a FetchArgs<'a>,
    /// The queue bases of a fair group's batch (its jobs' `base` index them; the client's is
    /// then the group's home); empty: every job is the client's queue's.
    pub(crate) bases: &'a [&'a str],
}

/// What finishMany did.
#[derive(Debug)]
pub(crate) struct ManyReply {
    /// Per job of the batch, in order: done, or moveToFinished's refusal.
    pub(crate) finished: Vec<Result<()>>,
    /// Each job taken (a `Job` or `Unreadable` reply) and its lock token.
    pub(crate) taken: Vec<(FetchReply, String)>,
    /// The rate limit that stopped the takes, ms (0: none).
    pub(crate) ttl: u64,
    /// The next delayed job's due time in ms when the takes ran dry (0: none).
    pub(crate) due: u64,
}

impl FinishMany<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<ManyReply> {
        let mut inv = DEF.call(&client.keys().base);
        inv.arg(self.jobs.len()).arg(self.take);
        self.fetch.push(&mut inv);
        inv.arg(self.profiles.len());
        for (r, attempts, metrics) in self.profiles {
            inv.arg(r.count).arg(opt_arg(r.age_secs)).arg(opt_arg(r.limit)).arg(*attempts).arg(opt_arg(*metrics));
        }
        inv.arg(self.bases.len());
        for b in self.bases {
            inv.arg(*b);
        }
        for j in self.jobs {
            // The finish time as ms with the µs as a fraction (see the script's header).
            let at = format!("{}.{:03}", j.finished_us / 1000, j.finished_us % 1000);
            inv.arg(j.id).arg(j.value).arg(j.token).arg(opt_arg(j.atm_next)).arg(j.profile + 1).arg(at);
            if !self.bases.is_empty() {
                inv.arg(j.base + 1);
            }
        }
        let packed: Vec<u8> = inv.run(client, "finishMany", None).await?;
        self.decode(&packed)
    }

    /// `{ttl, due, codes, hash 1, id 1, ...}`, packed with cmsgpack into one string.
    fn decode(&self, packed: &[u8]) -> Result<ManyReply> {
        let bad = |why: String| Error::unexpected("finishMany", None, why);
        let reply = match msgpack::decode(packed).map_err(|e| bad(e.to_string()))? {
            msgpack::Value::Array(items) => items,
            other => return Err(bad(format!("not an array: {other:?}"))),
        };
        let mut it = reply.into_iter();
        let mut next = |what: &str| it.next().ok_or_else(|| bad(format!("{what} missing")));
        let ttl = next("ttl")?.as_i64().ok_or_else(|| bad("ttl not an integer".into()))?;
        let due = next("due")?.as_i64().unwrap_or(0).max(0) as u64;
        let codes = match next("codes")? {
            msgpack::Value::Array(c) => {
                c.iter().map(|v| v.as_i64().ok_or_else(|| bad(format!("code {v:?}")))).collect::<Result<Vec<i64>>>()?
            }
            other => return Err(bad(format!("codes: {other:?}"))),
        };
        let finished = self
            .jobs
            .iter()
            .zip(codes.into_iter().chain(std::iter::repeat(0)))
            .map(|(j, c)| code(c, j.id, "moveToFinished", "active").map(|_| ()))
            .collect();
        let mut taken = Vec::new();
        while let Some(hash) = it.next() {
            let msgpack::Value::Array(flat) = hash else {
                return Err(bad("a taken job's hash is not an array".into()));
            };
            let flat: Vec<Vec<u8>> = flat
                .into_iter()
                .map(|v| match v {
                    msgpack::Value::Bytes(b) => Ok(b),
                    other => Err(bad(format!("a job hash field: {other:?}"))),
                })
                .collect::<Result<_>>()?;
            let id = it.next().and_then(msgpack::Value::into_string).ok_or_else(|| bad("a taken job's id".into()))?;
            taken.push((taken_job(id, flat), format!("{}:{}", self.fetch.token, taken.len() + 1)));
        }
        Ok(ManyReply { finished, taken, ttl: ttl.max(0) as u64, due })
    }
}
