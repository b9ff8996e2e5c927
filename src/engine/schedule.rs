//! The scheduler duty at take time: a taken iteration of a job scheduler produces the next one
//! before its processor starts (PROTOCOL.md §15.5), as a BullMQ 6.7 worker does.

use std::time::{Duration, Instant};

use super::lease::Lease;
use super::Engine;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::schedulers::{produce_next, NextIteration};

/// What the duty left for the caller.
pub(crate) enum Duty {
    /// Done (or nothing to do): run the job.
    Run,
    /// The next iteration cannot be produced for a reason retrying will not fix (a BullMQ 5
    /// repeatable job, options another client wrote that cannot be read): report it and run the
    /// job; that schedule ends here.
    RunAndReport(Error),
    /// Redis refused for a transient reason for longer than half the lock: the job was handed
    /// back to wait, to be taken again (and produce) once Redis is back.
    HandedBack,
}

impl Engine {
    /// Produces the iteration after `job` when it is a scheduler's. Transient errors are retried
    /// with backoff while the lock is safe (half its duration); a job whose duty cannot be done
    /// is handed back rather than run, because running it would end its schedule.
    pub(crate) async fn schedule_next(&self, job: &Job, lease: &Lease) -> Result<Duty> {
        let deadline = Instant::now() + self.opts.lock_duration / 2;
        let mut pause = Duration::from_millis(25);
        loop {
            let outcome = match self.client_of(Some(job)) {
                Ok(client) => produce_next(&client, job).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(NextIteration::Produced(_) | NextIteration::Ended | NextIteration::NotScheduled) => {
                    return Ok(Duty::Run)
                }
                Err(e) if e.is_transient() && Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(job_id = %job.id, error = %e, "could not produce the next iteration; job handed back");
                    self.move_to_wait(job, lease).await?;
                    return Ok(Duty::HandedBack);
                }
                Err(e) => {
                    tracing::error!(job_id = %job.id, error = %e, "no next iteration for this job scheduler");
                    return Ok(Duty::RunAndReport(e));
                }
            }
        }
    }
}
