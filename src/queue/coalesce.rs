//! Coalescing of single adds: while one `addJobs` call is in flight, the adds that arrive are
//! queued and sent together in the next call (each job still independent). One caller alone
//! pays one script call as before; many concurrent callers pay one Redis round trip and one
//! script run per batch instead of per job, which is where most of Redis' CPU per add goes.

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use crate::scripts::add::{add_jobs, AddReply, NewJob};

/// Largest batch sent in one call.
const MAX_BATCH: usize = 1000;

type Reply = Result<AddReply, redis::RedisError>;

/// Handle to the background task that sends coalesced adds.
#[derive(Clone)]
pub(crate) struct Coalescer {
    tx: mpsc::UnboundedSender<(NewJob, oneshot::Sender<Reply>)>,
}

impl Coalescer {
    /// Starts the task; it ends when the last handle is dropped.
    pub(crate) fn start(conn: ConnectionManager, base: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, base, rx));
        Coalescer { tx }
    }

    /// Adds one job through the next batch.
    pub(crate) async fn add(&self, job: NewJob) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((job, tx)).ok()?;
        rx.await.ok()
    }
}

async fn run(
    mut conn: ConnectionManager,
    base: String,
    mut rx: mpsc::UnboundedReceiver<(NewJob, oneshot::Sender<Reply>)>,
) {
    let mut jobs = Vec::new();
    let mut waiters = Vec::new();
    while let Some((job, reply)) = rx.recv().await {
        jobs.push(job);
        waiters.push(reply);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((job, reply)) => {
                    jobs.push(job);
                    waiters.push(reply);
                }
                Err(_) => break,
            }
        }
        match add_jobs(&mut conn, &base, &jobs, false).await {
            Ok(replies) if replies.len() == waiters.len() => {
                for (w, r) in waiters.drain(..).zip(replies) {
                    let _ = w.send(Ok(r));
                }
            }
            Ok(replies) => {
                let e = redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "reply count mismatch",
                    format!("{} replies", replies.len()),
                ));
                for w in waiters.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
            }
            Err(e) => {
                for w in waiters.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
            }
        }
        jobs.clear();
    }
}
