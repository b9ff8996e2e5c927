//! [`Worker`]: the supervised worker tree and the handle that drives it.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorCell, ActorRef, SpawnErr};
use tokio::sync::mpsc::UnboundedReceiver;

use super::callbacks::{self, WorkerCallbacks};
use super::core::Core;
use super::events::WorkerEvent;
use super::flow::{FetchAhead, Flow, RunState};
use super::job_msg::{CancelReason, JobMsg};
use super::periodic::PeriodicArgs;
use super::processor::Processor;
use super::{acker, fetcher, lock_renewer, periodic, stalled_checker, task_actor};
use crate::engine::{Engine, WorkerOptions};
use crate::error::Result;
use crate::fair::FairOptions;
use crate::supervisor::{ChildSpec, Observer, Restart, Strategy, Supervisor, SupervisorEvent, SupervisorOptions};

/// How long `close` keeps unblocking an idle take in flight before it goes on (the take runs as
/// soon as its wait is unblocked; this only bounds a Redis that does not answer).
const IDLE_TAKE_END: Duration = Duration::from_secs(2);

/// How long `close` waits for the acknowledgement calls in flight once the jobs ended (each is
/// one script call; this only bounds a Redis that does not answer).
const ACK_CALLS_END: Duration = Duration::from_secs(5);

/// The children of the tree, in start order: the lock renewer first (it stops last, outliving
/// the jobs whose locks it renews), the acker before the fetcher (it outlives the jobs whose
/// outcomes it sends).
const LOCK_RENEWER: &str = "lock-renewer";
const STALLED_CHECKER: &str = "stalled-checker";
const ACKER: &str = "acker";
const FETCHER: &str = "fetcher";

/// A worker: a supervisor (one_for_one, restart intensity from its options) over a lock
/// renewer, a stalled checker, an acker and a fetcher (permanent), and one job actor per running
/// job (temporary), spawned from `main` ([`spawn`](Self::spawn)) or as a child of a supervisor
/// of yours ([`child_spec`](Self::child_spec)). Cheap to clone; all clones drive the same
/// worker, across restarts of its tree.
///
/// ```text
/// Worker (one_for_one; a meltdown escalates to your supervisor)
///  ├─ lock-renewer     permanent  extendLocks for all running jobs every lock_renew_time
///  ├─ stalled-checker  permanent  the stalled check every stalled_interval
///  ├─ acker            permanent  every job's outcome to Redis: completions in batches
///  ├─ fetcher          permanent  takes jobs for free slots (own blocking connection)
///  └─ job:<id> × N     temporary  runs the processor for one job; takes JobMsg::Cancel
/// ```
#[derive(Clone)]
pub struct Worker {
    core: Arc<Core>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("queue", &self.core.engine.queue().name()).finish()
    }
}

impl Worker {
    /// Connects (options validated, scripts loaded) without starting the tree: start it with
    /// [`run`](Self::run), or let a supervisor of yours start it ([`child_spec`](Self::child_spec)).
    pub async fn new(queue: &str, processor: Processor, opts: WorkerOptions) -> Result<Worker> {
        Ok(Worker::over(Engine::connect(queue, opts, false).await?, processor))
    }

    /// A worker of the fair group `group` (see [`FairQueue`](crate::FairQueue)), not started:
    /// its takes go round-robin over the group's tenants with work, `fair.quantum` jobs a visit
    /// (times the tenant's weight), within `fair.tenant_concurrency`; everything else is a
    /// worker's as usual. Its events name jobs by id, which the group's adds keep unique across
    /// tenants.
    pub async fn fair(group: &str, processor: Processor, opts: WorkerOptions, fair: FairOptions) -> Result<Worker> {
        Ok(Worker::over(Engine::connect_fair(group, opts, false, &fair).await?, processor))
    }

    /// A worker on a connected engine, with the flow control its options ask for.
    fn over(engine: Arc<Engine>, processor: Processor) -> Worker {
        let o = engine.options();
        let flow = Flow::new(o.concurrency, FetchAhead::new(o.prefetch, o.concurrency), o.autorun);
        Worker { core: Core::new(engine, processor, flow) }
    }

