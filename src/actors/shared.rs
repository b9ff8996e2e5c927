//! State shared by a worker and its children. It lives outside any one actor so that a child's
//! restart loses nothing: the job registry, the subscribers and the run state survive it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::events::EventBus;
use super::finisher::FinishSender;
use super::job_actor::JobMsg;
use super::processor::Processor;
use crate::job::Job;
use crate::manual::ManualWorker;

/// Jobs that run for less than this on average are short: worth fetching the next ones ahead.
pub(crate) const SHORT_JOB: Duration = Duration::from_millis(2);

/// The weight of the newest job in the running average of job times, as 1/n: a job held up a
/// few ms by the host (a preempted thread on a loaded CI machine) must not turn fetching ahead
/// off, while a run of longer jobs turns it off within a few jobs (one of 16 ms or more at once).
const AVERAGE_OVER: u64 = 8;

/// The running average of job times (µs) after one more job took `sample` µs.
fn next_average(avg: u64, sample: u64) -> u64 {
    if avg == NO_JOB_YET {
        sample
    } else {
        avg - avg / AVERAGE_OVER + sample / AVERAGE_OVER
    }
}

/// [`Shared::job_micros`] before any job ran: nothing is fetched ahead until one has.
pub(crate) const NO_JOB_YET: u64 = u64::MAX;

/// Whether the fetcher may take jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    Paused,
    Closing,
}

/// A running job: its lock token and its actor.
#[derive(Clone)]
pub(crate) struct RunningJob {
    pub(crate) token: String,
    pub(crate) actor: ActorRef<JobMsg>,
}

/// The running jobs, by job id and by job actor id. A job actor registers itself in `pre_start`
/// (before its processor can finish) and the worker removes it when it hears the actor ended,
/// so no entry outlives its actor.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) by_job: HashMap<String, RunningJob>,
    pub(crate) by_actor: HashMap<ActorId, String>,
}

pub(crate) struct Shared {
    pub(crate) manual: ManualWorker,
    pub(crate) processor: Processor,
    pub(crate) events: EventBus,
    pub(crate) registry: Mutex<Registry>,
    /// One permit per concurrency slot; a job actor holds one while it lives.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) run: watch::Sender<RunState>,
    /// How long a cancelled processor may take to stop before it is aborted.
    pub(crate) grace: Duration,
    /// Where job actors send their completions (see `finisher`).
    pub(crate) finisher: FinishSender,
    /// Jobs fetched ahead of free slots (see `WorkerOptions::prefetch`): active and locked in
    /// Redis under their own token, renewed with the running jobs, handed back at pause/close.
    pub(crate) buffer: Mutex<VecDeque<Job>>,
    /// Jobs the finishMany calls in flight asked for (reply not in yet). Changed only under
    /// the `parked` lock, so a call that sees it reach 0 knows no job is on its way.
    pub(crate) prefetching: AtomicUsize,
    /// Slots freed by completed jobs while no job was buffered. They wait here, not in
    /// `slots`, for the jobs the finishMany calls in flight bring: a job any call brings starts
    /// on the first parked slot, so no slot waits for its own call while another call's jobs
    /// sit in the buffer (at concurrency 10 that made Redis and the client take turns). The
    /// last call to return with nothing owed hands what is left to the fetcher.
    pub(crate) parked: Mutex<Vec<OwnedSemaphorePermit>>,
    /// The running average of how long the processor took per job, in µs ([`NO_JOB_YET`]
    /// before the first): fetching ahead pays only while it is under [`SHORT_JOB`].
    pub(crate) job_micros: AtomicU64,
    /// `(marker_wakes when the call was sent, next delayed due ms)` of the last finishMany
    /// whose takes found fewer jobs than asked for. See [`take_ran_dry`](Self::take_ran_dry).
    pub(crate) ran_dry: Mutex<Option<(u64, u64)>>,
    /// How many times the fetcher came back from blocking on the marker.
    pub(crate) marker_wakes: AtomicU64,
    /// Job actors started whose completion has not reached the finisher yet (see
    /// [`Unfinished`]): while there are some, the finisher waits a few turns for them.
    pub(crate) unfinished: Arc<AtomicUsize>,
}

