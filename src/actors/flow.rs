//! Flow control: how many jobs a worker holds and when it takes more. Everything that decides
//! it is here, behind a few verbs its children call:
//!
//! - **Slots**: one per unit of concurrency, held by a job from its start until its
//!   acknowledgement is sent (or it ends).
//! - **Jobs held ahead** (`buffer`): taken from Redis before a slot was free, while jobs are
//!   short (see [`FetchAhead`]); locked and renewed like running jobs, handed back at pause,
//!   close and rate limit.
//! - **Parked slots**: slots freed by completions while no job was held ahead. They wait for
//!   the jobs the acknowledgement calls in flight bring (`in_flight`) instead of going back to
//!   the fetcher, so no slot waits for its own call while another call's jobs sit idle; the last
//!   call to return with nothing owed releases them.
//! - **Ran dry**: a completion call whose takes found the queue empty was the fetch for its
//!   slot already; the fetcher may block on the marker at once (see [`Flow::take_ran_dry`]).
//! - **Hold-off**: a processor's rate limit; nothing is taken or started until it is over.
//! - **Running alone**: a job that stalled before runs with nothing beside it (see `alone`);
//!   nothing is taken or started while it waits for the running jobs to end and while it runs.
//! - **Run state**: running, paused or closing.
//!
//! The state that must change together (buffer, parked slots, takes in flight, ran-dry, marker
//! wakes, hold-off, running alone) is one [`Synced`] struct under one lock, as in tokio's multi-thread
//! scheduler's `idle.rs`; the job-time average and the count of unfinished jobs, each on its
//! own, are atomics.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A lock to renew: the job's queue (a fair group's jobs come from many), id and token.
pub(crate) type HeldLock = (std::sync::Arc<crate::keys::QueueKeys>, String, String);

trait HeldLockOf {
    fn of(taken: &Taken) -> HeldLock;
}

impl HeldLockOf for HeldLock {
    fn of(taken: &Taken) -> HeldLock {
        (taken.job.queue_keys().clone(), taken.job.id.clone(), taken.lease.token().to_owned())
    }
}

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::engine::Taken;

/// A concurrency slot.
pub(crate) type Slot = OwnedSemaphorePermit;

/// Jobs that run for less than this on average are short: worth fetching the next ones ahead.
const SHORT_JOB: Duration = Duration::from_millis(2);

/// The weight of the newest job in the running average of job times, as 1/n: a job held up a
/// few ms by the host (a preempted thread on a loaded CI machine) must not turn fetching ahead
/// off, while a run of longer jobs turns it off within a few jobs (one of 16 ms or more at once).
const AVERAGE_OVER: u64 = 8;

/// The average before any job ran: nothing is fetched ahead until one has.
const NO_JOB_YET: u64 = u64::MAX;

/// The most completions sent in one call: bounds the script's run time (Redis serves nobody
/// else meanwhile) and the reply size.
pub(crate) const MAX_BATCH: usize = 128;

/// The running average of job times (µs) after one more job took `sample` µs.
fn next_average(avg: u64, sample: u64) -> u64 {
    if avg == NO_JOB_YET {
        sample
    } else {
        avg - avg / AVERAGE_OVER + sample / AVERAGE_OVER
    }
}

/// Whether the fetcher may take jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    Paused,
    Closing,
}

/// The policy for jobs held ahead of free slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchAhead {
    /// Never (`prefetch: 0`): the worker takes jobs as Node's does, one per free slot.
    Off,
    /// Up to `limit` while the processor averages under [`SHORT_JOB`].
    WhileShort { limit: usize },
}

impl FetchAhead {
    /// `prefetch`, never more than four times the concurrency: a worker then holds at most five
    /// times its concurrency in jobs, and since they are short the last waits a few ms.
    pub(crate) fn new(prefetch: usize, concurrency: usize) -> Self {
        match prefetch.min(4 * concurrency) {
            0 => FetchAhead::Off,
            limit => FetchAhead::WhileShort { limit },
        }
    }

    fn limit(self) -> usize {
        match self {
            FetchAhead::Off => 0,
            FetchAhead::WhileShort { limit } => limit,
        }
    }

