//! The running jobs of a worker: by job key (queue and id: a fair group's tenants may each have
//! a job of one id), with the lease each runs under and its actor. A job actor registers when
//! it starts; its [`Registration`] removes it when the actor's state is
//! dropped (however the actor ended: a stop, an error, a panic), so no entry outlives its
//! actor. The last one to leave wakes a `close` waiting for the jobs to end (no polling).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use tokio::sync::Notify;

use super::job_msg::JobMsg;
use crate::engine::Lease;
use crate::keys::QueueKeys;

/// A running job: the lease it runs under and its actor.
#[derive(Clone)]
pub(crate) struct RunningJob {
    pub(crate) id: String,
    pub(crate) lease: Lease,
    /// The job's queue (a fair group's jobs come from many).
    pub(crate) keys: Arc<QueueKeys>,
    pub(crate) actor: ActorRef<JobMsg>,
    /// Shared with the job actor.
    pub(crate) phase: Arc<JobPhase>,
}

/// Where a running job is, as far as its lock goes: running, finishing (its outcome went to
/// the acker: the lock is still renewed until the outcome is in Redis, but a renewal that finds
/// it gone most likely raced the finish that released it, and the finish reports a real loss
/// itself), done (its outcome is in Redis: no longer active, no longer ours, though its actor
/// has yet to hear so), or lost (reported once, renewed no more).
#[derive(Default)]
pub(crate) struct JobPhase(AtomicU8);

const RUNNING: u8 = 0;
const FINISHING: u8 = 1;
const LOST: u8 = 2;
const DONE: u8 = 3;

impl JobPhase {
    pub(crate) fn finishing(&self) {
        let _ = self.0.compare_exchange(RUNNING, FINISHING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The acker had Redis take the job's outcome.
    pub(crate) fn done(&self) {
        self.0.store(DONE, Ordering::Release);
    }

    /// Running here as far as Redis goes: not lost, outcome not in Redis yet.
    pub(crate) fn is_held(&self) -> bool {
        matches!(self.0.load(Ordering::Acquire), RUNNING | FINISHING)
    }

    pub(crate) fn is_finishing(&self) -> bool {
        self.0.load(Ordering::Acquire) == FINISHING
    }

    /// Marks the lock lost; true the first time (from running).
    pub(crate) fn lose(&self) -> bool {
        self.0.compare_exchange(RUNNING, LOST, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == DONE
    }
}

pub(crate) struct Registry {
    jobs: Mutex<HashMap<String, RunningJob>>,
    /// Notified when the last running job leaves.
    emptied: Notify,
}

/// Keeps a job in the registry until dropped.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    key: String,
    actor: ActorId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut jobs = self.registry.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // The same job may run here again already (stalled, taken again): keep that entry.
        if jobs.get(&self.key).is_some_and(|j| j.actor.get_id() == self.actor) {
            jobs.remove(&self.key);
            if jobs.is_empty() {
                self.registry.emptied.notify_waiters();
            }
        }
    }
}

impl Registry {
    pub(crate) fn new() -> Arc<Registry> {
        Arc::new(Registry { jobs: Mutex::new(HashMap::new()), emptied: Notify::new() })
    }

    /// Registers `job` (run by `job.actor`) until the returned guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, job: RunningJob) -> Registration {
        let (actor, key) = (job.actor.get_id(), job.keys.job(&job.id));
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), job);
        Registration { registry: self.clone(), key, actor }
    }

    /// The running jobs.
    pub(crate) fn running(&self) -> Vec<RunningJob> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The ids of the jobs active in Redis for this worker: running, or finishing with the
    /// outcome not in Redis yet (not those whose actor has yet to hear the outcome landed).
    pub(crate) fn ids(&self) -> Vec<String> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.values().filter(|j| !j.phase.is_done()).map(|j| j.id.clone()).collect()
    }

    /// A running job of id `id` (of any queue: ids are unique but across a fair group's
    /// tenants, where two jobs of one id from different tenants may run at once).
    pub(crate) fn job(&self, id: &str) -> Option<RunningJob> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).values().find(|j| j.id == id).cloned()
    }

    /// The running job `id` of the queue `keys`.
    pub(crate) fn job_in(&self, keys: &QueueKeys, id: &str) -> Option<RunningJob> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&keys.job(id)).cloned()
    }

    /// Waits until no job runs, at most `timeout`. True when none runs.
    pub(crate) async fn wait_empty(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a last job leaving in between is not missed.
                let emptied = self.emptied.notified();
                tokio::pin!(emptied);
                emptied.as_mut().enable();
                if self.jobs.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                    return;
                }
                emptied.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}
