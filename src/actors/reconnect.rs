//! Waiting out a Redis that cannot serve: gone (a connection error), or refusing calls for a
//! while (out of memory, busy with a long script, loading, a replica after a failover: see
//! [`Error::is_transient`](crate::Error::is_transient)). A child that meets such an error does
//! not fail: restarts are for bugs, and five quick failures would melt the tree down within a
//! second of any outage. It reports the outage once (`ConnectionLost`, with the error), waits
//! (until Redis serves a real read again when it was gone, with a backoff doubling up to 1 s when
//! it refused), tries the same call again, and reports the end (`ConnectionRestored`).

use std::time::{Duration, Instant};

use super::core::Core;
use super::events::WorkerEvent;
use super::flow::RunState;
use crate::error::Error;

/// The first pause after a refusal, and the longest.
const FIRST_DELAY: Duration = Duration::from_millis(25);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The longest pause between two probes of a Redis that went away.
const MAX_PROBE_DELAY: Duration = Duration::from_secs(1);

/// One child's outage: when it began (none while Redis serves) and the next pause.
pub(crate) struct Outage {
    child: &'static str,
    /// Probes on the maintenance connection (the child's own) rather than the shared one.
    maintenance: bool,
    since: Option<Instant>,
    delay: Duration,
}

impl Outage {
    /// The outage of a child calling Redis on the shared connection.
    pub(crate) fn new(child: &'static str) -> Self {
        Outage { child, maintenance: false, since: None, delay: FIRST_DELAY }
    }

    /// The outage of a maintenance child (calling on the maintenance connection).
    pub(crate) fn maintenance(child: &'static str) -> Self {
        Outage { maintenance: true, ..Outage::new(child) }
    }

    /// Waits before trying again after the transient `error`. False when the worker started
    /// closing meanwhile and `stop_on_close` (then the caller gives up).
    pub(crate) async fn wait(&mut self, core: &Core, error: &Error, stop_on_close: bool) -> bool {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            core.events.emit(WorkerEvent::ConnectionLost { child: self.child.into(), error: error.to_string() });
        }
        let mut run = core.flow.watch_run();
        if error.is_connection_error() {
            // Gone: probe until it answers a real read again (not just PING, which a server
            // still loading its data set answers).
            let mut delay = FIRST_DELAY;
            while !redis_ready(core, self.maintenance).await {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = run.changed(), if stop_on_close => {}
                }
                if stop_on_close && *run.borrow() == RunState::Closing {
                    return false;
                }
                delay = (delay * 2).min(MAX_PROBE_DELAY);
            }
            return true;
        }
        // Refusing: it answers reads (OOM) or nothing at all (BUSY) until it is over; back off.
        tokio::select! {
            _ = tokio::time::sleep(self.delay) => {}
            _ = run.changed(), if stop_on_close => {}
        }
        self.delay = (self.delay * 2).min(MAX_DELAY);
        !(stop_on_close && *run.borrow() == RunState::Closing)
    }

    /// The call went through: the outage, if there was one, is over.
    pub(crate) fn over(&mut self, core: &Core) {
        self.delay = FIRST_DELAY;
        if let Some(since) = self.since.take() {
            let down_ms = since.elapsed().as_millis() as u64;
            core.events.emit(WorkerEvent::ConnectionRestored { child: self.child.into(), down_ms });
        }
    }
}

async fn redis_ready(core: &Core, maintenance: bool) -> bool {
    let q = core.engine.queue();
    let client = match maintenance {
        true => core.engine.maintenance_client().await,
        false => q.client(),
    };
    let Ok(client) = client else { return false };
    let mut conn = client.conn();
    let mut exists = redis::cmd("EXISTS");
    exists.arg(q.keys().key("meta"));
    let probe = exists.query_async::<i64>(&mut conn);
    matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
}