    /// Jobs to hold ahead now, given the average job time (µs).
    fn ahead(self, average_us: u64) -> usize {
        match self {
            FetchAhead::WhileShort { limit } if average_us < SHORT_JOB.as_micros() as u64 => limit,
            _ => 0,
        }
    }
}

/// The fields that change together, under [`Flow`]'s one lock.
#[derive(Default)]
struct Synced {
    /// Jobs taken ahead of a free slot, oldest first.
    buffer: VecDeque<Taken>,
    /// Slots freed while no job was held ahead, waiting for the jobs of calls in flight.
    parked: Vec<Slot>,
    /// Jobs the acknowledgement calls in flight asked for (their reply not in yet).
    in_flight: usize,
    /// `(marker wakes when the call was sent, next delayed due ms)` of the last call whose
    /// takes found fewer jobs than asked for.
    ran_dry: Option<(u64, u64)>,
    /// How many times the fetcher came back from blocking on the marker.
    marker_wakes: u64,
    /// No job is taken or started before this (a processor's rate limit).
    held_until: Option<Instant>,
    /// Jobs to run alone (see `WorkerOptions::isolate_stalled_jobs`), waiting or running: while
    /// there is one, nothing else is taken or started.
    isolating: usize,
    /// `(id, token)` of those still waiting for the running jobs to end (renewed meanwhile).
    suspects: Vec<HeldLock>,
}

/// The flow control of one worker.
pub(crate) struct Flow {
    synced: Mutex<Synced>,
    slots: Arc<Semaphore>,
    run: watch::Sender<RunState>,
    policy: FetchAhead,
    /// Slots in all (the concurrency).
    concurrency: usize,
    /// The running average of processor time per job, µs ([`NO_JOB_YET`] before the first).
    average_us: AtomicU64,
    /// Jobs started whose acknowledgement is not sent yet (see [`Unfinished`]).
    unfinished: Arc<AtomicUsize>,
}

