//! The worker: a one_for_one supervisor of its fetcher, lock renewer and stalled checker
//! (permanent, restarted within the restart intensity, a meltdown escalates to the worker's own
//! supervisor), and of one temporary job actor per running job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::events::WorkerEvent;
use super::fetcher::{Fetcher, FetcherArgs, FetcherMsg};
use super::finisher::{self, FinishRequest};
use super::job_actor::{CancelReason, JobMsg};
use super::periodic::{Periodic, PeriodicArgs, PeriodicMsg};
use super::shared::{RunState, Shared};
use super::task_guard::TaskGuard;
use super::{lock_renewer, stalled_checker};
use crate::supervisor::RestartLog;
use crate::supervisor::{RestartBackoff, RestartIntensity};
use tokio::sync::mpsc::UnboundedReceiver;

/// Messages of the worker actor.
pub enum WorkerMsg {
    #[doc(hidden)]
    Restart(Role),
    /// Fault injection (tests): make the named child panic in its handler.
    #[doc(hidden)]
    InjectPanic(String),
}

/// The permanent children, in start order (the lock renewer starts first and stops last: it
/// must outlive the jobs).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    LockRenewer,
    StalledChecker,
    Fetcher,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::LockRenewer => "lock-renewer",
            Role::StalledChecker => "stalled-checker",
            Role::Fetcher => "fetcher",
        }
    }
}

pub(crate) struct WorkerArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) intensity: RestartIntensity,
    pub(crate) finish_rx: UnboundedReceiver<FinishRequest>,
}

pub(crate) struct WorkerState {
    shared: Arc<Shared>,
    intensity: RestartIntensity,
    backoff: RestartBackoff,
    log: RestartLog,
    children: Vec<(Role, ActorCell)>,
    started: HashMap<Role, Instant>,
    /// The finisher task, bound to this actor's life.
    _finisher: TaskGuard,
}

pub(crate) struct WorkerActor;

async fn start_child(
    role: Role,
    shared: &Arc<Shared>,
    myself: &ActorRef<WorkerMsg>,
) -> Result<ActorCell, ActorProcessingErr> {
    let o = shared.manual.options();
    let cell = match role {
        Role::Fetcher => {
            let args = FetcherArgs { shared: shared.clone(), worker: myself.get_cell() };
            Actor::spawn_linked(None, Fetcher, args, myself.get_cell()).await?.0.get_cell()
        }
        Role::LockRenewer => {
            let args = PeriodicArgs {
                name: role.name(),
                period: Duration::from_millis(o.lock_renew_time()),
                step: lock_renewer::step(shared.clone()),
                shared: shared.clone(),
            };
            Actor::spawn_linked(None, Periodic, args, myself.get_cell()).await?.0.get_cell()
        }
        Role::StalledChecker => {
            let args = PeriodicArgs {
                name: role.name(),
                period: stalled_checker::period(o.stalled_interval),
                step: stalled_checker::step(shared.clone()),
                shared: shared.clone(),
            };
            Actor::spawn_linked(None, Periodic, args, myself.get_cell()).await?.0.get_cell()
        }
    };
    shared.events.emit(WorkerEvent::ChildStarted { child: role.name().into() });
    Ok(cell)
}

impl Actor for WorkerActor {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkerMsg>,
        args: WorkerArgs,
    ) -> Result<WorkerState, ActorProcessingErr> {
        let mut roles = vec![Role::LockRenewer];
        if !args.shared.manual.options().skip_stalled_check {
            roles.push(Role::StalledChecker);
        }
        roles.push(Role::Fetcher);
        let mut children = Vec::new();
        let mut started = HashMap::new();
        for role in roles {
            children.push((role, start_child(role, &args.shared, &myself).await?));
            started.insert(role, Instant::now());
        }
        let finisher = tokio::spawn(finisher::run(args.shared.clone(), myself.get_cell(), args.finish_rx));
        Ok(WorkerState {
            _finisher: TaskGuard::new(finisher.abort_handle()),
            shared: args.shared,
            intensity: args.intensity,
            backoff: RestartBackoff::default(),
            log: RestartLog::default(),
            children,
            started,
        })
    }

    /// Ordered shutdown: the jobs first (cancelled as `Shutdown`, left to the stalled check),
    /// then the other children in reverse start order, the lock renewer last.
    async fn post_stop(&self, _: ActorRef<WorkerMsg>, state: &mut WorkerState) -> Result<(), ActorProcessingErr> {
        for (_, job) in state.shared.running() {
            let _ = job.actor.send_message(JobMsg::Cancel { reason: CancelReason::Shutdown });
            if job.actor.stop_and_wait(None, Some(state.shared.grace + Duration::from_secs(1))).await.is_err() {
                job.actor.kill();
            }
        }
        for (_, cell) in state.children.drain(..).rev() {
            if cell.stop_and_wait(None, Some(Duration::from_secs(5))).await.is_err() {
                cell.kill();
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::InjectPanic(child) => {
                if let Some(job) = child.strip_prefix("job:").and_then(|id| state.shared.job(id)) {
                    let _ = job.actor.send_message(JobMsg::InjectPanic);
                }
                for (role, cell) in &state.children {
                    if role.name() == child {
                        match role {
                            Role::Fetcher => drop(cell.send_message(FetcherMsg::Panic)),
                            _ => drop(cell.send_message(PeriodicMsg::Panic)),
                        }
                    }
                }
            }
            WorkerMsg::Restart(role) => {
                if *state.shared.run.borrow() == RunState::Closing {
                    return Ok(());
                }
                let cell = start_child(role, &state.shared, &myself).await?;
                state.children.push((role, cell));
                state.children.sort_by_key(|(r, _)| *r as u8);
                state.started.insert(role, Instant::now());
                state
                    .shared
                    .events
                    .emit(WorkerEvent::ChildRestarted { child: role.name().into(), restarts: state.log.count() });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkerMsg>,
        event: SupervisionEvent,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, e) => (cell, Some(e.to_string())),
            _ => return Ok(()),
        };
        // A job actor: temporary, never restarted; Redis recovers its job if it died mid-way.
        if let Some(id) = state.shared.unregister(cell.get_id()) {
            if let Some(reason) = failure {
                state.shared.events.emit(WorkerEvent::Error { message: format!("job actor {id} failed: {reason}") });
            }
            return Ok(());
        }
        let Some(pos) = state.children.iter().position(|(_, c)| c.get_id() == cell.get_id()) else { return Ok(()) };
        let (role, _) = state.children.remove(pos);
        if *state.shared.run.borrow() == RunState::Closing {
            return Ok(());
        }
        let reason = failure.unwrap_or_else(|| "stopped".into());
        state.shared.events.emit(WorkerEvent::ChildFailed { child: role.name().into(), reason: reason.clone() });
        if !state.log.allow(state.intensity, Instant::now()) {
            state.shared.events.emit(WorkerEvent::Meltdown { max_restarts: state.intensity.max_restarts });
            // The failure kills every child; running jobs stay active for the stalled check.
            state
                .shared
                .events
                .emit(WorkerEvent::Closed { orphans: state.shared.running().into_iter().map(|(id, _)| id).collect() });
            return Err(format!(
                "worker meltdown: {} failed ({reason}) after {} restarts",
                role.name(),
                state.intensity.max_restarts
            )
            .into());
        }
        let ran = state.started.get(&role).map(|t| t.elapsed()).unwrap_or_default();
        let consecutive = if ran > state.intensity.within { 0 } else { state.log.count() as u32 };
        myself.send_after(state.backoff.delay(consecutive), move || WorkerMsg::Restart(role));
        Ok(())
    }
}
