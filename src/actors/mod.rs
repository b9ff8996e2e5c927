//! The supervised worker: [`Worker`] spawns a tree of ractor actors, from `main` or under your
//! own supervisor:
//!
//! ```text
//! Worker (one_for_one, restart intensity -> escalate)
//!  ├─ lock-renewer     permanent  extendLocks for all running jobs every lock_renew_time
//!  ├─ stalled-checker  permanent  the stalled check every stalled_interval
//!  ├─ fetcher          permanent  takes jobs for free slots (own blocking connection)
//!  └─ job actor × N    temporary  runs the processor for one job; takes `JobMsg::Cancel`
//! ```

mod callbacks;
mod events;
mod fetcher;
mod finisher;
mod job_actor;
mod lock_renewer;
mod periodic;
mod processor;
mod reconnect;
mod shared;
mod stalled_checker;
mod task_guard;
mod worker_actor;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorRef};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{watch, Semaphore};

pub use callbacks::WorkerCallbacks;
pub use events::WorkerEvent;
pub use job_actor::{CancelReason, JobMsg};
pub use processor::{processor, JobContext, JobOutcome, Processor, ProcessorFuture};
pub use worker_actor::WorkerMsg;

use crate::error::{Error, Result};
use crate::manual::ManualWorker;
use crate::supervisor::RestartIntensity;
use crate::worker_options::WorkerOptions;
use events::EventBus;
use shared::{RunState, Shared};
use worker_actor::{WorkerActor, WorkerArgs};

/// How long a cancelled processor may run on before it is aborted.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How long `close` keeps unblocking an idle take in flight before it goes on (the take runs as
/// soon as its wait is unblocked; this only bounds a Redis that does not answer).
const IDLE_TAKE_END: Duration = Duration::from_secs(2);

/// A running worker tree. Cheap to clone; all clones drive the same tree.
#[derive(Clone)]
pub struct Worker {
    actor: ActorRef<WorkerMsg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("queue", &self.shared.manual.queue().name()).finish()
    }
}

impl Worker {
    /// Spawns a standalone worker tree (its supervisor is the tree's root). Returns the worker
    /// and a subscription that sees every lifecycle event from the first child start on.
    pub async fn spawn(
        queue: &str,
        processor: Processor,
        opts: WorkerOptions,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        Self::start(queue, processor, opts, None).await
    }

    /// Spawns the worker tree linked under `supervisor`: a meltdown of the worker reaches it as
    /// a supervision event.
    pub async fn spawn_linked(
        queue: &str,
        processor: Processor,
        opts: WorkerOptions,
        supervisor: ActorCell,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        Self::start(queue, processor, opts, Some(supervisor)).await
    }

    async fn start(
        queue: &str,
        processor: Processor,
        opts: WorkerOptions,
        supervisor: Option<ActorCell>,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        let concurrency = opts.concurrency;
        let intensity = RestartIntensity { max_restarts: opts.max_restarts, within: opts.max_restarts_within };
        let autorun = opts.autorun;
        let manual = ManualWorker::new(queue, opts).await?;
        let events = EventBus::default();
        let rx = events.subscribe();
        let (finisher, finish_rx) = tokio::sync::mpsc::unbounded_channel();
        let (run, _) = watch::channel(if autorun { RunState::Running } else { RunState::Paused });
        let shared = Arc::new(Shared {
            manual,
            processor,
            events,
            registry: Mutex::new(Default::default()),
            slots: Arc::new(Semaphore::new(concurrency)),
            run,
            grace: CANCEL_GRACE,
            finisher,
            buffer: Mutex::new(Default::default()),
            prefetching: Default::default(),
            parked: Default::default(),
            unfinished: Default::default(),
            ran_dry: Default::default(),
            marker_wakes: Default::default(),
            job_micros: std::sync::atomic::AtomicU64::new(shared::NO_JOB_YET),
        });
        let args = WorkerArgs { shared: shared.clone(), intensity, finish_rx };
        let spawned = match supervisor {
            Some(sup) => Actor::spawn_linked(None, WorkerActor, args, sup).await,
            None => Actor::spawn(None, WorkerActor, args).await,
        };
        let (actor, _) = spawned.map_err(|e| Error::unexpected("spawn worker", None, e.to_string()))?;
        Ok((Worker { actor, shared }, rx))
    }

