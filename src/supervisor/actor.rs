//! The supervisor actor: starts its children in order, restarts them by strategy within the
//! restart intensity, escalates a meltdown to its own parent by failing, and stops its children
//! in reverse start order when it stops (so a child started first, such as a lock renewer that
//! must outlive the jobs, stops last).

use std::collections::HashSet;
use std::time::Instant;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::mpsc::UnboundedSender;

use super::events::SupervisorEvent;
use super::intensity::{RestartIntensity, RestartLog};
use super::spec::{ChildSpec, Restart, RestartBackoff, Strategy};

/// Messages a supervisor understands.
pub(crate) enum SupervisorMsg {
    /// Start and supervise another child (for example a job actor).
    StartChild(ChildSpec, Option<RpcReplyPort<Result<ActorCell, String>>>),
    /// Stop a child for good (it is not restarted). Replies whether it existed.
    TerminateChild(String, RpcReplyPort<bool>),
    /// The running children, in start order.
    WhichChildren(RpcReplyPort<Vec<(String, ActorCell)>>),
    /// Deliver lifecycle events to this channel (lossless: unbounded).
    Subscribe(UnboundedSender<SupervisorEvent>),
    /// Internal: start a child again after its backoff delay.
    Restart(String),
}

/// How to build a supervisor.
pub(crate) struct SupervisorArgs {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: RestartBackoff,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) subscribers: Vec<UnboundedSender<SupervisorEvent>>,
}

impl SupervisorArgs {
    pub(crate) fn new(name: impl Into<String>, strategy: Strategy, children: Vec<ChildSpec>) -> Self {
        SupervisorArgs {
            name: name.into(),
            strategy,
            intensity: RestartIntensity::default(),
            backoff: RestartBackoff::default(),
            children,
            subscribers: Vec::new(),
        }
    }
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    started_at: Instant,
    consecutive: u32,
}

pub(crate) struct SupervisorState {
    name: String,
    strategy: Strategy,
    intensity: RestartIntensity,
    backoff: RestartBackoff,
    children: Vec<Child>,
    log: RestartLog,
    subscribers: Vec<UnboundedSender<SupervisorEvent>>,
    /// Children this supervisor is stopping on purpose: their exit is not a failure.
    stopping: HashSet<ActorId>,
}

impl SupervisorState {
    fn emit(&mut self, event: SupervisorEvent) {
        self.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }

    fn index_of_cell(&self, id: ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.cell.as_ref().map(|x| x.get_id()) == Some(id))
    }

    async fn stop_child(&mut self, idx: usize) {
        if let Some(cell) = self.children[idx].cell.take() {
            self.stopping.insert(cell.get_id());
            let grace = self.children[idx].spec.shutdown;
            if cell.stop_and_wait(Some("supervisor".into()), Some(grace)).await.is_err() {
                cell.kill();
            }
            let child = self.children[idx].spec.id.clone();
            self.emit(SupervisorEvent::ChildStopped { supervisor: self.name.clone(), child });
        }
    }
}

