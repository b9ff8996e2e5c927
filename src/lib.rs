#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![forbid(unsafe_code)]

mod connection;
mod error;
mod events;
mod job;
mod keys;
mod manual;
mod options;
mod queue;
pub(crate) mod scripts;
mod supervisor;

pub use connection::ConnectionOptions;
pub use error::{Error, Result, ScriptError, ScriptErrorCode};
pub use events::{QueueEvent, QueueEvents, QueueEventsHandler, QueueEventsOptions, Subscription};
pub use job::{Job, ParentRef};
pub use options::{
    Backoff, Deduplication, JobOptions, KeepJobs, ParentOptions, Telemetry, MAX_PRIORITY,
};
pub use queue::{BulkJob, Metrics, MetricsMeta, MetricsType, Queue, QueueOptions};
