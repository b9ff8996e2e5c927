//! State that outlives the reader actor: the last event id seen and the subscriber list.
//! The reader is restarted with a fresh connection on any anomaly; because the id it resumes
//! from lives here, a restart neither skips nor repeats an event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::event::QueueEvent;
use super::subscription::Subscription;

pub(crate) struct Shared {
    /// The events stream key.
    pub(crate) stream_key: String,
    /// The connection name (`prefix:<base64(name)>:qe`).
    pub(crate) client_name: String,
    /// The id to read after; `None` until `$` has been resolved at the first start.
    last_id: Mutex<Option<String>>,
    subscribers: Mutex<Vec<(u64, UnboundedSender<QueueEvent>)>>,
    next_sub: AtomicU64,
    /// Times the reader connected (1 after the first start).
    pub(crate) connects: AtomicU64,
    /// Set by `close()`: the reader stops reading at once.
    pub(crate) cancel: CancellationToken,
    /// True once closed or dead (after a supervisor meltdown); subscribers are then dropped.
    closed: AtomicBool,
}

impl Shared {
    pub(crate) fn new(stream_key: String, client_name: String, last_id: Option<String>) -> Self {
        Shared {
            stream_key,
            client_name,
            last_id: Mutex::new(last_id),
            subscribers: Mutex::new(Vec::new()),
            next_sub: AtomicU64::new(1),
            connects: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn last_id(&self) -> Option<String> {
        self.last_id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the start point once (resolution of `$`); later calls keep the first value.
    pub(crate) fn init_last_id(&self, id: String) {
        let mut g = self.last_id.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(id);
        }
    }

    pub(crate) fn subscribe(&self) -> Subscription {
        let (tx, rx) = unbounded_channel();
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        if !self.closed.load(Ordering::Acquire) {
            let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            // Checked again under the lock: `shutdown` clears the list under it.
            if !self.closed.load(Ordering::Acquire) {
                subs.push((id, tx));
            }
        }
        Subscription::new(id, rx)
    }

    pub(crate) fn unsubscribe(&self, id: u64) -> bool {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let before = subs.len();
        subs.retain(|(i, _)| *i != id);
        subs.len() != before
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|(_, tx)| !tx.is_closed());
        subs.len()
    }

    /// Hands one event to every subscriber and advances the resume point past it, both under
    /// the subscriber lock and without an await in between, so the two cannot diverge.
    pub(crate) fn dispatch(&self, event: QueueEvent) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let id = event.id().to_owned();
        subs.retain(|(_, tx)| tx.send(event.clone()).is_ok());
        *self.last_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    /// Closes every subscription (their `recv` returns `None`) and refuses new ones.
    pub(crate) fn shutdown(&self) {
        self.cancel.cancel();
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, Ordering::Release);
        subs.clear();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
