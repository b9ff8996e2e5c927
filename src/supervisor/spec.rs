//! Child specifications: how to start a child and when to restart it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorCell, SpawnErr};

/// When a child is restarted (OTP's restart types).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
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

/// One child of a [`Supervisor`](super::Supervisor): its id, when to restart it, how to start it
/// (linked under the supervisor's cell, which the start function receives) and how long an
/// orderly stop may take before it is killed.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) restart: Restart,
    pub(crate) start: StartFn,
    pub(crate) shutdown: Duration,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child started by `start`, which spawns it linked under the supervisor cell it is
    /// given (`Actor::spawn_linked(None, actor, args, supervisor)`). Stopped with a 5 s grace.
    pub fn new<F, Fut>(id: impl Into<String>, restart: Restart, start: F) -> Self
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

    /// Builder: how long an orderly stop may take before the child is killed.
    pub fn shutdown(mut self, grace: Duration) -> Self {
        self.shutdown = grace;
        self
    }

    /// Builder: another restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The child's id: unique among its supervisor's children; events name it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it is restarted.
    pub fn restart_type(&self) -> Restart {
        self.restart
    }
}

/// How a failure of one child affects its siblings.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the child that failed.
    OneForOne,
    /// Restart every child when one fails.
    OneForAll,
    /// Restart the failed child and every child started after it.
    RestForOne,
}

/// Delay before a restart: `initial`, doubling per consecutive restart of the same child, capped
/// at `max`. It keeps a child whose dependency (Redis) is down from hammering it. Default 10 ms
/// doubling to at most 2 s.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartBackoff {
    /// The first restart's delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        RestartBackoff { initial: Duration::from_millis(10), max: Duration::from_secs(2) }
    }
}

impl RestartBackoff {
    /// `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        RestartBackoff { initial, max }
    }

    pub(crate) fn delay(&self, consecutive: u32) -> Duration {
        let factor = 1u32.checked_shl(consecutive.min(16)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}
