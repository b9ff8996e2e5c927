#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![forbid(unsafe_code)]

mod actors;
mod backoff;
mod connection;
mod error;
mod events;
mod job;
mod job_ops;
mod keys;
mod manual;
mod options;
mod queue;
pub(crate) mod scripts;
mod state;
mod supervisor;
pub mod telemetry;
mod worker_options;

pub use actors::{
    processor, CancelReason, JobContext, JobMsg, JobOutcome, Processor, ProcessorFuture, Worker, WorkerCallbacks,
    WorkerEvent, WorkerMsg,
};
pub use connection::ConnectionOptions;
pub use error::{Error, Result, ScriptError, ScriptErrorCode};
pub use events::{QueueEvent, QueueEvents, QueueEventsHandler, QueueEventsOptions, Subscription};
pub use job::{Job, ParentRef};
pub use manual::{FailOutcome, GetNextJobOptions, JobError, ManualWorker};
pub use options::{Backoff, Deduplication, JobOptions, KeepJobs, ParentOptions, Telemetry, MAX_PRIORITY};
pub use queue::{BulkJob, Metrics, MetricsMeta, MetricsType, Queue, QueueOptions};
pub use state::JobState;
pub use worker_options::{BackoffStrategy, MetricsOptions, RateLimiter, WorkerOptions};