    /// Starts the worker's tree (under `supervisor`, or at the root of its own), with a
    /// subscription taken first, so that it sees every lifecycle event.
    async fn started(self, supervisor: Option<ActorCell>) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        let events = self.subscribe();
        self.start(supervisor).await?;
        Ok((self, events))
    }

    /// Spawns a worker of the fair group `group` at the root of its own tree (see
    /// [`fair`](Self::fair)).
    pub async fn spawn_fair(
        group: &str,
        processor: Processor,
        opts: WorkerOptions,
        fair: FairOptions,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        Worker::fair(group, processor, opts, fair).await?.started(None).await
    }

    /// Spawns a worker at the root of its own tree. Returns it and a subscription that sees
    /// every lifecycle event from the first child start on.
    pub async fn spawn(
        queue: &str,
        processor: Processor,
        opts: WorkerOptions,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        Worker::new(queue, processor, opts).await?.started(None).await
    }

    /// Spawns the worker's tree linked under `supervisor` (an actor of yours): a meltdown of the
    /// worker reaches it as a supervision event.
    pub async fn spawn_linked(
        queue: &str,
        processor: Processor,
        opts: WorkerOptions,
        supervisor: ActorCell,
    ) -> Result<(Worker, UnboundedReceiver<WorkerEvent>)> {
        Worker::new(queue, processor, opts).await?.started(Some(supervisor)).await
    }

    /// Starts the tree of a worker made with [`new`](Self::new), at the root of its own tree.
    pub async fn run(&self) -> Result<()> {
        self.start(None).await.map(|_| ())
    }

    /// The worker as a child of a [`Supervisor`] of yours: transient, so a meltdown is restarted
    /// (with a fresh tree; running jobs go back through the stalled check) while a
    /// [`close`](Self::close) is not.
    pub fn child_spec(&self) -> ChildSpec {
        let worker = self.clone();
        let grace = self.core.grace + Duration::from_secs(10);
        ChildSpec::new(self.tree_name(), Restart::Transient, move |parent: ActorCell| {
            let worker = worker.clone();
            async move {
                if worker.core.flow.run_state() == RunState::Closing {
                    return Err(SpawnErr::StartupFailed("the worker is closed".into()));
                }
                let tree =
                    worker.start(Some(parent)).await.map_err(|e| SpawnErr::StartupFailed(e.to_string().into()))?;
                Ok(tree.cell())
            }
        })
        .shutdown(grace)
    }

    fn tree_name(&self) -> String {
        format!("worker:{}", self.core.engine.queue().qualified_name())
    }

    async fn start(&self, parent: Option<ActorCell>) -> Result<Supervisor> {
        let opts = self.core.engine.options();
        let mut children = vec![self.periodic(LOCK_RENEWER)];
        if !opts.skip_stalled_check {
            children.push(self.periodic(STALLED_CHECKER));
        }
        let core = self.core.clone();
        children.push(ChildSpec::new(ACKER, Restart::Permanent, move |sup: ActorCell| {
            let core = core.clone();
            task_actor::spawn(Box::new(move |f| Box::pin(acker::run(core, f))), sup)
        }));
        let core = self.core.clone();
        children.push(ChildSpec::new(FETCHER, Restart::Permanent, move |sup: ActorCell| {
            let core = core.clone();
            task_actor::spawn(Box::new(move |f| Box::pin(fetcher::run(core, f))), sup)
        }));
        let sup_opts = SupervisorOptions::default().intensity(opts.restart_intensity);
        let observer = translate(self.core.clone());
        // Children of the new tree start jobs under it, not under a tree that melted down.
        self.core.tree.send_replace(None);
        let tree = Supervisor::start(self.tree_name(), Strategy::OneForOne, children, sup_opts, parent, vec![observer])
            .await?;
        self.core.tree.send_replace(Some(tree.clone()));
        Ok(tree)
    }

    /// The spec of the lock renewer or the stalled checker.
    fn periodic(&self, name: &'static str) -> ChildSpec {
        let core = self.core.clone();
        ChildSpec::new(name, Restart::Permanent, move |sup: ActorCell| {
            let core = core.clone();
            async move {
                let o = core.engine.options();
                let (period, step) = if name == LOCK_RENEWER {
                    (o.effective_lock_renew_time(), lock_renewer::step(core.clone()))
                } else {
                    (core.engine.stalled_check_pause(), stalled_checker::step(core.clone()))
                };
                let args = PeriodicArgs { name, period, step, core };
                task_actor::spawn(Box::new(move |f| Box::pin(periodic::run(args, f))), sup).await
            }
        })
    }

    /// Another subscription to the lifecycle events (from now on).
    pub fn subscribe(&self) -> UnboundedReceiver<WorkerEvent> {
        self.core.events.subscribe()
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

    /// The running tree's supervisor (none before the tree started).
    pub fn supervisor(&self) -> Option<Supervisor> {
        self.core.tree.borrow().clone()
    }

    /// The actor running job `id`, to send it [`JobMsg::Cancel`] yourself. (A fair group's
    /// tenants may each run a job of one id, when their ids were not made by the group: then
    /// one of them.)
    pub fn job_actor(&self, id: &str) -> Option<ActorRef<JobMsg>> {
        self.core.registry.job(id).map(|j| j.actor)
    }

    /// Ids of the jobs this worker holds active: running, or finished with the outcome on its
    /// way to Redis (not those whose outcome Redis already has).
    pub fn active_jobs(&self) -> Vec<String> {
        self.core.registry.ids()
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
        for j in self.core.registry.running() {
            let _ = j.actor.send_message(JobMsg::Cancel { reason: CancelReason::User(reason.clone()) });
        }
    }

    /// Stops taking new jobs; running jobs go on.
    pub fn pause(&self) {
        self.core.flow.set_run(RunState::Paused);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let core = self.core.clone();
            rt.spawn(async move {
                // An idle take waiting on the marker would otherwise take (and hand back) the
                // next job added within the drain delay.
                core.engine.unblock_idle_take().await;
                core.hand_back_held().await
            });
        }
    }

    /// Takes jobs again (also starts a worker created with `autorun: false`).
    pub fn resume(&self) {
        self.core.flow.set_run(RunState::Running);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.core.flow.run_state() == RunState::Paused
    }

    /// Graceful shutdown: no job starts after this is called; running jobs get `timeout` to
    /// finish; the rest are cancelled (`Shutdown`) and left active for the stalled check of
    /// another worker. Then the children stop, the lock renewer last. Returns those orphans.
    pub async fn close(&self, timeout: Duration) -> Vec<String> {
        self.core.flow.set_run(RunState::Closing);
        // An idle take in flight is ended and waited for, so whatever it took is back in wait
        // before close returns (see engine::idle_take).
        self.core.engine.end_idle_takes(IDLE_TAKE_END).await;
        let mut orphans = self.core.hand_back_held().await;
        self.core.registry.wait_empty(timeout).await;
        // The acknowledgement calls still in flight: the jobs they take come back to wait.
        self.core.ack_calls.close();
        let _ = tokio::time::timeout(ACK_CALLS_END, self.core.ack_calls.wait()).await;
        orphans.extend(self.active_jobs());
        if let Some(tree) = self.supervisor() {
            tree.stop(Some(self.core.grace + Duration::from_secs(10))).await;
        }
        self.core.engine.close().await;
        self.core.events.emit(WorkerEvent::Closed { orphans: orphans.clone() });
        orphans
    }

    /// Closes at once: running jobs are cancelled and left active (see [`close`](Self::close)).
    pub async fn close_force(&self) -> Vec<String> {
        self.close(Duration::ZERO).await
    }

    /// Fault injection (feature `testing`): makes a child panic inside its actor, as a bug
    /// would. `child` is `fetcher`, `acker`, `lock-renewer`, `stalled-checker` or `job:<id>`.
    #[cfg(feature = "testing")]
    pub async fn inject_panic(&self, child: &str) {
        if let Some(id) = child.strip_prefix("job:") {
            if let Some(job) = self.core.registry.job(id) {
                let _ = job.actor.send_message(super::job_msg::panic_message());
            }
            return;
        }
        let Some(tree) = self.supervisor() else { return };
        let Ok(children) = tree.which_children().await else { return };
        let Some((_, cell)) = children.into_iter().find(|(id, _)| id == child) else { return };
        let _ = ActorRef::<task_actor::TaskMsg>::from(cell).send_message(task_actor::TaskMsg::Panic);
    }
}

