//! A lossless subscription to a [`QueueEvents`](crate::QueueEvents).

use tokio::sync::mpsc::UnboundedReceiver;

use super::event::QueueEvent;

/// Receives every event read after it was created, in stream order. The channel is unbounded
/// so a slow subscriber never loses events (it only uses memory). Dropping it unsubscribes;
/// so does [`QueueEvents::unsubscribe`](crate::QueueEvents::unsubscribe).
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    rx: UnboundedReceiver<QueueEvent>,
}

impl Subscription {
    pub(crate) fn new(id: u64, rx: UnboundedReceiver<QueueEvent>) -> Self {
        Subscription { id, rx }
    }

    /// Identifies this subscription for [`QueueEvents::unsubscribe`](crate::QueueEvents::unsubscribe).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next event; `None` once the `QueueEvents` is closed (or stopped for good after
    /// repeated connection failures) and every buffered event was received.
    pub async fn recv(&mut self) -> Option<QueueEvent> {
        self.rx.recv().await
    }

    /// The next buffered event without waiting; `None` if there is none right now.
    pub fn try_recv(&mut self) -> Option<QueueEvent> {
        self.rx.try_recv().ok()
    }
}
