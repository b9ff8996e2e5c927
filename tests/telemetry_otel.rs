//! Trace-context propagation through `tm` against the real Node `bullmq-otel`: a trace started
//! in Node continues in our worker, and a trace started here continues in a Node worker.
#![cfg(feature = "otel")]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use bullmq::{processor, JobOptions, JobOutcome, Worker};
use common::otel_node::otel_node;
use common::*;
use opentelemetry::trace::{SpanKind, TraceContextExt, TracerProvider as _};
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// What an application does once: a tracer provider exporting to memory, the OpenTelemetry
/// layer as the global subscriber, and the W3C propagator Node registers by default.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("telemetry-test"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        exporter
    })
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// Waits for a finished span named `name` whose `bullmq.job.id` is `job_id`.
async fn finished_span(name: &str, job_id: &str) -> SpanData {
    let find = || {
        exporter().get_finished_spans().unwrap().into_iter().find(|s| {
            s.name == name && attr(s, "bullmq.job.id").map(|v| v.as_str().into_owned()) == Some(job_id.to_owned())
        })
    };
    eventually(&format!("span {name} of job {job_id}"), Duration::from_secs(10), || async { find().is_some() }).await;
    find().unwrap()
}

fn node_span<'a>(spans: &'a Value, name: &str) -> &'a Value {
    spans
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("Node exported no span {name}: {spans}"))
}

#[tokio::test]
async fn a_trace_started_in_node_continues_in_our_worker() {
    exporter();
    let q = queue("otel-in").await;
    let produced = otel_node(q.name(), json!({"cmd": "produce", "jobName": "hello", "data": {"n": 1}})).await;
    let job_id = produced["jobId"].as_str().unwrap().to_owned();
    let trace_id = produced["rootTraceId"].as_str().unwrap().to_owned();
    let producer = node_span(&produced["spans"], &format!("add {}.hello", q.name()));
    assert_eq!(producer["kind"], 3, "Node's add span is a producer span");
    assert_eq!(producer["traceId"], trace_id.as_str());

    let work = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!("rust"))) });
    let opts = worker_opts(&q).name("rust-otel");
    let (w, _events) = Worker::spawn(q.name(), work, opts).await.unwrap();
    let consumer = finished_span(&format!("process {}", q.name()), &job_id).await;
    w.close(Duration::from_secs(2)).await;

    assert_eq!(consumer.span_context.trace_id().to_string(), trace_id, "same trace as Node's");
    assert_eq!(consumer.parent_span_id.to_string(), producer["spanId"].as_str().unwrap(), "parent is Node's add span");
    assert!(consumer.parent_span_is_remote);
    assert_eq!(consumer.span_kind, SpanKind::Consumer);
    assert_eq!(attr(&consumer, "bullmq.queue.name").map(|v| v.as_str().into_owned()), Some(q.name().to_owned()));
    assert_eq!(attr(&consumer, "bullmq.worker.name").map(|v| v.as_str().into_owned()), Some("rust-otel".into()));
    assert!(consumer.events.iter().any(|e| e.name == "job completed"), "{:?}", consumer.events);
    println!(
        "otel node->rust: trace={trace_id} node_producer={} rust_consumer={} parent_matches=true",
        producer["spanId"].as_str().unwrap(),
        consumer.span_context.span_id()
    );
}

#[tokio::test]
async fn a_trace_started_here_continues_in_a_node_worker() {
    exporter();
    let q = queue("otel-out").await;
    let root = tracing::info_span!("rust-root");
    let trace_id = root.context().span().span_context().trace_id().to_string();
    let job = q.add("hello", json!({"n": 2}), JobOptions::default()).instrument(root.clone()).await.unwrap();
    drop(root);
    let producer = finished_span(&format!("add {}.hello", q.name()), &job.id).await;
    assert_eq!(producer.span_kind, SpanKind::Producer);
    assert_eq!(producer.span_context.trace_id().to_string(), trace_id);

    // What we stored is what bullmq-otel writes: a JSON carrier with the W3C traceparent.
    let opts: Value = serde_json::from_str(&cmd::<String>(&["HGET", &k(&q, &job.id), "opts"]).await).unwrap();
    let carrier: Value = serde_json::from_str(opts["tm"].as_str().expect("tm stored")).unwrap();
    let traceparent = format!("00-{trace_id}-{}-01", producer.span_context.span_id());
    assert_eq!(carrier, json!({ "traceparent": traceparent }));

    let consumed = otel_node(q.name(), json!({"cmd": "consume", "expect": 1, "timeoutMs": 10000})).await;
    assert_eq!(consumed["processed"][0]["id"], job.id.as_str());
    let consumer = node_span(&consumed["spans"], &format!("process {}", q.name()));
    assert_eq!(consumer["kind"], 4, "Node's process span is a consumer span");
    assert_eq!(consumer["traceId"], trace_id.as_str(), "Node continues our trace");
    assert_eq!(consumer["parentSpanId"], producer.span_context.span_id().to_string().as_str());
    assert_eq!(consumer["attributes"]["bullmq.job.id"], job.id.as_str());

    // A job that opts out carries no context.
    let quiet = JobOptions::default().telemetry(bullmq::job::Telemetry::omit_context());
    let job2 = q.add("quiet", json!({}), quiet).instrument(tracing::info_span!("rust-root-2")).await.unwrap();
    let opts2: Value = serde_json::from_str(&cmd::<String>(&["HGET", &k(&q, &job2.id), "opts"]).await).unwrap();
    assert!(opts2.get("tm").is_none() && opts2["omc"] == true, "{opts2}");
    println!(
        "otel rust->node: trace={trace_id} rust_producer={} node_consumer={} parent_matches=true omitted_context_ok=true",
        producer.span_context.span_id(),
        consumer["spanId"].as_str().unwrap()
    );
}
