//! A worker of a fair group (src/fair, lua/includes/fair.lua): its takes go round the tenant
//! queues its group's index points at, so the engine meets jobs of many queues. Every verb on a
//! job talks to the job's own queue (`client_of`); the stalled check runs for each tenant with
//! active jobs, with the group's upkeep (`fairHeal`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Engine;
use crate::clock::now_ms;
use crate::connection::Client;
use crate::error::Result;
use crate::fair::FairOptions;
use crate::job::Job;
use crate::keys::QueueKeys;
use crate::queue::Queue;
use crate::scripts::{FairHeal, MoveStalledJobsToWait};

/// The group side of an engine: the take option the scripts read and the tenant queues met.
pub(crate) struct FairGroup {
    /// See includes/fetch.lua's `fairOption`.
    pub(crate) arg: String,
    /// `prefix:G.`: a tenant's queue base is this, the tenant and `:`.
    pub(crate) tenant_prefix: String,
    /// `G.`: a tenant's queue name is this and the tenant.
    name_prefix: String,
    heal_chunk: u32,
    /// Tenant queue name -> its keys (one `Arc` per tenant, shared by its jobs).
    keys: Mutex<HashMap<String, Arc<QueueKeys>>>,
}

impl FairGroup {
    pub(crate) fn new(home: &QueueKeys, opts: &FairOptions) -> FairGroup {
        let tenant_prefix = format!("{}:{}.", home.prefix, home.name);
        let arg =
            format!("{}\n{}\n{}\n{}", home.base, tenant_prefix, opts.quantum, opts.tenant_concurrency.unwrap_or(0));
        let name_prefix = format!("{}.", home.name);
        FairGroup { arg, tenant_prefix, name_prefix, heal_chunk: opts.heal_chunk, keys: Mutex::new(HashMap::new()) }
    }
}

impl Engine {
    /// The client for `job`'s queue: the worker's own, or a fair group's tenant queue on the
    /// same connection.
    pub(crate) fn client_of(&self, job: Option<&Job>) -> Result<Client> {
        let client = self.queue.client()?;
        match job {
            Some(j) if !Arc::ptr_eq(j.queue_keys(), client.keys()) && **j.queue_keys() != **client.keys() => {
                Ok(client.for_queue(j.queue_keys().clone()))
            }
            _ => Ok(client.clone()),
        }
    }

    /// The keys of the queue a taken job came from: the worker's own, or (a fair group) the
    /// tenant queue the take named in the reply's `tq` field, which is removed.
    pub(crate) fn taken_from(&self, hash: &mut HashMap<String, String>) -> Result<Arc<QueueKeys>> {
        match (&self.fair, hash.remove("tq")) {
            (Some(_), Some(name)) => self.tenant_keys(name),
            _ => Ok(self.queue.keys().clone()),
        }
    }

    /// The keys of the tenant queue `name` (one `Arc` per tenant, shared by its jobs); the
    /// worker's own for a worker of no group.
    pub(crate) fn tenant_keys(&self, name: String) -> Result<Arc<QueueKeys>> {
        let own = self.queue.keys();
        let Some(fair) = &self.fair else { return Ok(own.clone()) };
        let mut known = fair.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = known.get(&name) {
            return Ok(k.clone());
        }
        let keys = Arc::new(QueueKeys::new(&own.prefix, &name)?);
        known.insert(name, keys.clone());
        Ok(keys)
    }

    /// A queue handle for `job`'s queue (a tenant's in a fair group: a new handle over the
    /// worker's connection, for what a processor does on its job: progress, logs, data).
    pub(crate) fn queue_of(&self, job: &Job) -> Queue {
        if self.fair.is_none() || **job.queue_keys() == **self.queue.keys() {
            return self.queue.clone();
        }
        self.queue.sibling(job.queue_keys().clone())
    }

    /// A fair group's stalled check: the group's upkeep, then the stalled check of every
    /// tenant with active jobs. Returns the ids put back to wait.
    pub(crate) async fn fair_stalled_check(&self, fair: &FairGroup, client: &Client) -> Result<Vec<String>> {
        let healed = FairHeal { tenant_prefix: &fair.tenant_prefix, chunk: fair.heal_chunk }.run(client).await?;
        if healed.repaired > 0 {
            tracing::debug!(repaired = healed.repaired, "fair group: tenants pointed at again");
        }
        let check = MoveStalledJobsToWait {
            max_stalled_count: self.opts.max_stalled_count,
            now: now_ms(),
            interval: self.opts.stalled_interval,
        };
        let mut moved = Vec::new();
        for tenant in healed.busy {
            let keys = self.tenant_keys(format!("{}{tenant}", fair.name_prefix))?;
            moved.extend(check.run(&client.for_queue(keys)).await?);
        }
        Ok(moved)
    }
}
