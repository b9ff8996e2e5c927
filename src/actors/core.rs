//! What a worker's children share, outliving any one of them (a child's restart loses
//! nothing): the engine, the processor, flow control, the running jobs, the event subscribers,
//! the acknowledgement channel and the current tree. Each child uses the parts it needs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::ack::Ack;
use super::events::EventBus;
use super::in_flight::TakesInFlight;
use super::processor::Processor;
use super::registry::Registry;
use crate::engine::{Engine, Taken};
use crate::supervisor::Supervisor;

/// How long a cancelled processor may run on before it is aborted.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Core {
    pub(crate) engine: Arc<Engine>,
    pub(crate) processor: Processor,
    pub(crate) flow: super::flow::Flow,
    pub(crate) registry: Arc<Registry>,
    pub(crate) events: EventBus,
    /// Where job actors send their acknowledgements (see `acker`).
    pub(crate) acks: UnboundedSender<Ack>,
    /// The acker's end: held by the running acker, taken over by the next after a restart.
    pub(crate) ack_queue: tokio::sync::Mutex<UnboundedReceiver<Ack>>,
    /// The acker's calls in flight (they run detached, see `acker`): a close waits for them,
    /// so that the jobs they took are back in wait before it returns.
    pub(crate) ack_calls: TaskTracker,
    /// The running tree (none before the first start): job actors start under it.
    pub(crate) tree: watch::Sender<Option<Supervisor>>,
    /// How long a cancelled processor may run on before it is aborted.
    pub(crate) grace: Duration,
    /// Takes whose reply is not handled yet (see `in_flight`).
    pub(crate) takes: Arc<TakesInFlight>,
}

impl Core {
    pub(crate) fn new(engine: Arc<Engine>, processor: Processor, flow: super::flow::Flow) -> Arc<Core> {
        let (acks, ack_queue) = unbounded_channel();
        let (tree, _) = watch::channel(None);
        Arc::new(Core {
            engine,
            processor,
            flow,
            registry: Registry::new(),
            events: EventBus::default(),
            acks,
            ack_queue: tokio::sync::Mutex::new(ack_queue),
            ack_calls: TaskTracker::new(),
            tree,
            grace: CANCEL_GRACE,
            takes: Arc::default(),
        })
    }

    /// The running tree, once there is one.
    pub(crate) async fn tree(&self) -> Option<Supervisor> {
        if let Some(tree) = self.tree.borrow().as_ref() {
            return Some(tree.clone());
        }
        let mut rx = self.tree.subscribe();
        rx.wait_for(Option::is_some).await.ok().and_then(|t| t.clone())
    }

    /// Puts a job taken but not run back at the front of the line (no attempt counted). False
    /// when Redis refused: the job stays active, locked until its lock expires, for the stalled
    /// check.
    pub(crate) async fn hand_back(&self, taken: Taken) -> bool {
        self.engine.move_to_wait(&taken.job, &taken.lease).await.is_ok()
    }

    /// Hands every job held ahead back to wait (pause, close, meltdown): nothing runs them here.
    /// Returns the ids it could not hand back (left active).
    pub(crate) async fn hand_back_held(&self) -> Vec<String> {
        let mut kept = Vec::new();
        for taken in self.flow.drain_held() {
            let id = taken.job.id.clone();
            if !self.hand_back(taken).await {
                kept.push(id);
            }
        }
        kept
    }
}
