//! Waiting out a Redis outage. A child that meets a connection error does not fail at once:
//! with restart backoff starting at 10 ms, five quick failures would melt the tree down in well
//! under a second of outage. It waits here until Redis serves a real read again (not just
//! `PING`, which a server still `LOADING` its data set answers), so an outage of any length costs
//! the fetcher one restart and the periodic children none.

use std::time::{Duration, Instant};

use super::core::Core;
use super::events::WorkerEvent;
use super::flow::RunState;

/// The longest pause between two probes.
const MAX_PROBE_DELAY: Duration = Duration::from_secs(1);

/// Emits `ConnectionLost`, waits until Redis answers, emits `ConnectionRestored`. Returns early
/// (without the restored event) if the worker starts closing.
pub(crate) async fn wait_for_redis(core: &Core, child: &str, error: &crate::Error) {
    core.events.emit(WorkerEvent::ConnectionLost { child: child.into(), error: error.to_string() });
    let started = Instant::now();
    let mut delay = Duration::from_millis(25);
    let mut run = core.flow.watch_run();
    loop {
        if redis_ready(core).await {
            let down_ms = started.elapsed().as_millis() as u64;
            core.events.emit(WorkerEvent::ConnectionRestored { child: child.into(), down_ms });
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = run.changed() => {}
        }
        if *run.borrow() == RunState::Closing {
            return;
        }
        delay = (delay * 2).min(MAX_PROBE_DELAY);
    }
}

async fn redis_ready(core: &Core) -> bool {
    let q = core.engine.queue();
    let Ok(client) = q.client() else { return false };
    let mut conn = client.conn();
    let mut exists = redis::cmd("EXISTS");
    exists.arg(q.keys().key("meta"));
    let probe = exists.query_async::<i64>(&mut conn);
    matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
}