/// The tree's supervisor events as the worker's lifecycle events.
fn translate(core: Arc<Core>) -> Observer {
    Box::new(move |event| {
        let worker_event = match event {
            SupervisorEvent::ChildStarted { child, .. } if !child.starts_with("job:") => {
                Some(WorkerEvent::ChildStarted { child: child.clone() })
            }
            SupervisorEvent::ChildRestarted { child, restarts, .. } => {
                Some(WorkerEvent::ChildRestarted { child: child.clone(), restarts: *restarts })
            }
            SupervisorEvent::ChildFailed { child, reason, .. } => Some(match child.strip_prefix("job:") {
                Some(id) => WorkerEvent::Error { message: format!("job actor {id} failed: {reason}") },
                None => WorkerEvent::ChildFailed { child: child.clone(), reason: reason.clone() },
            }),
            SupervisorEvent::Meltdown { restarts, .. } => {
                core.events.emit(WorkerEvent::Meltdown { max_restarts: *restarts });
                // The failure kills every child; running jobs stay active for the stalled check.
                // Jobs held ahead go back to wait (nothing will run them here); those Redis
                // refuses stay active too. The running ones are read now, before their actors
                // are gone.
                let running = core.registry.ids();
                let core = core.clone();
                tokio::spawn(async move {
                    let mut orphans = core.hand_back_held().await;
                    orphans.extend(running);
                    core.events.emit(WorkerEvent::Closed { orphans });
                });
                None
            }
            _ => None,
        };
        if let Some(e) = worker_event {
            core.events.emit(e);
        }
        true
    })
}
