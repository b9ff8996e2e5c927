//! Takes in flight: the lock tokens of takes whose reply the worker has not handled yet. Redis
//! took and locked those jobs already, but until the reply is read the worker does not know
//! their ids, so the lock renewer cannot renew them by id. Normally that lasts microseconds; a
//! runtime whose every thread a processor holds can leave a reply unread for longer than the
//! lock, and the stalled check would then give the job to another worker while this one is
//! about to run it. The lock renewer renews such takes' locks by token (`extendTakenLocks`)
//! once they have been in flight a quarter of a lock duration (with the default renewal period;
//! see lock_renewer.rs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct TakesInFlight {
    next: AtomicU64,
    takes: Mutex<HashMap<u64, (String, Instant)>>,
}

/// One take in flight, until dropped.
pub(crate) struct InFlight {
    takes: Arc<TakesInFlight>,
    key: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.takes.takes.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

impl TakesInFlight {
    /// A take under `token` (or, ending in `:`, the takes of a batched call under tokens that
    /// start with it) is in flight until the returned guard is dropped: hold it until every job
    /// taken is running or held ahead (renewed by id from then on).
    pub(crate) fn start(self: &Arc<Self>, token: String) -> InFlight {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.takes.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (token, Instant::now()));
        InFlight { takes: self.clone(), key }
    }

    /// The tokens of the takes in flight for longer than `age`.
    pub(crate) fn older_than(&self, age: Duration) -> Vec<String> {
        let takes = self.takes.lock().unwrap_or_else(|p| p.into_inner());
        takes.values().filter(|(_, since)| since.elapsed() > age).map(|(t, _)| t.clone()).collect()
    }
}
