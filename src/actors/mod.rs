//! The supervised worker tree: [`Worker`], a [`Supervisor`](crate::supervisor::Supervisor) over
//! a fetcher, a lock renewer, a stalled checker, an acker and one actor per running job. The
//! job actor is in `job_actor` (its messages in `job_msg`); the other four are task actors
//! (`task_actor`, its messages beside it) running the loop of `fetcher`, `acker` and
//! `periodic` (with the steps of `lock_renewer` and `stalled_checker`). What they share is in
//! `core`; how many jobs the worker holds and when it takes more is decided in `flow`.

mod ack;
mod acker;
mod alone;
mod callbacks;
mod core;
mod events;
mod fetcher;
mod flow;
mod in_flight;
mod job_actor;
mod job_msg;
mod lock_renewer;
mod periodic;
mod processor;
mod reconnect;
mod registry;
mod stalled_checker;
mod task_actor;
mod worker;

pub use callbacks::WorkerCallbacks;
pub use events::WorkerEvent;
pub use job_msg::{CancelReason, Internal, JobMsg};
pub use processor::{blocking_processor, processor, JobContext, Processor, ProcessorFuture};
pub use worker::Worker;
