#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(unreachable_pub, missing_debug_implementations, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

// The layers, top to bottom; a module only uses those below it (docs/ARCHITECTURE.md).
mod actors;
mod clock;
pub mod connection;
mod engine;
mod error;
pub mod events;
pub mod fair;
pub mod flows;
pub mod job;
mod keys;
pub mod queue;
pub mod router;
mod schedulers;
mod scripts;
pub mod supervisor;
pub mod telemetry;

#[cfg(feature = "testing")]
pub mod testing;

/// Processing: the supervised worker tree, manual processing, and their options and events.
pub mod worker {
    #[doc(hidden)]
    pub use crate::actors::Internal;
    pub use crate::actors::{
        blocking_processor, processor, CancelReason, JobContext, JobMsg, Processor, ProcessorFuture, Worker,
        WorkerCallbacks, WorkerEvent,
    };
    pub use crate::engine::{
        ActiveJob, FailOutcome, GetNextJobOptions, ManualWorker, MetricsOptions, RateLimiter, WorkerOptions,
    };
}

pub use crate::actors::{
    blocking_processor, processor, CancelReason, JobContext, JobMsg, Processor, Worker, WorkerEvent,
};
pub use crate::connection::{Connection, ConnectionOptions};
pub use crate::engine::{ActiveJob, ManualWorker, WorkerOptions};
pub use crate::error::{Error, Result, ScriptError, ScriptErrorCode, TransactionRefusal};
pub use crate::events::{QueueEvent, QueueEvents, QueueEventsOptions};
pub use crate::fair::{FairOptions, FairQueue};
pub use crate::flows::{FlowJob, FlowProducer, JobNode};
pub use crate::job::{
    Backoff, BulkJob, Deduplication, Job, JobError, JobOptions, JobOutcome, JobState, KeepJobs, ParentFailurePolicy,
    ParentOptions,
};
pub use crate::queue::{
    JobScheduler, JobSchedulerRecord, JobTemplate, Queue, QueueOptions, RepeatOptions, Transaction, TransactionReply,
};
pub use crate::router::{Handled, JobMeta, Router, TopicDefaults};