/// Counts a job in [`Flow::unfinished`] from its start until its acknowledgement is sent or it
/// ends, whichever comes first.
pub(crate) struct Unfinished(Arc<AtomicUsize>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Flow {
    pub(crate) fn new(concurrency: usize, policy: FetchAhead, running: bool) -> Self {
        let (run, _) = watch::channel(if running { RunState::Running } else { RunState::Paused });
        Flow {
            synced: Mutex::new(Synced::default()),
            slots: Arc::new(Semaphore::new(concurrency)),
            run,
            policy,
            concurrency,
            average_us: AtomicU64::new(NO_JOB_YET),
            unfinished: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(|p| p.into_inner())
    }

    // --- run state ---

    pub(crate) fn run_state(&self) -> RunState {
        *self.run.borrow()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.run_state() == RunState::Running
    }

    /// Sets the run state; a closing worker stays closing. Returns whether it changed.
    pub(crate) fn set_run(&self, to: RunState) -> bool {
        self.run.send_if_modified(|s| {
            let change = *s != to && *s != RunState::Closing;
            if change {
                *s = to;
            }
            change
        })
    }

    pub(crate) fn watch_run(&self) -> watch::Receiver<RunState> {
        self.run.subscribe()
    }

    // --- slots ---

    /// Waits for a free slot.
    pub(crate) async fn slot(&self) -> Option<Slot> {
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Completions per acknowledgement call: half the jobs the worker holds (its slots and those
    /// held ahead), so that with two calls in flight every one is covered, and while Redis runs
    /// one call the client works on the jobs another returned.
    pub(crate) fn batch_cap(&self) -> usize {
        ((self.concurrency + self.policy.limit()) / 2).clamp(1, MAX_BATCH)
    }

    // --- jobs held ahead ---

    /// A job held ahead to start now, oldest first; none while paused, closing or held off.
    pub(crate) fn next_ready(&self) -> Option<Taken> {
        if !self.is_running() {
            return None;
        }
        let mut s = self.lock();
        if held(&s) {
            return None;
        }
        s.buffer.pop_front()
    }

    /// Holds a job taken ahead; gives it back when it must go back to wait instead (the worker
    /// stopped running or is held off).
    pub(crate) fn keep(&self, taken: Taken) -> Option<Taken> {
        if !self.is_running() {
            return Some(taken);
        }
        let mut s = self.lock();
        if held(&s) {
            return Some(taken);
        }
        s.buffer.push_back(taken);
        None
    }

    /// `(id, token)` of the jobs held ahead and of those waiting to run alone, for the lock
    /// renewer.
    pub(crate) fn held_locks(&self) -> Vec<HeldLock> {
        let s = self.lock();
        let held = s.buffer.iter().map(HeldLock::of);
        held.chain(s.suspects.iter().cloned()).collect()
    }

    /// Forgets the job `id` of the queue `keys` held ahead (its lock was lost); false when it
    /// was not held.
    pub(crate) fn forget_held(&self, keys: &crate::keys::QueueKeys, id: &str) -> bool {
        let mut s = self.lock();
        let before = s.buffer.len();
        s.buffer.retain(|t| t.job.id != id || **t.job.queue_keys() != *keys);
        s.buffer.len() != before
    }

    /// Every job held ahead, to hand back to wait (pause, close, rate limit).
    pub(crate) fn drain_held(&self) -> Vec<Taken> {
        self.lock().buffer.drain(..).collect()
    }

    // --- acknowledgement calls and parked slots ---

    /// Parks the slots a call frees and says how many jobs it should take: one per parked slot
    /// and, while jobs are short, enough to hold the fetch-ahead limit, less what is held and
    /// what the calls in flight bring. None unless the worker runs. The call's takes count as in
    /// flight until [`arrived`](Self::arrived).
    pub(crate) fn plan_takes(&self, freed: impl IntoIterator<Item = Slot>) -> usize {
        let mut s = self.lock();
        s.parked.extend(freed);
        if !self.is_running() || held(&s) {
            return 0;
        }
        let ahead = self.policy.ahead(self.average_us.load(Ordering::Relaxed));
        let want = (s.parked.len() + ahead).saturating_sub(s.buffer.len() + s.in_flight).min(MAX_BATCH);
        s.in_flight += want;
        want
    }

    /// The `asked` jobs of a call are in (or will never come). `ran_dry`: the call was sent
    /// when the marker had woken `wakes` times, and its takes found the queue dry with the next
    /// delayed job due then (ms, 0: none).
    pub(crate) fn arrived(&self, asked: usize, wakes: u64, ran_dry: Option<u64>) {
        let mut s = self.lock();
        debug_assert!(s.in_flight >= asked, "more jobs arrived than were asked for");
        s.in_flight -= asked;
        if asked > 0 {
            s.ran_dry = ran_dry.map(|due| (wakes, due));
        }
    }

    /// Pairs jobs held ahead with parked slots, to start them (none while not running or held
    /// off): a job any call brings starts on the first parked slot.
    pub(crate) fn start_parked(&self) -> Vec<(Taken, Slot)> {
        let mut out = Vec::new();
        if !self.is_running() {
            return out;
        }
        let mut s = self.lock();
        if held(&s) {
            return out;
        }
        while !s.parked.is_empty() && !s.buffer.is_empty() {
            let slot = s.parked.pop().expect("checked");
            let job = s.buffer.pop_front().expect("checked");
            out.push((job, slot));
        }
        out
    }

    /// Parked slots go back to the fetcher once no call in flight brings a job for them (or the
    /// worker stopped running): it takes or waits for the next job itself.
    pub(crate) fn release_parked(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 || !self.is_running() || held(&s) {
            // Dropping a slot hands it back to the semaphore (it may wake the fetcher).
            s.parked.clear();
        }
    }

    // --- the marker and ran-dry ---

    /// The fetcher came back from blocking on the marker.
    pub(crate) fn marker_woke(&self) {
        self.lock().marker_wakes += 1;
    }

    /// How many times the fetcher came back from the marker (sent with each call).
    pub(crate) fn marker_wakes(&self) -> u64 {
        self.lock().marker_wakes
    }

    /// Whether the slot the fetcher just got was freed by a call whose takes found the queue
    /// dry, with the next delayed due time (0: none); forgets it. Such a call was the fetch for
    /// this slot already, so the fetcher can block on the marker at once rather than run one
    /// more empty take: a job added since that call ran has set the marker, which is
    /// level-triggered. Only if the fetcher has not popped the marker since the call was sent:
    /// that pop may have been for a job added after the call ran.
    pub(crate) fn take_ran_dry(&self) -> Option<u64> {
        let mut s = self.lock();
        let (wakes, due) = s.ran_dry.take()?;
        (wakes == s.marker_wakes).then_some(due)
    }

    // --- job times and unfinished jobs ---

    /// Records how long a processor ran (the fetch-ahead policy follows the average).
    pub(crate) fn job_ran(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(NO_JOB_YET - 1).min(NO_JOB_YET - 1);
        let _ =
            self.average_us.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| Some(next_average(avg, sample)));
    }

    /// Counts a started job until its acknowledgement is sent (see [`Unfinished`]).
    pub(crate) fn unfinished_job(&self) -> Unfinished {
        self.unfinished.fetch_add(1, Ordering::Relaxed);
        Unfinished(self.unfinished.clone())
    }

    /// Jobs started whose acknowledgement is not sent yet: the acker gives them a few turns to
    /// join a batch.
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Relaxed)
    }

    // --- hold-off ---

    /// Takes and starts nothing for `window` (a processor's rate limit). Returns the jobs held
    /// ahead, which go back to wait.
    pub(crate) fn hold_off(&self, window: Duration) -> Vec<Taken> {
        let mut s = self.lock();
        let until = Instant::now() + window;
        s.held_until = Some(s.held_until.map_or(until, |u| u.max(until)));
        s.buffer.drain(..).collect()
    }

    // --- running alone ---

    /// `taken` is to run alone: from now until [`alone_ended`](Self::alone_ended) nothing else
    /// is taken or started. Returns the jobs held ahead, which go back to wait; None when
    /// another job runs alone or waits to (this one goes back to wait too: waiting here it
    /// would hold a slot the other waits for).
    pub(crate) fn alone_begins(&self, taken: &Taken) -> Option<Vec<Taken>> {
        let mut s = self.lock();
        if s.isolating > 0 {
            return None;
        }
        s.isolating += 1;
        s.suspects.push(HeldLock::of(taken));
        Some(s.buffer.drain(..).collect())
    }

    /// Every slot but the one the job to run alone holds: granted once the running jobs ended
    /// (the semaphore is fair, so the fetcher waits behind this). None when closed.
    pub(crate) async fn other_slots(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_many_owned((self.concurrency - 1) as u32).await.ok()
    }

    /// The job to run alone stopped waiting (it starts, or goes back to wait).
    pub(crate) fn alone_starts(&self, id: &str) {
        self.lock().suspects.retain(|(_, i, _)| i != id);
    }

    /// The job run alone ended (or never started).
    pub(crate) fn alone_ended(&self) {
        let mut s = self.lock();
        s.isolating = s.isolating.saturating_sub(1);
    }

    /// True while a job runs alone or waits to.
    pub(crate) fn is_isolating(&self) -> bool {
        self.lock().isolating > 0
    }

    /// What is left of a hold-off (none when free).
    pub(crate) fn held_for(&self) -> Option<Duration> {
        let s = self.lock();
        s.held_until.map(|u| u.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }
}

/// Nothing is taken or started: a hold-off, or a job running alone.
fn held(s: &Synced) -> bool {
    s.isolating > 0 || s.held_until.is_some_and(|u| Instant::now() < u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Lease;
    use crate::job::{Job, JobOptions};
    use crate::keys::QueueKeys;

    const SHORT: u64 = SHORT_JOB.as_micros() as u64;

    fn after(samples: &[u64]) -> u64 {
        samples.iter().fold(NO_JOB_YET, |avg, s| next_average(avg, *s))
    }

    fn taken(id: &str) -> Taken {
        let keys = Arc::new(QueueKeys::new("bull", "flow").unwrap());
        let job = Job::created(&keys, id.into(), "j".into(), serde_json::json!({}), JobOptions::default(), 0);
        Taken { job, lease: Lease::new(format!("t-{id}")) }
    }

    async fn slots(flow: &Flow, n: usize) -> Vec<Slot> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(flow.slot().await.unwrap());
        }
        v
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

    #[test]
    fn fetch_ahead_is_capped_at_four_times_the_concurrency_and_off_at_zero() {
        assert_eq!(FetchAhead::new(40, 1), FetchAhead::WhileShort { limit: 4 });
        assert_eq!(FetchAhead::new(40, 100), FetchAhead::WhileShort { limit: 40 });
        assert_eq!(FetchAhead::new(0, 10), FetchAhead::Off);
        assert_eq!(FetchAhead::Off.ahead(0), 0);
        assert_eq!(FetchAhead::new(40, 10).ahead(NO_JOB_YET), 0, "nothing ahead before a job ran");
    }

    #[tokio::test]
    async fn a_call_takes_one_job_per_parked_slot_plus_the_fetch_ahead_and_counts_what_is_in_flight() {
        let flow = Flow::new(4, FetchAhead::new(8, 4), true);
        let freed = slots(&flow, 2).await;
        assert_eq!(flow.plan_takes(freed), 2, "before any job ran: one per freed slot");
        flow.job_ran(Duration::from_micros(100));
        assert_eq!(flow.plan_takes([]), 8, "short jobs: the limit ahead, less the 2 in flight");
        assert_eq!(flow.plan_takes([]), 0, "everything wanted is in flight");
        flow.arrived(2, 0, None);
        assert!(flow.keep(taken("a")).is_none());
        assert_eq!(flow.start_parked().len(), 1, "a job brought by any call starts on a parked slot");
        flow.release_parked();
        assert_eq!(flow.start_parked().len(), 0);
        assert_eq!(flow.slots.available_permits(), 3, "one slot still parked");
        flow.arrived(8, 0, Some(0));
        flow.release_parked();
        assert_eq!(flow.slots.available_permits(), 4, "the last call in releases the parked slots");
    }

    #[tokio::test]
    async fn a_paused_or_held_off_worker_takes_and_starts_nothing() {
        let flow = Flow::new(2, FetchAhead::new(4, 2), false);
        flow.job_ran(Duration::from_micros(100));
        assert_eq!(flow.plan_takes([]), 0, "paused");
        assert!(flow.keep(taken("a")).is_some(), "a job taken while paused goes back");
        assert!(flow.set_run(RunState::Running));
        assert!(flow.keep(taken("b")).is_none());
        let back = flow.hold_off(Duration::from_millis(200));
        assert_eq!(back.len(), 1, "held jobs go back to wait");
        assert!(flow.held_for().is_some());
        assert!(flow.next_ready().is_none());
        assert_eq!(flow.plan_takes(slots(&flow, 1).await), 0, "held off");
        assert!(flow.keep(taken("c")).is_some());
        assert!(flow.set_run(RunState::Closing));
        assert!(!flow.set_run(RunState::Running), "closing is final");
    }

    #[tokio::test]
    async fn ran_dry_counts_only_without_a_marker_wake_since_the_call() {
        let flow = Flow::new(1, FetchAhead::Off, true);
        flow.arrived(0, 0, Some(5));
        assert_eq!(flow.take_ran_dry(), None, "a call that took nothing says nothing");
        assert_eq!(flow.plan_takes(slots(&flow, 1).await), 1);
        let wakes = flow.marker_wakes();
        flow.arrived(1, wakes, Some(5));
        assert_eq!(flow.take_ran_dry(), Some(5));
        assert_eq!(flow.take_ran_dry(), None, "taken once");
        flow.arrived(0, wakes, None);
        assert_eq!(flow.plan_takes([]), 1);
        flow.arrived(1, wakes, Some(7));
        flow.marker_woke();
        assert_eq!(flow.take_ran_dry(), None, "the marker woke since the call was sent");
    }
}