/// Counts a job actor in [`Shared::unfinished`] from its start until it sent its completion to
/// the finisher or ended, whichever comes first.
pub(crate) struct Unfinished(Arc<AtomicUsize>);

impl Unfinished {
    pub(crate) fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Unfinished(count.clone())
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    pub(crate) fn running(&self) -> Vec<(String, RunningJob)> {
        self.registry.lock().map(|r| r.by_job.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub(crate) fn job(&self, id: &str) -> Option<RunningJob> {
        self.registry.lock().ok().and_then(|r| r.by_job.get(id).cloned())
    }

    /// A job fetched ahead, oldest first.
    pub(crate) fn take_buffered(&self) -> Option<Job> {
        self.buffer.lock().ok()?.pop_front()
    }

    /// Keeps a job fetched ahead, unless the worker stopped running meanwhile: then it goes
    /// back to wait.
    pub(crate) fn buffer_job(&self, job: Job) {
        if *self.run.borrow() == RunState::Running && self.held_off() == 0 {
            if let Ok(mut b) = self.buffer.lock() {
                b.push_back(job);
                return;
            }
        }
        tokio::spawn(async move {
            let token = job.token.clone().unwrap_or_default();
            let _ = job.move_to_wait(&token).await;
        });
    }

    /// `(id, token)` of the jobs fetched ahead, for the lock renewer.
    pub(crate) fn buffered_locks(&self) -> Vec<(String, String)> {
        self.buffer
            .lock()
            .map(|b| b.iter().map(|j| (j.id.clone(), j.token.clone().unwrap_or_default())).collect())
            .unwrap_or_default()
    }

    /// Forgets a job fetched ahead (its lock was lost); false when it was not buffered.
    pub(crate) fn drop_buffered(&self, id: &str) -> bool {
        let Ok(mut b) = self.buffer.lock() else { return false };
        let before = b.len();
        b.retain(|j| j.id != id);
        b.len() != before
    }

    /// The most jobs held ahead: `prefetch`, but never more than four times the concurrency,
    /// so a worker holds at most five times its concurrency in jobs waiting or running here
    /// (and those whose completion is on its way to Redis). Jobs are held ahead only while they
    /// average under 2 ms, so the last of them waits at most about 8 ms for a slot.
    pub(crate) fn prefetch_limit(&self) -> usize {
        let o = self.manual.options();
        o.prefetch.min(4 * o.concurrency)
    }

    /// How many jobs a finishMany should take, with `parked` slots waiting for a job: one per
    /// parked slot and, while jobs are short, enough to hold `prefetch_limit` ahead, less
    /// what is buffered and what the calls in flight bring. None unless the worker runs.
    pub(crate) fn jobs_wanted(&self, parked: usize) -> usize {
        if *self.run.borrow() != RunState::Running || self.held_off() > 0 {
            return 0;
        }
        let ahead = if self.job_micros.load(Ordering::Relaxed) < SHORT_JOB.as_micros() as u64 {
            self.prefetch_limit()
        } else {
            0
        };
        let have = self.buffer.lock().map(|b| b.len()).unwrap_or(0) + self.prefetching.load(Ordering::Relaxed);
        (parked + ahead).saturating_sub(have)
    }

    /// What the takes of a finishMany sent when `marker_wakes` was `wakes` found:
    /// `Some(due)` when the queue ran dry.
    pub(crate) fn note_takes(&self, wakes: u64, ran_dry: Option<u64>) {
        if let Ok(mut d) = self.ran_dry.lock() {
            *d = ran_dry.map(|due| (wakes, due));
        }
    }

    /// Whether the slot the fetcher just got was freed by a finish whose takes found the queue
    /// dry, with the next delayed due time (0: none); forgets it. Such a finish was the fetch
    /// for this slot already, so the fetcher can block on the marker at once rather than run
    /// one more empty moveToActive: a job added since that call ran has set the marker, which
    /// is level-triggered. Only if the fetcher has not popped the marker since the call was
    /// sent: that pop may have been for a job added after the call ran.
    pub(crate) fn take_ran_dry(&self) -> Option<u64> {
        let (wakes, due) = self.ran_dry.lock().ok()?.take()?;
        (wakes == self.marker_wakes.load(Ordering::SeqCst)).then_some(due)
    }

    /// Records how long a processor ran, for [`jobs_wanted`](Self::jobs_wanted).
    pub(crate) fn job_ran(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(NO_JOB_YET - 1).min(NO_JOB_YET - 1);
        let _ =
            self.job_micros.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| Some(next_average(avg, sample)));
    }

    /// A processor rate-limited the queue for `ms`: no job is taken (nor started from those
    /// fetched ahead, which go back to wait) until the window is over.
    pub(crate) fn hold_off(self: &Arc<Self>, ms: u64) {
        self.manual.set_rate_limited(ms);
        let shared = self.clone();
        tokio::spawn(async move { shared.return_buffered().await });
    }

    /// Milliseconds the worker is still held off by a rate limit (0: none).
    pub(crate) fn held_off(&self) -> u64 {
        self.manual.rate_limit_ttl()
    }

    /// Hands the jobs fetched ahead back to wait (pause, close): nothing runs them here.
    pub(crate) async fn return_buffered(&self) {
        let jobs: Vec<Job> = self.buffer.lock().map(|mut b| b.drain(..).collect()).unwrap_or_default();
        for job in jobs {
            let token = job.token.clone().unwrap_or_default();
            let _ = job.move_to_wait(&token).await;
        }
    }

    pub(crate) fn register(&self, id: &str, job: RunningJob) {
        if let Ok(mut r) = self.registry.lock() {
            r.by_actor.insert(job.actor.get_id(), id.to_owned());
            r.by_job.insert(id.to_owned(), job);
        }
    }

    /// Forgets the job actor `actor`; returns its job id when it was one.
    pub(crate) fn unregister(&self, actor: ActorId) -> Option<String> {
        let mut r = self.registry.lock().ok()?;
        let id = r.by_actor.remove(&actor)?;
        // The same job may already run again here (stalled, re-fetched): keep that entry.
        if r.by_job.get(&id).is_some_and(|j| j.actor.get_id() == actor) {
            r.by_job.remove(&id);
        }
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: u64 = SHORT_JOB.as_micros() as u64;

    fn after(samples: &[u64]) -> u64 {
        samples.iter().fold(NO_JOB_YET, |avg, s| next_average(avg, *s))
    }

    #[test]
    fn the_first_job_sets_the_average() {
        assert_eq!(after(&[50]), 50);
        assert!(after(&[5_000]) >= SHORT, "a first long job: nothing fetched ahead");
    }

    #[test]
    fn a_job_held_up_a_few_ms_among_short_ones_keeps_fetching_ahead() {
        let mut jobs = vec![50; 20];
        jobs.push(12_000);
        assert!(after(&jobs) < SHORT, "{}", after(&jobs));
    }

    #[test]
    fn a_run_of_longer_jobs_turns_it_off_within_a_few_jobs_and_short_ones_back_on() {
        let mut jobs = vec![50; 20];
        let switched = (1..=20).find(|k| after(&[jobs.clone(), vec![3_000; *k]].concat()) >= SHORT);
        assert!(matches!(switched, Some(k) if k <= 10), "{switched:?}");
        jobs.extend([100_000]);
        assert!(after(&jobs) >= SHORT, "one job of 100 ms switches it off at once");
        let back = (1..=40).find(|k| after(&[jobs.clone(), vec![50; *k]].concat()) < SHORT);
        assert!(matches!(back, Some(k) if k <= 30), "{back:?}");
    }
}
