//! `transaction-1`: the application's writes and job adds of one queue as one unit, checked
//! before anything is written (see [`crate::queue::Transaction`] for the guarantees).

use redis::Value;

use super::{code, script_def, NewJob};
use crate::connection::Client;
use crate::error::{Error, Result, TransactionRefusal};

script_def!("transaction-1");

/// One app command, validated: its name as the script knows it (`SET`, `PEXPIRE`...), its key
/// and its other arguments.
#[derive(Debug, Clone)]
pub(crate) struct AppWrite {
    pub(crate) command: &'static str,
    pub(crate) key: String,
    pub(crate) args: Vec<Vec<u8>>,
}

/// Runs `writes` then adds `jobs`, all or nothing.
pub(crate) struct RunTransaction<'a> {
    pub(crate) writes: &'a [AppWrite],
    pub(crate) jobs: &'a [NewJob],
}

/// What a transaction that ran answered.
#[derive(Debug)]
pub(crate) struct TransactionDone {
    /// Each app command's reply, in order.
    pub(crate) replies: Vec<Value>,
    /// Each job's id (new, existing duplicate, or dedup owner), in order.
    pub(crate) ids: Vec<String>,
}

const OPERATION: &str = "transaction";

impl RunTransaction<'_> {
    pub(crate) async fn run(&self, client: &Client) -> Result<TransactionDone> {
        let mut inv = DEF.call(&client.keys().base);
        for w in self.writes {
            inv.key(&w.key);
        }
        inv.arg(self.writes.len()).arg(self.jobs.len());
        for w in self.writes {
            inv.arg(w.command).arg(w.args.len());
            for a in &w.args {
                inv.arg(a.as_slice());
            }
        }
        for j in self.jobs {
            j.push_fields(&mut inv);
            inv.arg(&j.repeat_job_key);
        }
        let reply: Vec<Value> = inv.run(client, OPERATION, None).await?;
        self.decode(reply)
    }

    fn decode(&self, reply: Vec<Value>) -> Result<TransactionDone> {
        let bad = |what: &str| Error::unexpected(OPERATION, None, what.to_owned());
        let mut it = reply.into_iter();
        let tag: String = it.next().and_then(|v| redis::from_redis_value(v).ok()).ok_or_else(|| bad("no tag"))?;
        if tag == "refused" {
            let text = |v: Option<Value>| v.and_then(|v| redis::from_redis_value::<String>(v).ok()).unwrap_or_default();
            let what = text(it.next());
            let command = text(it.next());
            let index = it.next().and_then(|v| redis::from_redis_value::<usize>(v).ok()).unwrap_or(1).max(1) - 1;
            let key = text(it.next());
            let detail = text(it.next());
            return Err(self.refusal(&what, &command, index, key, detail));
        }
        let replies = match it.next() {
            Some(Value::Array(r)) => r,
            _ => return Err(bad("no replies")),
        };
        let ids = match it.next() {
            Some(Value::Array(ids)) => ids,
            _ => return Err(bad("no ids")),
        };
        if replies.len() != self.writes.len() || ids.len() != self.jobs.len() {
            return Err(bad(&format!(
                "{} replies and {} ids for {} commands and {} jobs",
                replies.len(),
                ids.len(),
                self.writes.len(),
                self.jobs.len()
            )));
        }
        // INCRBY and HINCRBY answer their exact new value as text (a Lua number is a double).
        let replies = replies
            .into_iter()
            .zip(self.writes)
            .map(|(v, w)| match (&v, w.command) {
                (Value::BulkString(text), "INCRBY" | "HINCRBY") => std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Value::Int)
                    .ok_or_else(|| bad("a non-integer increment reply")),
                _ => Ok(v),
            })
            .collect::<Result<Vec<Value>>>()?;
        let ids = ids
            .into_iter()
            .zip(self.jobs)
            .map(|(v, j)| match v {
                // The check phase makes these unreachable; were one to come, the app commands
                // and the jobs before it were written.
                Value::Int(n) => Err(match code(n, &j.custom_id, "addJob", &j.parent_key) {
                    Err(e) => Error::unexpected(OPERATION, None, format!("{e}, after the writes began")),
                    Ok(n) => Error::unexpected(OPERATION, None, format!("reply {n}")),
                }),
                other => redis::from_redis_value(other).map_err(|e| bad(&e.to_string())),
            })
            .collect::<Result<Vec<String>>>()?;
        Ok(TransactionDone { replies, ids })
    }

    /// The typed error of a refusal by the check phase (`index` from 0).
    fn refusal(&self, what: &str, command: &str, index: usize, key: String, detail: String) -> Error {
        let unknown = || Error::unexpected(OPERATION, None, format!("refusal {what} of {command} #{index}"));
        let command = if command == "add" {
            // A job's parent: the codes and errors of addJobs.
            let job = self.jobs.get(index);
            let parent = |n| job.and_then(|j| code(n, &j.custom_id, "addJob", &j.parent_key).err());
            match what {
                "parent" => return parent(-5).unwrap_or_else(unknown),
                "parentreplace" => return parent(-7).unwrap_or_else(unknown),
                _ => "add",
            }
        } else {
            match self.writes.get(index) {
                Some(w) if w.command == command => w.command,
                _ => return unknown(),
            }
        };
        let field = || (!detail.is_empty()).then(|| detail.clone());
        let reason = match what {
            "wrongtype" => TransactionRefusal::WrongType { found: detail.clone() },
            "notint" => TransactionRefusal::NotAnInteger { field: field() },
            "overflow" => TransactionRefusal::Overflow { field: field() },
            _ => return unknown(),
        };
        Error::TransactionRefused { command, index, key, reason }
    }
}
