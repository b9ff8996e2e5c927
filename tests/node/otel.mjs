// Node side of the telemetry interop tests: BullMQ 6.7 with bullmq-otel, traced into an
// in-memory exporter of the OpenTelemetry Node SDK (W3C propagator and async context manager
// registered, as an application would).
// Usage: node otel.mjs '<json>'  where json = {url, queue, cmd, ...}
// Prints one JSON line {ok, spans, ...} and exits.
import { Queue, Worker } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { trace } from '@opentelemetry/api';
import { NodeTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';

const args = JSON.parse(process.argv[2]);
const url = new URL(args.url);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const telemetry = new BullMQOtel('otel-interop');

function spans() {
  return exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? null,
    attributes: s.attributes,
  }));
}

const commands = {
  // {jobName, data} -> {jobId, rootTraceId, tm}: one add inside an active span.
  async produce() {
    const queue = new Queue(args.queue, { connection, telemetry });
    try {
      const tracer = trace.getTracer('otel-interop-test');
      const { job, traceId } = await tracer.startActiveSpan('node-root', async (root) => {
        const job = await queue.add(args.jobName, args.data ?? {});
        root.end();
        return { job, traceId: root.spanContext().traceId };
      });
      return { jobId: job.id, rootTraceId: traceId, tm: job.opts.telemetry?.metadata ?? null };
    } finally {
      await queue.close();
    }
  },
  // {expect, timeoutMs} -> {processed: [{id, tm}]}: a traced worker until `expect` jobs are done.
  async consume() {
    const processed = [];
    const worker = new Worker(
      args.queue,
      async (job) => {
        processed.push({ id: job.id, tm: job.opts.telemetry?.metadata ?? null });
        return 'node';
      },
      { connection, telemetry },
    );
    const deadline = Date.now() + (args.timeoutMs || 15000);
    while (processed.length < args.expect && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await worker.close();
    return { processed };
  },
};

try {
  const result = await commands[args.cmd]();
  await provider.forceFlush();
  process.stdout.write(JSON.stringify({ ok: true, ...result, spans: spans() }) + '\n');
  await provider.shutdown();
  process.exit(0);
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e?.stack ?? e) }) + '\n');
  process.exit(1);
}
