//! The fetcher: takes jobs for free concurrency slots and hands them to the worker. Its loop
//! runs as a task bound to the actor; any Redis anomaly fails the actor, and the restart starts
//! over with a fresh blocking connection.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::AbortHandle;

use super::events::WorkerEvent;
use super::shared::{RunState, Shared};
use super::worker_actor::WorkerMsg;
use crate::error::Error;
use crate::manual::GetNextJobOptions;

/// BullMQ's cap on a rate-limited worker's sleep, so delayed jobs still get promoted.
const MAX_RATE_LIMIT_SLEEP: Duration = Duration::from_secs(30);

pub(crate) enum FetcherMsg {
    Failed(String),
}

pub(crate) struct Fetcher;

pub(crate) struct FetcherArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) worker: ActorRef<WorkerMsg>,
}

impl Actor for Fetcher {
    type Msg = FetcherMsg;
    type State = AbortHandle;
    type Arguments = FetcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<FetcherMsg>,
        args: FetcherArgs,
    ) -> Result<AbortHandle, ActorProcessingErr> {
        args.shared.manual.reset_blocking().await;
        let task = tokio::spawn(fetch_loop(args.shared, args.worker, myself));
        Ok(task.abort_handle())
    }

    async fn post_stop(&self, _: ActorRef<FetcherMsg>, task: &mut AbortHandle) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<FetcherMsg>,
        msg: FetcherMsg,
        _: &mut AbortHandle,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            FetcherMsg::Failed(e) => Err(e.into()),
        }
    }
}

async fn fetch_loop(shared: Arc<Shared>, worker: ActorRef<WorkerMsg>, me: ActorRef<FetcherMsg>) {
    let mut run = shared.run.subscribe();
    let prefix = uuid::Uuid::new_v4().to_string();
    let drain_delay = shared.manual.options().drain_delay;
    let mut n: u64 = 0;
    loop {
        while *run.borrow_and_update() != RunState::Running {
            if run.changed().await.is_err() {
                return;
            }
        }
        let permit = tokio::select! {
            p = shared.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = run.changed() => continue,
        };
        n += 1;
        let token = format!("{prefix}:{n}");
        match shared.manual.get_next_job(&token, GetNextJobOptions { block: true, timeout: drain_delay }).await {
            Ok(Some(job)) => {
                if worker.send_message(WorkerMsg::JobFetched(Box::new(job), permit)).is_err() {
                    return;
                }
            }
            Ok(None) => {
                drop(permit);
                let ttl = shared.manual.rate_limit_ttl();
                if ttl > 0 {
                    tokio::time::sleep(Duration::from_millis(ttl).min(MAX_RATE_LIMIT_SLEEP)).await;
                }
            }
            // Already failed at pickup; the worker goes on.
            Err(e @ Error::CorruptJob { .. }) => shared.events.emit(WorkerEvent::Error { message: e.to_string() }),
            Err(e) => {
                let _ = me.send_message(FetcherMsg::Failed(e.to_string()));
                return;
            }
        }
    }
}
