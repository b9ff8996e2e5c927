//! Job schedulers (PROTOCOL.md §15): the repeat options and template of a scheduler, its stored
//! record, the upsert, and the worker's duty of producing the next iteration when it takes one.
//! Wire-compatible with BullMQ 6.7: Node and Rust producers and workers share schedulers both
//! ways. Cron patterns are evaluated here as cron-parser 5.10.3 (BullMQ 6.7's) evaluates them.
//!
//! The public face is on [`Queue`](crate::Queue) (`upsert_job_scheduler`, ...) and
//! [`JobScheduler`](crate::queue::JobScheduler); workers produce iterations by themselves.

mod cron;
mod legacy;
mod next;
mod options;
mod read;
mod record;
mod upsert;

pub use options::{JobTemplate, RepeatOptions};
pub use record::{JobSchedulerRecord, LegacyRepeatableJob};

pub(crate) use next::{produce_next, NextIteration};
pub(crate) use read::{count, get, list, list_legacy, remove};
pub(crate) use upsert::upsert;

#[cfg(feature = "testing")]
pub(crate) use cron::Cron;
