//! Topic routing, as the Bedrock job queue does it: a job's name is its topic, and a [`Router`]
//! sends each job to the handler of its topic (exact, or a pattern: `email:*`, `*.sent`, `*`),
//! with typed payloads, per-topic defaults, and Bedrock's return values ([`Handled`]): ok, ok
//! with a result, an error (retried with backoff), snooze, discard. A job whose topic has no
//! handler is discarded with reason `no handler`. The router is what a [`Worker`](crate::Worker)
//! runs: [`Router::processor`].

mod handler;
mod pattern;
mod routes;

pub use handler::{Handled, JobMeta};
pub use routes::{Router, TopicDefaults};
