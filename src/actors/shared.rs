//! State shared by a worker and its children. It lives outside any one actor so that a child's
//! restart loses nothing: the job registry, the subscribers and the run state survive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::{watch, Semaphore};

use super::events::EventBus;
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

pub(crate) struct Shared {
    pub(crate) manual: ManualWorker,
    pub(crate) processor: Processor,
    pub(crate) events: EventBus,
    pub(crate) registry: Mutex<HashMap<String, RunningJob>>,
    /// One permit per concurrency slot; a job actor holds one while it lives.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) run: watch::Sender<RunState>,
    /// How long a cancelled processor may take to stop before it is aborted.
    pub(crate) grace: Duration,
}

impl Shared {
    pub(crate) fn running(&self) -> Vec<(String, RunningJob)> {
        self.registry.lock().map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub(crate) fn job(&self, id: &str) -> Option<RunningJob> {
        self.registry.lock().ok().and_then(|r| r.get(id).cloned())
    }
}
