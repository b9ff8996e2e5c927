//! The `tracing` spans and events the library emits, with BullMQ's span and attribute names,
//! seen through a small recording layer (no OpenTelemetry involved).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bullmq::{processor, BulkJob, JobError, JobOptions, JobOutcome, Worker, WorkerOptions};
use common::*;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its name, fields (as text, `Debug` for non-strings) and events.
#[derive(Debug, Clone, Default)]
struct Rec {
    name: String,
    fields: HashMap<String, String>,
    /// (message, fields) of the events emitted inside the span.
    events: Vec<(String, HashMap<String, String>)>,
    parent: Option<u64>,
}

#[derive(Default)]
struct Recorder {
    spans: Mutex<HashMap<u64, Rec>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct RecordLayer(Arc<Recorder>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RecordLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut rec = Rec { name: attrs.metadata().name().to_owned(), ..Default::default() };
        attrs.record(&mut Fields(&mut rec.fields));
        rec.parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.id().into_u64());
        self.0.spans.lock().unwrap().insert(id.into_u64(), rec);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(rec) = self.0.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        if let Some(rec) = self.0.spans.lock().unwrap().get_mut(&span.id().into_u64()) {
            rec.events.push((message, fields));
        }
    }
}

fn recorder() -> &'static Arc<Recorder> {
    static R: OnceLock<Arc<Recorder>> = OnceLock::new();
    R.get_or_init(|| {
        let r = Arc::new(Recorder::default());
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(RecordLayer(r.clone()))).unwrap();
        r
    })
}

/// The recorded spans named `name` whose `bullmq.queue.name` is `queue`.
fn spans(name: &str, queue: &str) -> Vec<Rec> {
    let all = recorder().spans.lock().unwrap();
    all.values()
        .filter(|s| s.name == name && s.fields.get("bullmq.queue.name").map(String::as_str) == Some(queue))
        .cloned()
        .collect()
}

fn span_of_job(name: &str, queue: &str, id: &str) -> Option<Rec> {
    spans(name, queue).into_iter().find(|s| s.fields.get("bullmq.job.id").map(String::as_str) == Some(id))
}

#[tokio::test]
async fn producer_spans_on_add_and_add_bulk() {
    recorder();
    let q = queue("tel-add").await;
    let root = tracing::info_span!("app");
    let job = q.add("welcome", json!({"to": "ada"}), JobOptions::default()).instrument(root.clone()).await.unwrap();
    let add = span_of_job("add", q.name(), &job.id).expect("add span with the job id");
    assert_eq!(add.fields["otel.name"], format!("add {}.welcome", q.name()));
    assert_eq!(add.fields["otel.kind"], "producer");
    assert_eq!(add.fields["bullmq.queue.operation"], "add");
    assert_eq!(add.fields["bullmq.job.name"], "welcome");
    assert_eq!(add.parent, root.id().map(|i| i.into_u64()), "the add span is a child of the caller's span");
    // No OpenTelemetry layer: no context, nothing written to `tm`.
    let opts: serde_json::Value =
        serde_json::from_str(&cmd::<String>(&["HGET", &k(&q, &job.id), "opts"]).await).unwrap();
    assert!(opts.get("tm").is_none(), "{opts}");

    let bulk = vec![
        BulkJob::new("a", json!({}), JobOptions::default()).unwrap(),
        BulkJob::new("b", json!({}), JobOptions::default()).unwrap(),
    ];
    q.add_bulk(bulk).await.unwrap();
    let bulk = spans("addBulk", q.name());
    assert_eq!(bulk.len(), 1);
    assert_eq!(bulk[0].fields["otel.name"], format!("addBulk {}", q.name()));
    assert_eq!(bulk[0].fields["bullmq.job.bulk.count"], "2");
    assert_eq!(bulk[0].fields["bullmq.job.bulk.names"], r#"["a", "b"]"#);

    // A refused add marks its span failed.
    let bad = JobOptions::default().job_id("0");
    assert!(q.add("bad", json!({}), bad).await.is_err());
    let failed: Vec<Rec> =
        spans("add", q.name()).into_iter().filter(|s| s.fields.contains_key("otel.status_code")).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].fields["otel.status_code"], "ERROR");
    assert!(failed[0].fields["otel.status_description"].contains("0"), "{:?}", failed[0].fields);
    let failed = failed.len();
    println!("spans add: add=1 addBulk=1 failed_add_marked={failed}");
}

