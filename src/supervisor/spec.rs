//! Child specifications: how to start a child and when to restart it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorCell, SpawnErr};

/// When a child is restarted (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restart {
    /// Always restarted, whether it failed or stopped.
    Permanent,
    /// Restarted only when it failed (panic or error), not when it stopped normally.
    Transient,
    /// Never restarted (a job actor: Redis recovers its job, not the supervisor).
    Temporary,
}

/// Starts a child linked under the given supervisor cell.
pub(crate) type StartFn =
    Arc<dyn Fn(ActorCell) -> Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>> + Send + Sync>;

/// One child of a supervisor.
#[derive(Clone)]
pub(crate) struct ChildSpec {
    /// Unique among the supervisor's children; events name children by it.
    pub(crate) id: String,
    pub(crate) restart: Restart,
    pub(crate) start: StartFn,
    /// How long an orderly stop may take before the child is killed.
    pub(crate) shutdown: Duration,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec").field("id", &self.id).field("restart", &self.restart).finish()
    }
}

impl ChildSpec {
    /// A child started by `start`, stopped with a 5 s grace.
    pub(crate) fn new<F, Fut>(id: impl Into<String>, restart: Restart, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        ChildSpec {
            id: id.into(),
            restart,
            start: Arc::new(move |sup| Box::pin(start(sup))),
            shutdown: Duration::from_secs(5),
        }
    }
}

/// How a failure of one child affects its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Restart only the child that failed.
    OneForOne,
    /// Restart every child when one fails.
    OneForAll,
    /// Restart the failed child and every child started after it.
    RestForOne,
}

/// Delay before a restart: `initial`, doubling per consecutive restart of the same child, capped
/// at `max`. It keeps a child whose dependency (Redis) is down from hammering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RestartBackoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        RestartBackoff { initial: Duration::from_millis(10), max: Duration::from_secs(2) }
    }
}

impl RestartBackoff {
    pub(crate) fn delay(&self, consecutive: u32) -> Duration {
        let factor = 1u32.checked_shl(consecutive.min(16)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}
