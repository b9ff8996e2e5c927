//! The `scheduler` workload (bench/RUST_CLIENT.md): S job schedulers, `every` 1 s, phases
//! spread over one second by their start dates; a worker at `--concurrency` runs for a 10 s
//! window, and each iteration's lag (processor entry minus its slot) is recorded.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bullmq::{
    processor, Connection, JobOutcome, JobTemplate, Queue, RepeatOptions, Worker, WorkerEvent, WorkerOptions,
};
use serde_json::{json, Value};

const EVERY_MS: u64 = 1000;
const WINDOW_MS: f64 = 10_000.0;

fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// What setup leaves for the measured phase.
pub(crate) struct Setup {
    first_slots: Vec<u64>,
    worker: Worker,
    events: tokio::sync::mpsc::UnboundedReceiver<WorkerEvent>,
    start_at: u64,
    t1: Arc<AtomicU64>,
    lags: Arc<Mutex<Vec<f64>>>,
    after_window: Arc<AtomicUsize>,
}

/// Upserts the S schedulers (`inflight` at a time), creates the worker (not running), and
/// sleeps until 200 ms before the first slot.
pub(crate) async fn setup(q: &Queue, connection: Connection, s: usize, concurrency: usize, inflight: usize) -> Setup {
    let b = ((wall_ms() as u64 + 1500).div_ceil(1000)) * 1000;
    let next = Arc::new(AtomicUsize::new(0));
    let slots = Arc::new(Mutex::new(vec![0u64; s]));
    let lanes: Vec<_> = (0..inflight.min(s))
        .map(|_| {
            let (q, next, slots) = (q.clone(), next.clone(), slots.clone());
            tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= s {
                        break;
                    }
                    let start = UNIX_EPOCH + Duration::from_millis(b + (k as u64 * 1000) / s as u64);
                    let repeat = RepeatOptions::every(Duration::from_millis(EVERY_MS)).start_date(start);
                    let template = JobTemplate::named("tick").data(json!({ "k": k }));
                    let job = q.upsert_job_scheduler(&format!("s{k}"), repeat, template).await.expect("upsert");
                    let slot = job.id.rsplit(':').next().and_then(|m| m.parse().ok()).expect("slot in the job id");
                    slots.lock().expect("slots")[k] = slot;
                }
            })
        })
        .collect();
    for l in lanes {
        l.await.expect("upsert lane");
    }
    let first_slots = slots.lock().expect("slots").clone();

    let t1 = Arc::new(AtomicU64::new(f64::MAX.to_bits()));
    let lags = Arc::new(Mutex::new(Vec::with_capacity(s * 10)));
    let after_window = Arc::new(AtomicUsize::new(0));
    let (t1c, lagc, afterc) = (t1.clone(), lags.clone(), after_window.clone());
    let work = processor(move |job, _ctx| {
        let now = wall_ms();
        if now < f64::from_bits(t1c.load(Ordering::Relaxed)) {
            let slot: f64 = job.id.rsplit(':').next().and_then(|m| m.parse().ok()).unwrap_or(now);
            lagc.lock().expect("lags").push(now - slot);
        } else {
            afterc.fetch_add(1, Ordering::Relaxed);
        }
        async { Ok(JobOutcome::Completed(Value::Null)) }
    });
    let opts = WorkerOptions::new(connection).concurrency(concurrency).autorun(false);
    let (worker, events) = Worker::spawn(q.name(), work, opts).await.expect("worker tree");
    let lead = (b.saturating_sub(200) as f64 - wall_ms()).max(0.0);
    tokio::time::sleep(Duration::from_micros((lead * 1000.0) as u64)).await;
    Setup { first_slots, worker, events, start_at: b, t1, lags, after_window }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The measured phase: the worker runs for the window, then closes gracefully.
pub(crate) async fn measure(setup: Setup) -> Value {
    let Setup { first_slots, worker, mut events, start_at, t1, lags, after_window } = setup;
    let t0 = wall_ms();
    let end = t0 + WINDOW_MS;
    t1.store(end.to_bits(), Ordering::Relaxed);
    worker.resume();
    let completed = Arc::new(AtomicUsize::new(0));
    let counter = completed.clone();
    let reader = tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if matches!(e, WorkerEvent::JobCompleted { .. }) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    tokio::time::sleep(Duration::from_micros(((end - wall_ms()).max(0.0) * 1000.0) as u64)).await;
    let elapsed_s = (wall_ms() - t0) / 1000.0;
    let closing = wall_ms();
    worker.close(Duration::from_secs(10)).await;
    let close_s = (wall_ms() - closing) / 1000.0;
    reader.abort();

    let mut expected = 0i64;
    let mut backlog = 0;
    for &f in &first_slots {
        let f = f as f64;
        let ceil = |x: f64| (x / EVERY_MS as f64).ceil().max(0.0) as i64;
        if f < t0 {
            backlog += 1;
            expected += 1;
        }
        expected += ceil(end - f) - ceil(t0 - f);
    }
    let mut lags = lags.lock().expect("lags").clone();
    lags.sort_by(|a, b| a.total_cmp(b));
    let iterations = lags.len();
    let mean = if iterations > 0 { lags.iter().sum::<f64>() / iterations as f64 } else { 0.0 };
    json!({
        "elapsed_override": elapsed_s,
        "jobs": iterations,
        "iterations": iterations,
        "expected_iterations": expected,
        "backlog": backlog,
        "after_window": after_window.load(Ordering::Relaxed),
        "completed": completed.load(Ordering::Relaxed),
        "schedulers": first_slots.len(),
        "lead_in_ms": start_at as f64 - t0,
        "close_s": close_s,
        "lag_ms": {"p50": pct(&lags, 50.0), "p95": pct(&lags, 95.0), "p99": pct(&lags, 99.0), "mean": mean,
                   "max": lags.last().copied().unwrap_or(0.0)},
    })
}