/// A supervisor (see the module docs). Stateless handler; all state is in [`SupervisorState`].
pub(crate) struct Supervisor;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            name: args.name,
            strategy: args.strategy,
            intensity: args.intensity,
            backoff: args.backoff,
            children: Vec::new(),
            log: RestartLog::default(),
            subscribers: args.subscribers,
            stopping: HashSet::new(),
        };
        for spec in args.children {
            // OTP: a child that cannot start makes the supervisor fail to start; stop the
            // ones already running first so nothing is left orphaned.
            match (spec.start)(myself.get_cell()).await {
                Ok(cell) => {
                    let child = spec.id.clone();
                    state.children.push(Child { spec, cell: Some(cell), started_at: Instant::now(), consecutive: 0 });
                    state.emit(SupervisorEvent::ChildStarted { supervisor: state.name.clone(), child });
                }
                Err(e) => {
                    for i in (0..state.children.len()).rev() {
                        state.stop_child(i).await;
                    }
                    return Err(format!("child {} failed to start: {e}", spec.id).into());
                }
            }
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        for i in (0..state.children.len()).rev() {
            state.stop_child(i).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartChild(spec, reply) => {
                let res = (spec.start)(myself.get_cell()).await;
                let out = match res {
                    Ok(cell) => {
                        let child = spec.id.clone();
                        state.children.push(Child {
                            spec,
                            cell: Some(cell.clone()),
                            started_at: Instant::now(),
                            consecutive: 0,
                        });
                        state.emit(SupervisorEvent::ChildStarted { supervisor: state.name.clone(), child });
                        Ok(cell)
                    }
                    Err(e) => Err(format!("child {} failed to start: {e}", spec.id)),
                };
                if let Some(r) = reply {
                    let _ = r.send(out);
                }
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let found = state.children.iter().position(|c| c.spec.id == id);
                if let Some(i) = found {
                    state.stop_child(i).await;
                    state.children.remove(i);
                }
                let _ = reply.send(found.is_some());
            }
            SupervisorMsg::WhichChildren(reply) => {
                let list = state
                    .children
                    .iter()
                    .filter_map(|c| c.cell.clone().map(|cell| (c.spec.id.clone(), cell)))
                    .collect();
                let _ = reply.send(list);
            }
            SupervisorMsg::Subscribe(tx) => state.subscribers.push(tx),
            SupervisorMsg::Restart(id) => {
                let Some(i) = state.children.iter().position(|c| c.spec.id == id && c.cell.is_none()) else {
                    return Ok(());
                };
                match (state.children[i].spec.start)(myself.get_cell()).await {
                    Ok(cell) => {
                        let c = &mut state.children[i];
                        c.cell = Some(cell);
                        c.started_at = Instant::now();
                        c.consecutive += 1;
                        let event = SupervisorEvent::ChildRestarted {
                            supervisor: state.name.clone(),
                            child: id,
                            restarts: state.log.count(),
                        };
                        state.emit(event);
                    }
                    Err(e) => {
                        // A failed restart counts like a crash: retry later, within the intensity,
                        // and back off further, or a child whose dependency is down (Redis) would
                        // be retried at the initial delay until the intensity melts down.
                        state.children[i].consecutive += 1;
                        let reason = format!("restart failed: {e}");
                        state.emit(SupervisorEvent::ChildFailed {
                            supervisor: state.name.clone(),
                            child: id.clone(),
                            reason,
                        });
                        schedule_restart(&myself, state, i)?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            _ => return Ok(()),
        };
        if state.stopping.remove(&cell.get_id()) {
            return Ok(());
        }
        let Some(i) = state.index_of_cell(cell.get_id()) else {
            return Ok(());
        };
        let child = state.children[i].spec.id.clone();
        state.children[i].cell = None;
        match &failure {
            Some(reason) => state.emit(SupervisorEvent::ChildFailed {
                supervisor: state.name.clone(),
                child: child.clone(),
                reason: reason.clone(),
            }),
            None => state.emit(SupervisorEvent::ChildStopped { supervisor: state.name.clone(), child: child.clone() }),
        }
        let restart = match state.children[i].spec.restart {
            Restart::Permanent => true,
            Restart::Transient => failure.is_some(),
            Restart::Temporary => false,
        };
        if !restart {
            state.children.remove(i);
            return Ok(());
        }
        // A child that ran longer than the intensity window is not crash-looping: its restart
        // backoff starts over.
        if state.children[i].started_at.elapsed() > state.intensity.within {
            state.children[i].consecutive = 0;
        }
        let siblings: Vec<usize> = match state.strategy {
            Strategy::OneForOne => vec![],
            Strategy::OneForAll => (0..state.children.len()).filter(|j| *j != i).collect(),
            Strategy::RestForOne => (i + 1..state.children.len()).collect(),
        };
        for j in siblings.iter().rev() {
            state.stop_child(*j).await;
        }
        schedule_restart(&myself, state, i)?;
        for j in siblings {
            if j > i || state.strategy == Strategy::OneForAll {
                let id = state.children[j].spec.id.clone();
                // Siblings restart right after the failed child, in start order.
                myself.send_message(SupervisorMsg::Restart(id))?;
            }
        }
        Ok(())
    }
}

/// Records a restart against the intensity; on meltdown fails the supervisor (escalation),
/// otherwise restarts the child after its backoff.
fn schedule_restart(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    i: usize,
) -> Result<(), ActorProcessingErr> {
    if !state.log.allow(state.intensity, Instant::now()) {
        let (restarts, within) = (state.intensity.max_restarts, state.intensity.within);
        state.emit(SupervisorEvent::Meltdown { supervisor: state.name.clone(), restarts, within });
        return Err(
            format!("supervisor {} meltdown: more than {restarts} restarts within {within:?}", state.name).into()
        );
    }
    let id = state.children[i].spec.id.clone();
    let delay = state.backoff.delay(state.children[i].consecutive);
    myself.send_after(delay, move || SupervisorMsg::Restart(id));
    Ok(())
}
