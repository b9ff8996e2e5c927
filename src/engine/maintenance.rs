//! The maintenance runtime: one thread of the process, with a tokio runtime of its own, where
//! lock renewal and the stalled check run, on a Redis connection of their own (a connection is
//! driven by a task of the runtime it was opened on). A processor that blocks its thread
//! (`std::thread::sleep`, a synchronous client, heavy CPU without a yield) takes that thread
//! from the worker's runtime; once every thread of it is taken, nothing there runs, and locks
//! renewed there would expire under jobs still running: other workers would run them again and
//! the stalled check would fail them. Here the renewals keep their timing whatever the
//! processors do with the user's runtime.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The runtime, started on first use; it lives as long as the process.
fn handle() -> Result<&'static Handle> {
    static HANDLE: OnceLock<std::result::Result<Handle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let runtime = Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("bullmq-maintenance".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .as_ref()
        .map_err(|message| Error::Spawn { what: "the maintenance runtime".into(), message: message.clone() })
}

/// Runs `task` on the maintenance runtime. Dropping the handle does not stop the task; abort it.
pub(crate) fn spawn<F>(task: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(handle()?.spawn(task))
}

/// Runs `task` on the maintenance runtime and waits for it (from any runtime).
pub(crate) async fn run<F>(task: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn(task)?.await.map_err(|e| Error::Spawn { what: "a maintenance task".into(), message: e.to_string() })
}
