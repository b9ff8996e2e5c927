//! [`Supervisor`]: the handle users build trees with, from `main` or under another supervisor.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorRef, ActorStatus, SpawnErr};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::actor::{Shared, SupervisorActor, SupervisorArgs, SupervisorMsg, Temporary};
use super::events::{channel_observer, Observer, SupervisorEvent};
use super::intensity::RestartIntensity;
use super::spec::{ChildSpec, Restart, RestartBackoff, Strategy};
use crate::error::{Error, Result};

/// How a supervisor restarts its children: the restart intensity (a meltdown past it) and the
/// backoff between restarts.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default)]
pub struct SupervisorOptions {
    /// At most this many restarts within the window; one more fails the supervisor, escalating
    /// to its parent. Default 5 in 10 s.
    pub intensity: RestartIntensity,
    /// The delay before each restart. Default 10 ms doubling to at most 2 s.
    pub backoff: RestartBackoff,
}

impl SupervisorOptions {
    /// Builder: the restart intensity.
    pub fn intensity(mut self, intensity: RestartIntensity) -> Self {
        self.intensity = intensity;
        self
    }
    /// Builder: the restart backoff.
    pub fn backoff(mut self, backoff: RestartBackoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// An OTP-style supervisor: starts its children in order; restarts them by [`Strategy`] and
/// each child's [`Restart`] type within the restart intensity; past it, fails (a meltdown),
/// which its own supervisor sees as a child failure; stops its children when it stops
/// (temporary children first, then the others in reverse start order).
///
/// A [`Worker`](crate::Worker) is such a supervisor over its fetcher, lock renewer, stalled
/// checker, acker and job actors, and [`Worker::child_spec`](crate::Worker::child_spec) and
/// [`QueueEvents::child_spec`](crate::QueueEvents::child_spec) make them children of yours:
///
/// ```no_run
/// use bullmq::supervisor::{Strategy, Supervisor, SupervisorOptions};
/// use bullmq::{processor, JobOutcome, QueueEvents, QueueEventsOptions, Worker, WorkerOptions};
///
/// # async fn demo() -> bullmq::Result<()> {
/// let work = processor(|_job, _ctx| async { Ok(JobOutcome::Completed(serde_json::Value::Null)) });
/// let emails = Worker::new("emails", work.clone(), WorkerOptions::default()).await?;
/// let reports = Worker::new("reports", work, WorkerOptions::default()).await?;
/// let events = QueueEvents::new("emails", QueueEventsOptions::default().autorun(false)).await?;
/// let children = vec![emails.child_spec(), reports.child_spec(), events.child_spec()];
/// let (app, mut lifecycle) =
///     Supervisor::spawn("app", Strategy::OneForOne, children, SupervisorOptions::default()).await?;
/// while let Some(event) = lifecycle.recv().await {
///     println!("{event}");
/// }
/// app.stop(None).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    actor: ActorRef<SupervisorMsg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("name", &self.shared.name).field("actor", &self.actor.get_id()).finish()
    }
}

impl Supervisor {
    /// Spawns a supervisor at the root of its tree (from `main`). Returns it and a lossless
    /// subscription to its events from the first child start on.
    pub async fn spawn(
        name: impl Into<String>,
        strategy: Strategy,
        children: Vec<ChildSpec>,
        opts: SupervisorOptions,
    ) -> Result<(Supervisor, UnboundedReceiver<SupervisorEvent>)> {
        let (tx, rx) = unbounded_channel();
        let sup = Self::start(name.into(), strategy, children, opts, None, vec![channel_observer(tx)]).await?;
        Ok((sup, rx))
    }

    /// Spawns a supervisor linked under `parent` (an actor of yours, or another supervisor's
    /// cell): its meltdown reaches `parent` as a supervision event.
    pub async fn spawn_linked(
        name: impl Into<String>,
        strategy: Strategy,
        children: Vec<ChildSpec>,
        opts: SupervisorOptions,
        parent: ActorCell,
    ) -> Result<(Supervisor, UnboundedReceiver<SupervisorEvent>)> {
        let (tx, rx) = unbounded_channel();
        let sup = Self::start(name.into(), strategy, children, opts, Some(parent), vec![channel_observer(tx)]).await?;
        Ok((sup, rx))
    }

    /// A supervisor as the (permanent) child of another: restarted, with fresh children from
    /// the same specs, when it melts down. Its stop may take as long as its children's together.
    pub fn child_spec(
        name: impl Into<String>,
        strategy: Strategy,
        children: Vec<ChildSpec>,
        opts: SupervisorOptions,
    ) -> ChildSpec {
        let name = name.into();
        let grace = children.iter().map(|c| c.shutdown).sum::<Duration>() + Duration::from_secs(1);
        ChildSpec::new(name.clone(), Restart::Permanent, move |parent: ActorCell| {
            let (name, children) = (name.clone(), children.clone());
            async move {
                let sup = Supervisor::start(name, strategy, children, opts, Some(parent), Vec::new())
                    .await
                    .map_err(|e| SpawnErr::StartupFailed(e.to_string().into()))?;
                Ok(sup.cell())
            }
        })
        .shutdown(grace)
    }

