//! The supervisor actor: starts its children in order, restarts them by strategy within the
//! restart intensity, escalates a meltdown to its own parent by failing, and stops its children
//! when it stops: temporary children first (all at once), then the others in reverse start
//! order (so a child started first, such as a lock renewer that must outlive the jobs, stops
//! last).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::events::{Observer, SupervisorEvent};
use super::intensity::{RestartIntensity, RestartLog};
use super::spec::{ChildSpec, Restart, RestartBackoff, Strategy};

/// Messages of the supervisor actor (reached through [`Supervisor`](super::Supervisor)).
pub(crate) enum SupervisorMsg {
    /// Start and supervise another child.
    StartChild(ChildSpec, RpcReplyPort<Result<ActorCell, String>>),
    /// Stop a child for good (it is not restarted). Replies whether it existed.
    TerminateChild(String, RpcReplyPort<bool>),
    /// The running children: the others in start order, then the temporary ones.
    WhichChildren(RpcReplyPort<Vec<(String, ActorCell)>>),
    /// Start a child again after its backoff delay.
    Restart(String),
}

/// A temporary child: never restarted, so only what its exit and the shutdown need.
pub(crate) struct Temporary {
    pub(crate) id: String,
    pub(crate) shutdown: Duration,
    pub(crate) cell: ActorCell,
    /// Started on a caller's task (`start_temporary`): only a failure is reported.
    pub(crate) quiet: bool,
}

/// What the supervisor shares with its handles: its observers, and its temporary children,
/// which a handle may start without a message through the mailbox (see
/// [`Supervisor::start_temporary`](super::Supervisor)).
pub(crate) struct Shared {
    pub(crate) name: String,
    observers: Mutex<Vec<Observer>>,
    pub(crate) temporary: Mutex<HashMap<ActorId, Temporary>>,
}

impl Shared {
    pub(crate) fn new(name: String, observers: Vec<Observer>) -> Self {
        Shared { name, observers: Mutex::new(observers), temporary: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn observe(&self, o: Observer) {
        self.observers.lock().unwrap_or_else(|p| p.into_inner()).push(o);
    }

    pub(crate) fn emit(&self, event: SupervisorEvent) {
        self.observers.lock().unwrap_or_else(|p| p.into_inner()).retain(|o| o(&event));
    }

    fn forget_temporary(&self, id: ActorId) -> Option<Temporary> {
        self.temporary.lock().unwrap_or_else(|p| p.into_inner()).remove(&id)
    }
}

/// How to build a supervisor.
pub(crate) struct SupervisorArgs {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: RestartBackoff,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) shared: Arc<Shared>,
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    started_at: Instant,
    consecutive: u32,
}

pub(crate) struct SupervisorState {
    shared: Arc<Shared>,
    strategy: Strategy,
    intensity: RestartIntensity,
    backoff: RestartBackoff,
    children: Vec<Child>,
    log: RestartLog,
    /// Children this supervisor is stopping on purpose: their exit is not a failure.
    stopping: HashSet<ActorId>,
}

impl SupervisorState {
    fn name(&self) -> String {
        self.shared.name.clone()
    }

    fn index_of_cell(&self, id: ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.cell.as_ref().map(|x| x.get_id()) == Some(id))
    }

    async fn stop_child(&mut self, idx: usize) {
        if let Some(cell) = self.children[idx].cell.take() {
            self.stopping.insert(cell.get_id());
            stop_cell(&cell, self.children[idx].spec.shutdown).await;
            let child = self.children[idx].spec.id.clone();
            self.shared.emit(SupervisorEvent::ChildStopped { supervisor: self.name(), child });
        }
    }

    /// Stops every temporary child at once, each within its own grace.
    async fn stop_temporaries(&mut self) {
        let temps: Vec<Temporary> = {
            let mut t = self.shared.temporary.lock().unwrap_or_else(|p| p.into_inner());
            t.drain().map(|(_, v)| v).collect()
        };
        for t in &temps {
            self.stopping.insert(t.cell.get_id());
        }
        futures_util::future::join_all(temps.iter().map(|t| stop_cell(&t.cell, t.shutdown))).await;
        for t in temps.into_iter().filter(|t| !t.quiet) {
            self.shared.emit(SupervisorEvent::ChildStopped { supervisor: self.name(), child: t.id });
        }
    }
}

/// Stops `cell` within `grace`, else kills it.
async fn stop_cell(cell: &ActorCell, grace: Duration) {
    if cell.stop_and_wait(Some("supervisor".into()), Some(grace)).await.is_err() {
        cell.kill();
    }
}

/// The supervisor actor. Stateless handler; all state is in [`SupervisorState`].
pub(crate) struct SupervisorActor;

