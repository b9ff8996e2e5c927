//! Fairness across tenants, after QuiCK's pointer index: each tenant's jobs live in a plain
//! BullMQ queue of their own (`<group>.<tenant>`: Node workers and every getter work on any one
//! tenant), and the group keeps an index of the tenants with work, tenant -> earliest visible
//! time, that every script of ours that adds, delays, readies or takes a job keeps in the same
//! call. A worker of the group ([`Worker::fair`](crate::Worker::fair)) takes round-robin over
//! that index, `quantum` jobs a visit (times the tenant's weight), within per-tenant caps: one
//! tenant's flood waits behind everyone's turn instead of in front of it.
//!
//! The index lives in the group's home keys (`prefix:<group>:ready` and friends, see
//! `lua/includes/fair.lua`); a take looks at O(log n) of it per tenant visited, whatever the
//! number of tenants.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::job::{BulkJob, Job, JobOptions};
use crate::keys::QueueKeys;
use crate::queue::{Queue, QueueOptions};
use crate::scripts::FairJoin;

mod options;

pub use options::FairOptions;

/// The producer side of a fair group: adds jobs for tenants, sets their weights and caps.
/// Cheap to clone; clones share one connection.
///
/// ```no_run
/// use bullmq::{FairQueue, JobOptions, QueueOptions};
///
/// # async fn demo() -> bullmq::Result<()> {
/// let mail = FairQueue::new("mail", QueueOptions::default()).await?;
/// mail.add("acme", "send", serde_json::json!({"to": "a@acme.test"}), JobOptions::default()).await?;
/// mail.set_weight("bigcorp", 3).await?; // three jobs a turn
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FairQueue {
    inner: Arc<Inner>,
}

struct Inner {
    /// The group's home queue: its keys hold the group's index; tenants' jobs are added over
    /// its connection.
    home: Queue,
    /// The tenants joined to the group by this handle (a name each: no handle is kept per
    /// tenant, so a group of 100,000 tenants costs its producer little).
    joined: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for FairQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairQueue").field("group", &self.group()).finish()
    }
}

impl FairQueue {
    /// Connects to the group `group` (a queue name: its home keys are the group's).
    pub async fn new(group: &str, opts: QueueOptions) -> Result<FairQueue> {
        let home = Queue::new(group, opts.skip_meta_update(true)).await?;
        Ok(FairQueue { inner: Arc::new(Inner { home, joined: Mutex::new(HashSet::new()) }) })
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        self.inner.home.name()
    }

    /// The name of `tenant`'s queue: `<group>.<tenant>`.
    pub fn tenant_queue_name(&self, tenant: &str) -> String {
        format!("{}.{tenant}", self.group())
    }

    /// A handle on `tenant`'s queue, a plain BullMQ queue (every getter and admin call works on
    /// it), joined to the group on first use: jobs added to it through this crate reach the
    /// group's workers at once; jobs added by other clients (a Node producer), within a stalled
    /// check. Each call makes a new handle over the group's connection.
    pub async fn tenant(&self, tenant: &str) -> Result<Queue> {
        let keys = self.join(tenant, None).await?;
        Ok(self.inner.home.sibling(keys))
    }

    /// Joins `tenant` (once per handle, or again to set a weight) and returns its queue's keys.
    async fn join(&self, tenant: &str, weight: Option<u32>) -> Result<Arc<QueueKeys>> {
        if tenant.is_empty() || tenant.contains(['\n', ':']) {
            return Err(Error::invalid("tenant", format!("{tenant:?} must be non-empty, without ':' or a newline")));
        }
        let home = &self.inner.home;
        let keys = Arc::new(QueueKeys::new(home.prefix(), &self.tenant_queue_name(tenant))?);
        let joined = self.inner.joined.lock().unwrap_or_else(|p| p.into_inner()).contains(tenant);
        if !joined || weight.is_some() {
            let client = home.client()?.for_queue(keys.clone());
            FairJoin { group_base: &home.keys().base, tenant, weight }.run(&client).await?;
            self.inner.joined.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.to_owned());
        }
        Ok(keys)
    }

    /// Adds a job for `tenant` (see [`Queue::add`]; one script call each: adds are not
    /// coalesced across callers here).
    pub async fn add(&self, tenant: &str, name: &str, data: impl Serialize, opts: JobOptions) -> Result<Job> {
        let job = BulkJob::new(name, data, opts)?;
        let keys = self.join(tenant, None).await?;
        let mut added = self.inner.home.add_bulk_to(keys, vec![job]).await?;
        added.pop().ok_or_else(|| Error::unexpected("addJob", None, "no job in the reply"))
    }

    /// Adds many jobs for `tenant` atomically (see [`Queue::add_bulk`]).
    pub async fn add_bulk(&self, tenant: &str, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        let keys = self.join(tenant, None).await?;
        self.inner.home.add_bulk_to(keys, jobs).await
    }

    /// `tenant`'s weight: jobs taken from it per turn, times the workers' `quantum`. Default 1.
    pub async fn set_weight(&self, tenant: &str, weight: u32) -> Result<()> {
        if weight == 0 {
            return Err(Error::invalid("weight", "must be at least 1"));
        }
        self.join(tenant, Some(weight)).await.map(|_| ())
    }

    /// Caps `tenant`'s active jobs across every worker (BullMQ's global concurrency of its
    /// queue, which Node workers honour too).
    pub async fn set_tenant_concurrency(&self, tenant: &str, n: u64) -> Result<()> {
        self.tenant(tenant).await?.set_global_concurrency(n).await
    }

    /// Every tenant joined to the group, in the order they joined (by name within a tie).
    pub async fn tenants(&self) -> Result<Vec<String>> {
        let key = self.inner.home.keys().key("tenants");
        self.query(redis::cmd("ZRANGE").arg(key).arg(0).arg(-1), "ZRANGE").await
    }

    /// How many tenants the group's index points at (tenants with ready or delayed jobs, and
    /// stale pointers a take has not looked at yet).
    pub async fn indexed_tenants(&self) -> Result<u64> {
        let key = self.inner.home.keys().key("ready");
        self.query(redis::cmd("ZCARD").arg(key), "ZCARD").await
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd, op: &'static str) -> Result<T> {
        cmd.query_async(&mut self.inner.home.client()?.conn()).await.map_err(|e| Error::redis(op, None, e))
    }

    /// Stops using this handle (and the tenant handles made from it share its fate only in
    /// that they use the same connection).
    pub async fn close(&self) {
        self.inner.home.close().await;
    }
}
