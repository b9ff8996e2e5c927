//! Coalescing of single adds: while the `addJobs` calls in flight run, the adds that arrive are
//! queued and sent together in the next call (each job still independent). One caller alone
//! pays one script call as before; many concurrent callers pay one Redis round trip and one
//! script run per batch instead of per job, which is where most of Redis' CPU per add goes.
//! Two calls may be in flight: with one, Redis waited for the client to read a reply and send
//! the next batch, and the client for Redis to run the batch.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::connection::Client;
use crate::error::{Error, Result};
use crate::scripts::{AddJobs, AddReply, NewJob};

/// Largest batch sent in one call.
const MAX_BATCH: usize = 1000;

/// Calls in flight at once (see the module docs).
const IN_FLIGHT: usize = 2;

type Reply = Result<AddReply>;

/// Handle to the background task that sends coalesced adds.
#[derive(Clone)]
pub(super) struct Coalescer {
    tx: mpsc::UnboundedSender<(NewJob, oneshot::Sender<Reply>)>,
}

impl Coalescer {
    /// Starts the task; it ends when the last handle is dropped.
    pub(super) fn start(client: Client) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, rx));
        Coalescer { tx }
    }

    /// Adds one job through the next batch.
    pub(super) async fn add(&self, job: NewJob) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((job, tx)).ok()?;
        rx.await.ok()
    }
}

/// The same failure for each waiter of a batch (the error itself is not `Clone`).
fn for_each(e: &Error, job: &NewJob) -> Error {
    let job_id = Some(job.custom_id.as_str()).filter(|s| !s.is_empty());
    match e {
        Error::Redis { source, .. } => Error::redis("addJob", job_id, source.clone()),
        other => Error::unexpected("addJob", job_id, other.to_string()),
    }
}

async fn run(client: Client, mut rx: mpsc::UnboundedReceiver<(NewJob, oneshot::Sender<Reply>)>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some((job, reply)) = rx.recv().await {
        // A free call first: while both are busy, the adds that arrive join the next batch.
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let (mut jobs, mut waiters) = (vec![job], vec![reply]);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((job, reply)) => {
                    jobs.push(job);
                    waiters.push(reply);
                }
                Err(_) => break,
            }
        }
        let client = client.clone();
        tokio::spawn(async move {
            match (AddJobs { jobs: &jobs, atomic: false }).run(&client).await {
                Ok(replies) => {
                    for (w, r) in waiters.into_iter().zip(replies) {
                        let _ = w.send(Ok(r));
                    }
                }
                Err(e) => {
                    for (w, job) in waiters.into_iter().zip(&jobs) {
                        let _ = w.send(Err(for_each(&e, job)));
                    }
                }
            }
            drop(permit);
        });
    }
}