impl Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            shared: args.shared,
            strategy: args.strategy,
            intensity: args.intensity,
            backoff: args.backoff,
            children: Vec::new(),
            log: RestartLog::default(),
            stopping: HashSet::new(),
        };
        for spec in args.children {
            // OTP: a child that cannot start makes the supervisor fail to start; stop the
            // ones already running first so nothing is left orphaned.
            match (spec.start)(myself.get_cell()).await {
                Ok(cell) => {
                    let child = spec.id.clone();
                    state.children.push(Child { spec, cell: Some(cell), started_at: Instant::now(), consecutive: 0 });
                    state.shared.emit(SupervisorEvent::ChildStarted { supervisor: state.name(), child });
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
        state.stop_temporaries().await;
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
                let out = match (spec.start)(myself.get_cell()).await {
                    Ok(cell) => {
                        let child = spec.id.clone();
                        if spec.restart == Restart::Temporary {
                            let t = Temporary {
                                id: spec.id.clone(),
                                shutdown: spec.shutdown,
                                cell: cell.clone(),
                                quiet: false,
                            };
                            state.shared.temporary.lock().unwrap_or_else(|p| p.into_inner()).insert(cell.get_id(), t);
                        } else {
                            state.children.push(Child {
                                spec,
                                cell: Some(cell.clone()),
                                started_at: Instant::now(),
                                consecutive: 0,
                            });
                        }
                        state.shared.emit(SupervisorEvent::ChildStarted { supervisor: state.name(), child });
                        Ok(cell)
                    }
                    Err(e) => Err(format!("child {} failed to start: {e}", spec.id)),
                };
                let _ = reply.send(out);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let found = state.children.iter().position(|c| c.spec.id == id);
                if let Some(i) = found {
                    state.stop_child(i).await;
                    state.children.remove(i);
                    let _ = reply.send(true);
                    return Ok(());
                }
                let temp = {
                    let t = state.shared.temporary.lock().unwrap_or_else(|p| p.into_inner());
                    t.iter().find(|(_, t)| t.id == id).map(|(k, _)| *k)
                };
                match temp.and_then(|k| state.shared.forget_temporary(k)) {
                    Some(t) => {
                        state.stopping.insert(t.cell.get_id());
                        stop_cell(&t.cell, t.shutdown).await;
                        state.shared.emit(SupervisorEvent::ChildStopped { supervisor: state.name(), child: t.id });
                        let _ = reply.send(true);
                    }
                    None => {
                        let _ = reply.send(false);
                    }
                }
            }
            SupervisorMsg::WhichChildren(reply) => {
                let mut list: Vec<(String, ActorCell)> = state
                    .children
                    .iter()
                    .filter_map(|c| c.cell.clone().map(|cell| (c.spec.id.clone(), cell)))
                    .collect();
                let t = state.shared.temporary.lock().unwrap_or_else(|p| p.into_inner());
                list.extend(t.values().map(|t| (t.id.clone(), t.cell.clone())));
                drop(t);
                let _ = reply.send(list);
            }
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
                            supervisor: state.name(),
                            child: id,
                            restarts: state.log.count(),
                        };
                        state.shared.emit(event);
                    }
                    Err(e) => {
                        // A failed restart counts like a crash: retry later, within the intensity,
                        // and back off further, or a child whose dependency is down (Redis) would
                        // be retried at the initial delay until the intensity melts down.
                        state.children[i].consecutive += 1;
                        let reason = format!("restart failed: {e}");
                        state.shared.emit(SupervisorEvent::ChildFailed { supervisor: state.name(), child: id, reason });
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
            // A temporary child: reported (a quiet one only when it failed), never restarted.
            if let Some(t) = state.shared.forget_temporary(cell.get_id()) {
                let supervisor = state.name();
                match failure {
                    Some(reason) => state.shared.emit(SupervisorEvent::ChildFailed { supervisor, child: t.id, reason }),
                    None if !t.quiet => state.shared.emit(SupervisorEvent::ChildStopped { supervisor, child: t.id }),
                    None => {}
                }
            }
            return Ok(());
        };
        let child = state.children[i].spec.id.clone();
        state.children[i].cell = None;
        match &failure {
            Some(reason) => state.shared.emit(SupervisorEvent::ChildFailed {
                supervisor: state.name(),
                child: child.clone(),
                reason: reason.clone(),
            }),
            None => state.shared.emit(SupervisorEvent::ChildStopped { supervisor: state.name(), child: child.clone() }),
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
            let id = state.children[j].spec.id.clone();
            // Siblings restart right after the failed child, in start order.
            myself.send_message(SupervisorMsg::Restart(id))?;
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
        state.shared.emit(SupervisorEvent::Meltdown { supervisor: state.name(), restarts, within });
        return Err(format!(
            "supervisor {} meltdown: more than {restarts} restarts within {within:?}",
            state.shared.name
        )
        .into());
    }
    let id = state.children[i].spec.id.clone();
    let delay = state.backoff.delay(state.children[i].consecutive);
    myself.send_after(delay, move || SupervisorMsg::Restart(id));
    Ok(())
}
