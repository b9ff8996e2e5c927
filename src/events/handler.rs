//! The handler form of subscribing: an object called for each event, in stream order.

use std::future::Future;

use super::event::QueueEvent;

/// Receives every event of a [`QueueEvents`](crate::QueueEvents), in stream order, one at a
/// time. Register it with [`QueueEvents::add_handler`](crate::QueueEvents::add_handler).
///
/// It runs on its own task, fed by a lossless subscription: a slow handler delays only itself,
/// never the reader nor other subscribers. Implement it with `async fn on_event`.
pub trait QueueEventsHandler: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &QueueEvent) -> impl Future<Output = ()> + Send;
}