    /// Spawns the supervisor actor; `observers` see every event from the first child start.
    pub(crate) async fn start(
        name: String,
        strategy: Strategy,
        children: Vec<ChildSpec>,
        opts: SupervisorOptions,
        parent: Option<ActorCell>,
        observers: Vec<Observer>,
    ) -> Result<Supervisor> {
        let shared = Arc::new(Shared::new(name.clone(), observers));
        let args = SupervisorArgs {
            strategy,
            intensity: opts.intensity,
            backoff: opts.backoff,
            children,
            shared: shared.clone(),
        };
        let spawned = match parent {
            Some(p) => Actor::spawn_linked(None, SupervisorActor, args, p).await,
            None => Actor::spawn(None, SupervisorActor, args).await,
        };
        let (actor, _) =
            spawned.map_err(|e| Error::Spawn { what: format!("supervisor {name}"), message: e.to_string() })?;
        Ok(Supervisor { actor, shared })
    }

    /// The supervisor's name (events name it).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The supervisor actor's cell: link actors under it, or monitor it.
    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// True until it stopped or failed.
    pub fn is_running(&self) -> bool {
        matches!(self.actor.get_status(), ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading)
    }

    /// Another lossless subscription to its events, from now on.
    pub fn subscribe(&self) -> UnboundedReceiver<SupervisorEvent> {
        let (tx, rx) = unbounded_channel();
        self.shared.observe(channel_observer(tx));
        rx
    }

    /// Starts and supervises another child (through the supervisor's mailbox).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell> {
        let id = spec.id.clone();
        let reply = ractor::call!(self.actor, SupervisorMsg::StartChild, spec)
            .map_err(|e| Error::Spawn { what: format!("child {id}"), message: e.to_string() })?;
        reply.map_err(|message| Error::Spawn { what: format!("child {id}"), message })
    }

    /// Stops child `id` for good (not restarted). False when there is no such child.
    pub async fn terminate_child(&self, id: &str) -> Result<bool> {
        ractor::call!(self.actor, SupervisorMsg::TerminateChild, id.to_owned())
            .map_err(|e| Error::Spawn { what: format!("terminate {id}"), message: e.to_string() })
    }

    /// The running children, `(id, cell)`: the others in start order, then the temporary ones.
    pub async fn which_children(&self) -> Result<Vec<(String, ActorCell)>> {
        ractor::call!(self.actor, SupervisorMsg::WhichChildren)
            .map_err(|e| Error::Spawn { what: "which_children".into(), message: e.to_string() })
    }

    /// Stops the supervisor and its children (see the type's docs for the order), waiting at
    /// most `timeout` (`None`: as long as the children's graceful stops take).
    pub async fn stop(&self, timeout: Option<Duration>) {
        if self.actor.stop_and_wait(Some("stopped".into()), timeout).await.is_err() {
            self.actor.kill();
        }
    }

    /// Waits until the supervisor has stopped or failed.
    pub async fn wait(&self) {
        let _ = self.actor.wait(None).await;
    }

    /// Starts a temporary child on the caller's task, without a message through the mailbox:
    /// `start` spawns it linked under the supervisor's cell. It is never restarted; it stops
    /// (within `shutdown`) before the others when the supervisor stops; only its failure is
    /// reported (`ChildFailed`), not its start or normal stop. For children started often and
    /// from many tasks (job actors, thousands a second), where one mailbox would serialise
    /// every start and an event per start and stop would cost more than the child.
    pub(crate) async fn start_temporary<F, Fut>(&self, id: String, shutdown: Duration, start: F) -> Result<ActorCell>
    where
        F: FnOnce(ActorCell) -> Fut,
        Fut: Future<Output = std::result::Result<ActorCell, SpawnErr>>,
    {
        let cell = start(self.cell())
            .await
            .map_err(|e| Error::Spawn { what: format!("child {id}"), message: e.to_string() })?;
        let key = cell.get_id();
        let t = Temporary { id, shutdown, cell: cell.clone(), quiet: true };
        self.shared.temporary.lock().unwrap_or_else(|p| p.into_inner()).insert(key, t);
        // The child may have ended before it was recorded: its exit then found nothing to
        // forget, so forget it here. (Recorded first, checked after: whichever of the two
        // comes second removes it.)
        if matches!(cell.get_status(), ActorStatus::Stopping | ActorStatus::Stopped) {
            self.shared.temporary.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        }
        Ok(cell)
    }
}
