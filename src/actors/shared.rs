//! State shared by a worker and its children. It lives outside any one actor so that a child's
//! restart loses nothing: the job registry, the subscribers and the run state survive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use tokio::sync::{watch, Semaphore};

use super::events::EventBus;
use super::finisher::FinishSender;
use super::job_actor::JobMsg;
use super::processor::Processor;
use crate::manual::ManualWorker;

/// Whether the fetcher may take jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    Paused,
    Closing,
}

/// A running job: its lock token and its actor.
#[derive(Clone)]
pub(crate) struct RunningJob {
    pub(crate) token: String,
    pub(crate) actor: ActorRef<JobMsg>,
}

/// The running jobs, by job id and by job actor id. A job actor registers itself in `pre_start`
/// (before its processor can finish) and the worker removes it when it hears the actor ended,
/// so no entry outlives its actor.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) by_job: HashMap<String, RunningJob>,
    pub(crate) by_actor: HashMap<ActorId, String>,
}

pub(crate) struct Shared {
    pub(crate) manual: ManualWorker,
    pub(crate) processor: Processor,
    pub(crate) events: EventBus,
    pub(crate) registry: Mutex<Registry>,
    /// One permit per concurrency slot; a job actor holds one while it lives.
    pub(crate) slots: Arc<Semaphore>,
    /// The concurrency (the number of slots).
    pub(crate) slots_total: usize,
    pub(crate) run: watch::Sender<RunState>,
    /// How long a cancelled processor may take to stop before it is aborted.
    pub(crate) grace: Duration,
    /// Where job actors send their completions (see `finisher`).
    pub(crate) finisher: FinishSender,
}

impl Shared {
    pub(crate) fn running(&self) -> Vec<(String, RunningJob)> {
        self.registry.lock().map(|r| r.by_job.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub(crate) fn job(&self, id: &str) -> Option<RunningJob> {
        self.registry.lock().ok().and_then(|r| r.by_job.get(id).cloned())
    }

    pub(crate) fn register(&self, id: &str, job: RunningJob) {
        if let Ok(mut r) = self.registry.lock() {
            r.by_actor.insert(job.actor.get_id(), id.to_owned());
            r.by_job.insert(id.to_owned(), job);
        }
    }

    /// Forgets the job actor `actor`; returns its job id when it was one.
    pub(crate) fn unregister(&self, actor: ActorId) -> Option<String> {
        let mut r = self.registry.lock().ok()?;
        let id = r.by_actor.remove(&actor)?;
        // The same job may already run again here (stalled, re-fetched): keep that entry.
        if r.by_job.get(&id).is_some_and(|j| j.actor.get_id() == actor) {
            r.by_job.remove(&id);
        }
        Some(id)
    }
}