    /// Another subscription to the lifecycle events (from now on).
    pub fn subscribe(&self) -> UnboundedReceiver<WorkerEvent> {
        self.shared.events.subscribe()
    }

    /// Registers BullMQ-style callbacks: `handler` is called for every lifecycle event from
    /// now on, in order, until the worker closes. The returned task ends after `on_closed`.
    pub fn on<H: WorkerCallbacks>(&self, mut handler: H) -> tokio::task::JoinHandle<()> {
        let mut rx = self.subscribe();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if !callbacks::dispatch(&mut handler, &event) {
                    break;
                }
            }
        })
    }

    /// The worker actor (link it, monitor it, stop it).
    pub fn actor(&self) -> ActorRef<WorkerMsg> {
        self.actor.clone()
    }

    /// The actor running job `id`, to send it [`JobMsg::Cancel`] yourself.
    pub fn job_actor(&self, id: &str) -> Option<ActorRef<JobMsg>> {
        self.shared.job(id).map(|j| j.actor)
    }

    /// Ids of the jobs running now.
    pub fn active_jobs(&self) -> Vec<String> {
        self.shared.running().into_iter().map(|(id, _)| id).collect()
    }

    /// Cancels a running job (it fails with `job cancelled: <reason>`, retried per its
    /// attempts). False when the job is not running here.
    pub fn cancel_job(&self, id: &str, reason: impl Into<String>) -> bool {
        match self.job_actor(id) {
            Some(a) => a.send_message(JobMsg::Cancel { reason: CancelReason::User(reason.into()) }).is_ok(),
            None => false,
        }
    }

    /// Cancels every running job.
    pub fn cancel_all(&self, reason: impl Into<String>) {
        let reason = reason.into();
        for (_, j) in self.shared.running() {
            let _ = j.actor.send_message(JobMsg::Cancel { reason: CancelReason::User(reason.clone()) });
        }
    }

    /// Stops taking new jobs; running jobs go on.
    pub fn pause(&self) {
        self.shared.run.send_if_modified(|s| std::mem::replace(s, RunState::Paused) == RunState::Running);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            rt.spawn(async move {
                // An idle take waiting on the marker would otherwise take (and hand back) the
                // next job added within the drain delay.
                shared.manual.unblock_idle_take().await;
                shared.return_buffered().await
            });
        }
    }

    /// Takes jobs again (also starts a worker created with `autorun: false`).
    pub fn resume(&self) {
        self.shared.run.send_if_modified(|s| std::mem::replace(s, RunState::Running) == RunState::Paused);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        *self.shared.run.borrow() == RunState::Paused
    }

    /// Graceful shutdown: no job starts after this is called; running jobs get `timeout` to
    /// finish; the rest are cancelled (`Shutdown`) and left active for the stalled check of
    /// another worker. Then the children stop, the lock renewer last. Returns those orphans.
    pub async fn close(&self, timeout: Duration) -> Vec<String> {
        self.shared.run.send_replace(RunState::Closing);
        // An idle take in flight is ended and waited for, so whatever it took is back in wait
        // before close returns (see manual::idle_take).
        self.shared.manual.end_idle_takes(IDLE_TAKE_END).await;
        self.shared.return_buffered().await;
        let deadline = Instant::now() + timeout;
        while !self.shared.running().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let orphans = self.active_jobs();
        let _ = self.actor.stop_and_wait(None, Some(CANCEL_GRACE + Duration::from_secs(10))).await;
        self.shared.manual.close().await;
        self.shared.events.emit(WorkerEvent::Closed { orphans: orphans.clone() });
        orphans
    }

    /// Fault injection for reliability tests: makes a child panic inside its actor, as a bug
    /// would. `child` is `fetcher`, `lock-renewer`, `stalled-checker` or `job:<id>`.
    #[doc(hidden)]
    pub fn inject_panic(&self, child: &str) {
        let _ = self.actor.send_message(WorkerMsg::InjectPanic(child.to_owned()));
    }

    /// Closes at once: running jobs are cancelled and left active (see [`close`](Self::close)).
    pub async fn close_force(&self) -> Vec<String> {
        self.close(Duration::ZERO).await
    }
}
