//! The client-side deadline of marker waits (the idle take's and the plain one's): it catches
//! a blocking connection that hangs without an error. One timer is kept from wait to wait.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::Engine;

/// Margin of the deadline over the server-side block.
const MARGIN_MS: u64 = 1000;

/// The deadline, in ms, of a marker wait blocking `block_ms` in Redis.
pub(crate) fn wait_deadline_ms(block_ms: u64) -> u64 {
    block_ms + MARGIN_MS
}

/// The kept timer and the runtime it is registered with.
pub(crate) struct WaitDeadline {
    runtime: tokio::runtime::Id,
    sleep: Pin<Box<Sleep>>,
}

impl Engine {
    /// Runs `wait` (a marker wait blocking `block_ms`, with or without the take behind it)
    /// until its deadline; `None` when the deadline passed first. The timer is the one kept
    /// from the previous wait, pushed later, or a new one the first time (or when the kept one
    /// belongs to another runtime). Why kept: tokio wakes its driver (an eventfd write and one
    /// more poll) when a new timer is the earliest it has, which the marker wait's deadline
    /// usually is on an idle worker; that was a syscall per job. Pushing a registered timer
    /// later is a store.
    pub(crate) async fn within_wait_deadline<F: Future>(&self, block_ms: u64, wait: F) -> Option<F::Output> {
        let at = Instant::now() + Duration::from_millis(wait_deadline_ms(block_ms));
        let runtime = tokio::runtime::Handle::current().id();
        let kept = self.wait_deadline.lock().ok().and_then(|mut g| g.take());
        let mut deadline = match kept.filter(|d| d.runtime == runtime) {
            Some(mut d) => {
                d.sleep.as_mut().reset(at);
                d
            }
            None => WaitDeadline { runtime, sleep: Box::pin(tokio::time::sleep_until(at)) },
        };
        let outcome = tokio::select! {
            biased;
            r = wait => Some(r),
            _ = deadline.sleep.as_mut() => None,
        };
        if let Ok(mut g) = self.wait_deadline.lock() {
            *g = Some(deadline);
        }
        outcome
    }
}
