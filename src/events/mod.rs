//! Watching a queue's events stream: [`QueueEvents`], its typed [`QueueEvent`]s, lossless
//! [`Subscription`]s and [`QueueEventsHandler`]s, and [`QueueEvents::wait_until_finished`](crate::QueueEvents::wait_until_finished).

mod event;
mod handler;
mod options;
mod queue_events;
mod reader;
mod shared;
mod subscription;
mod wait;

pub use event::QueueEvent;
pub use handler::QueueEventsHandler;
pub use options::QueueEventsOptions;
pub use queue_events::QueueEvents;
pub use subscription::Subscription;
