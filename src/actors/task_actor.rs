//! An actor whose work is one long-running loop: the fetcher's, the acker's, the lock renewer's
//! and the stalled checker's. ractor runs one handler at a time, so the loop cannot live in a
//! handler; it runs as a task bound to the actor (aborted with it, also when the actor crashes,
//! see `task_guard`) and reports a failure by message, which fails the actor so that its
//! supervisor restarts it. A restart starts the loop afresh; what must survive lives in the
//! worker's core.

use std::future::Future;
use std::pin::Pin;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};

use crate::supervisor::TaskGuard;

/// Messages of a task actor (none of them from users).
pub(crate) enum TaskMsg {
    /// The loop failed: fail the actor.
    Failed(String),
    /// Fault injection (feature `testing`): panic inside the handler, as a bug would.
    #[cfg(feature = "testing")]
    Panic,
}

/// How a loop reports that it failed.
#[derive(Clone)]
pub(crate) struct Failure(ActorRef<TaskMsg>);

impl Failure {
    /// Fails the actor with `reason` (its supervisor decides what next).
    pub(crate) fn fail(&self, reason: impl Into<String>) {
        let _ = self.0.send_message(TaskMsg::Failed(reason.into()));
    }
}

/// The loop: given how to report a failure, the future to run for the actor's life.
pub(crate) type Work = Box<dyn FnOnce(Failure) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

pub(crate) struct TaskActor;

/// Spawns a task actor running `work`, linked under `supervisor`.
pub(crate) async fn spawn(work: Work, supervisor: ActorCell) -> Result<ActorCell, SpawnErr> {
    Ok(Actor::spawn_linked(None, TaskActor, work, supervisor).await?.0.get_cell())
}

impl Actor for TaskActor {
    type Msg = TaskMsg;
    type State = TaskGuard;
    type Arguments = Work;

    async fn pre_start(&self, myself: ActorRef<TaskMsg>, work: Work) -> Result<TaskGuard, ActorProcessingErr> {
        let task = tokio::spawn(work(Failure(myself)));
        Ok(TaskGuard::new(task.abort_handle()))
    }

    async fn post_stop(&self, _: ActorRef<TaskMsg>, task: &mut TaskGuard) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(&self, _: ActorRef<TaskMsg>, msg: TaskMsg, _: &mut TaskGuard) -> Result<(), ActorProcessingErr> {
        match msg {
            TaskMsg::Failed(e) => Err(e.into()),
            #[cfg(feature = "testing")]
            TaskMsg::Panic => panic!("injected panic"),
        }
    }
}
