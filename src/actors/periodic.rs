//! An actor that runs one maintenance step, at start and then `period` after each step ended
//! (the lock renewer and the stalled checker). A connection error makes it wait for Redis and go on (the shared connection
//! reconnects by itself, so there is nothing a restart would fix); any other failing step fails
//! the actor, so its supervisor restarts it. The step keeps no state of its own, so a restart
//! loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::core::Core;
use super::reconnect::wait_for_redis;
use super::task_guard::TaskGuard;

pub(crate) type Step = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = crate::Result<()>> + Send>> + Send + Sync>;

pub(crate) enum PeriodicMsg {
    Failed(String),
    /// Fault injection (feature `testing`): panic inside the handler, as a bug in the step would.
    #[cfg(feature = "testing")]
    Panic,
}

pub(crate) struct Periodic;

pub(crate) struct PeriodicArgs {
    pub(crate) name: &'static str,
    pub(crate) period: Duration,
    pub(crate) step: Step,
    pub(crate) core: Arc<Core>,
}

impl Actor for Periodic {
    type Msg = PeriodicMsg;
    type State = TaskGuard;
    type Arguments = PeriodicArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PeriodicMsg>,
        args: PeriodicArgs,
    ) -> Result<TaskGuard, ActorProcessingErr> {
        let task = tokio::spawn(async move {
            // The period counts from the end of the previous step, not on a fixed beat: the
            // stalled check's key lives exactly one interval from when Redis ran the previous
            // check, and a check that arrives a moment early finds it and does nothing.
            let mut first = true;
            loop {
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(args.period).await;
                }
                match (args.step)().await {
                    Ok(()) => {}
                    Err(e) if e.is_connection_error() => wait_for_redis(&args.core, args.name, &e).await,
                    Err(e) => {
                        let _ = myself.send_message(PeriodicMsg::Failed(e.to_string()));
                        return;
                    }
                }
            }
        });
        Ok(TaskGuard::new(task.abort_handle()))
    }

    async fn post_stop(&self, _: ActorRef<PeriodicMsg>, task: &mut TaskGuard) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<PeriodicMsg>,
        msg: PeriodicMsg,
        _: &mut TaskGuard,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeriodicMsg::Failed(e) => Err(e.into()),
            #[cfg(feature = "testing")]
            PeriodicMsg::Panic => panic!("injected panic"),
        }
    }
}
