//! The loop of a task actor that runs one maintenance step, at start and then `period` after
//! each step ended (the lock renewer and the stalled checker). A transient error (Redis gone,
//! out of memory, busy...) makes it wait for Redis and try the step again (the shared connection
//! reconnects by itself, so there is nothing a restart would fix); any other failing step fails
//! the actor, so its supervisor restarts it. The step keeps no state of its own, so a restart
//! loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::core::Core;
use super::reconnect::Outage;
use super::task_actor::Failure;
use crate::engine::maintenance;
use crate::supervisor::TaskGuard;

pub(crate) type Step = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = crate::Result<()>> + Send>> + Send + Sync>;

/// What the lock renewer and the stalled checker run.
pub(crate) struct PeriodicArgs {
    pub(crate) name: &'static str,
    pub(crate) period: Duration,
    pub(crate) step: Step,
    pub(crate) core: Arc<Core>,
}

/// Runs the step at once, then `period` after each step ended, until a step fails otherwise
/// than by a transient error. The period counts from the end of the previous step, not on a
/// fixed beat: the stalled check's key lives exactly one interval from when Redis ran the
/// previous check, and a check that arrives a moment early finds it and does nothing.
///
/// The loop runs on the maintenance runtime (see `engine::maintenance`), bound to this task:
/// processors that block every thread of the worker's runtime do not delay it.
pub(crate) async fn run(args: PeriodicArgs, failure: Failure) {
    let task = match maintenance::spawn(run_here(args, failure.clone())) {
        Ok(task) => task,
        Err(e) => return failure.fail(e.to_string()),
    };
    let _bound = TaskGuard::new(task.abort_handle());
    let _ = task.await;
}

async fn run_here(args: PeriodicArgs, failure: Failure) {
    let mut outage = Outage::maintenance(args.name);
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::time::sleep(args.period).await;
        }
        // A step refused for a passing reason is tried again as soon as the outage allows (a
        // lock renewal must not wait a whole period), not counted as a failure.
        loop {
            match (args.step)().await {
                Ok(()) => outage.over(&args.core),
                Err(e) if e.is_transient() => {
                    if outage.wait(&args.core, &e, true).await {
                        continue;
                    }
                    return;
                }
                Err(e) => return failure.fail(e.to_string()),
            }
            break;
        }
    }
}
