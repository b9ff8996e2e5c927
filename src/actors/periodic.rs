//! An actor that runs one maintenance step at a fixed period (the lock renewer and the stalled
//! checker). A failing step fails the actor, so its supervisor restarts it; the step keeps no
//! state of its own, so a restart loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::AbortHandle;

pub(crate) type Step = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

pub(crate) enum PeriodicMsg {
    Failed(String),
}

pub(crate) struct Periodic;

pub(crate) struct PeriodicArgs {
    pub(crate) period: Duration,
    pub(crate) step: Step,
}

impl Actor for Periodic {
    type Msg = PeriodicMsg;
    type State = AbortHandle;
    type Arguments = PeriodicArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PeriodicMsg>,
        args: PeriodicArgs,
    ) -> Result<AbortHandle, ActorProcessingErr> {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(args.period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = (args.step)().await {
                    let _ = myself.send_message(PeriodicMsg::Failed(e));
                    return;
                }
            }
        });
        Ok(task.abort_handle())
    }

    async fn post_stop(&self, _: ActorRef<PeriodicMsg>, task: &mut AbortHandle) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<PeriodicMsg>,
        msg: PeriodicMsg,
        _: &mut AbortHandle,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeriodicMsg::Failed(e) => Err(e.into()),
        }
    }
}