#[tokio::test]
async fn a_consumer_span_per_job_and_lock_and_stalled_spans() {
    recorder();
    let q = queue("tel-work").await;
    let ok = q.add("slow", json!({}), JobOptions::default()).await.unwrap();
    let bad = q.add("boom", json!({}), JobOptions::default()).await.unwrap();
    let work = processor(|job, _ctx| async move {
        tracing::info!("inside the processor");
        if job.name == "boom" {
            return Err(JobError::new("it broke"));
        }
        // Long enough for a lock renewal (every 500 ms).
        tokio::time::sleep(Duration::from_millis(1300)).await;
        Ok(JobOutcome::Completed(json!({"done": true})))
    });
    let opts = worker_opts(&q)
        .name("tel")
        .concurrency(2)
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(200));
    let (w, _events) = Worker::spawn(q.name(), work, opts).await.unwrap();
    eventually("both jobs finished", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap() == 1 && q.get_failed_count().await.unwrap() == 1
    })
    .await;
    w.close(Duration::from_secs(2)).await;

    let done = span_of_job("process", q.name(), &ok.id).expect("process span of the completed job");
    assert_eq!(done.fields["otel.name"], format!("process {}", q.name()));
    assert_eq!(done.fields["otel.kind"], "consumer");
    assert_eq!(done.fields["bullmq.queue.operation"], "process");
    assert_eq!(done.fields["bullmq.job.name"], "slow");
    assert_eq!(done.fields["bullmq.worker.name"], "tel");
    assert_eq!(done.fields["bullmq.job.attempts.made"], "1");
    assert!(done.fields.contains_key("bullmq.job.processed.timestamp"));
    assert!(done.fields.contains_key("bullmq.job.attempt_finished_timestamp"));
    assert_eq!(done.parent, None, "each job is its own root");
    let messages: Vec<&str> = done.events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(messages, ["inside the processor", "job completed"], "the processor runs inside the span");
    assert_eq!(done.events[1].1["bullmq.job.result"], r#"{"done":true}"#);

    let failed = span_of_job("process", q.name(), &bad.id).expect("process span of the failed job");
    let (msg, fields) = failed.events.last().unwrap();
    assert_eq!((msg.as_str(), fields["bullmq.job.failed.reason"].as_str()), ("job failed", "it broke"));

    let locks = spans("extendLocks", q.name());
    assert!(!locks.is_empty(), "a lock renewal ran while the slow job was active");
    assert_eq!(locks[0].fields["otel.name"], format!("extendLocks {}", q.name()));
    assert!(locks.iter().any(|s| s.fields["bullmq.worker.jobs.to.extend.locks"].contains(&format!("\"{}\"", ok.id))));
    let checks = spans("moveStalledJobsToWait", q.name());
    assert!(!checks.is_empty(), "the stalled checker ran");
    assert_eq!(checks[0].fields["bullmq.worker.name"], "tel");
    println!("spans worker: process=2 extendLocks={} moveStalledJobsToWait={}", locks.len(), checks.len());
}

#[tokio::test]
async fn the_stalled_check_span_names_the_stalled_jobs() {
    recorder();
    let q = queue("tel-stall").await;
    let w = worker_for(&q, WorkerOptions::default().stalled_interval(Duration::from_millis(100))).await;
    let job = q.add("s", json!({}), JobOptions::default()).await.unwrap();
    w.get_next_job("t1", now_only()).await.unwrap().unwrap();
    w.run_stalled_check().await.unwrap();
    cmd::<()>(&["DEL", &k(&q, &format!("{}:lock", job.id)), &k(&q, "stalled-check")]).await;
    assert_eq!(w.run_stalled_check().await.unwrap(), vec![job.id.clone()]);
    let checks = spans("moveStalledJobsToWait", q.name());
    let hit = checks.iter().find(|s| !s.events.is_empty()).expect("a check that moved a job");
    assert_eq!(hit.fields["bullmq.worker.stalled.jobs"], format!("[\"{}\"]", job.id));
    assert_eq!(hit.events[0].0, "job stalled");
    assert_eq!(hit.events[0].1["bullmq.job.id"], job.id);
    println!("spans stalled: checks={} stalled_recorded=1", checks.len());
}

#[tokio::test]
async fn manual_processing_can_run_inside_the_jobs_consumer_span() {
    recorder();
    let q = queue("tel-manual").await;
    let w = worker_for(&q, WorkerOptions::default().name("by-hand")).await;
    let added = q.add("m", json!({}), JobOptions::default()).await.unwrap();
    let job = w.get_next_job("tok", now_only()).await.unwrap().unwrap();
    async {
        tracing::info!("handled by hand");
        job.move_to_completed(json!(null), false).await.unwrap();
    }
    .instrument(bullmq::telemetry::process_span(&job, w.options().name.as_deref()))
    .await;
    let span = span_of_job("process", q.name(), &added.id).expect("process span");
    assert_eq!(span.fields["bullmq.worker.name"], "by-hand");
    assert_eq!(span.events[0].0, "handled by hand");
    println!("spans manual: process=1");
}
