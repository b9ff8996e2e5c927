//! How a worker of a fair group takes (see `Worker::fair`).

use crate::error::{Error, Result};

/// How a worker of a fair group takes: jobs per visit of a tenant and a cap on a tenant's
/// active jobs. Defaults: one job per visit (weights multiply it), no cap.
#[derive(Debug, Clone)]
pub struct FairOptions {
    /// Jobs taken from a tenant per visit before the next tenant's turn (times the tenant's
    /// weight). Default 1: strict round-robin.
    pub quantum: u32,
    /// Most active jobs of one tenant across all workers of the group (its queue's `active`
    /// list is counted), none by default. BullMQ's global concurrency of a tenant queue
    /// (`Queue::set_global_concurrency`) is honoured as well.
    pub tenant_concurrency: Option<u32>,
    /// Tenants of the group's list checked for a missing pointer per stalled check (tenants
    /// whose jobs were added by a client that does not keep the index). Default 1000.
    pub heal_chunk: u32,
}

impl Default for FairOptions {
    fn default() -> Self {
        FairOptions { quantum: 1, tenant_concurrency: None, heal_chunk: 1000 }
    }
}

impl FairOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.quantum == 0 {
            return Err(Error::invalid("quantum", "must be at least 1"));
        }
        if self.tenant_concurrency == Some(0) {
            return Err(Error::invalid("tenant_concurrency", "must be at least 1 (none: no cap)"));
        }
        if self.heal_chunk == 0 {
            return Err(Error::invalid("heal_chunk", "must be at least 1"));
        }
        Ok(())
    }
}
