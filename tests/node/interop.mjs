// Drives the real Node BullMQ for the events/metrics/logs interop tests.
// Usage: node interop.mjs '<json>'  where json = {pkg, url, queue, prefix?, cmd, ...}
// Prints one JSON line with the result and exits (every command is bounded in time).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = JSON.parse(process.argv[2]);
const { Queue, Worker, QueueEvents, UnrecoverableError } = require(args.pkg || 'bullmq');

const url = new URL(args.url);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const prefix = args.prefix || 'bull';
const name = args.queue;
const timeoutMs = args.timeoutMs || 15000;

// Every event type QueueEvents emits by name (PROTOCOL.md §10.1).
const EVENT_NAMES = [
  'added', 'waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed',
  'drained', 'paused', 'resumed', 'duplicated', 'deduplicated', 'debounced', 'retries-exhausted',
  'waiting-children', 'cleaned',
];

function out(v) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(v) + '\n', resolve));
}

async function withQueue(fn) {
  const queue = new Queue(name, { connection, prefix });
  try { return await fn(queue); } finally { await queue.close(); }
}

const commands = {
  // {expect} -> {events: [{event, id, ...decoded fields}]}: the whole stream as Node's
  // QueueEvents decodes it, in stream order.
  async events() {
    const qe = new QueueEvents(name, { connection, prefix, lastEventId: '0-0', autorun: false });
    const events = [];
    let done;
    const enough = new Promise((r) => { done = r; });
    for (const ev of EVENT_NAMES) {
      // `drained` is emitted with the entry id only; every other event with (fields, id).
      qe.on(ev, (a, b) => {
        events.push(typeof a === 'string' ? { event: ev, id: a } : { event: ev, id: b, ...a });
        if (events.length >= args.expect) done();
      });
    }
    qe.run();
    const timer = setTimeout(done, timeoutMs);
    await enough;
    clearTimeout(timer);
    await qe.close();
    return { events };
  },
  // A fixed scenario of Node-side operations: adds of every kind, a worker reporting progress
  // and logs, failing with a retry and unrecoverably, completing; then pause, resume, remove,
  // clean. {metrics?: maxDataPoints} -> {ids}
  async scenario() {
    return withQueue(async (q) => {
      const ids = {};
      ids.plain = (await q.add('plain', { n: 1 })).id;
      ids.prio = (await q.add('prio', { n: 2 }, { priority: 3 })).id;
      ids.flaky = (await q.add('flaky', { n: 3 }, { attempts: 2, backoff: { type: 'fixed', delay: 100 } })).id;
      ids.fatal = (await q.add('fatal', { n: 4 })).id;
      ids.custom = (await q.add('custom', { n: 5 }, { jobId: 'node-custom' })).id;
      await q.add('custom', { n: 5 }, { jobId: 'node-custom' }); // duplicated
      ids.dedup = (await q.add('dedup', { n: 6 }, { deduplication: { id: 'node-d' } })).id;
      await q.add('dedup', { n: 6 }, { deduplication: { id: 'node-d' } }); // deduplicated
      ids.later = (await q.add('later', { n: 7 }, { delay: 150 })).id;
      let finished = 0;
      let done;
      const allDone = new Promise((r) => { done = r; });
      const worker = new Worker(name, async (job) => {
        await job.updateProgress(50);
        await job.updateProgress({ step: 'two', of: 2 });
        await job.log(`node log for ${job.name}`);
        if (job.name === 'flaky' && job.attemptsMade === 0) throw new Error('flaky once');
        if (job.name === 'fatal') throw new UnrecoverableError('fatal for good');
        return { by: 'node', name: job.name };
      }, { connection, prefix, ...(args.metrics ? { metrics: { maxDataPoints: args.metrics } } : {}) });
      worker.on('completed', () => { if (++finished >= 6) done(); });
      worker.on('failed', (job) => { if (job && job.finishedOn && ++finished >= 6) done(); });
      const timer = setTimeout(done, timeoutMs);
      await allDone;
      clearTimeout(timer);
      await worker.close();
      await q.pause();
      await q.resume();
      await q.remove(ids.plain);
      const cleaned = await q.clean(0, 10, 'failed');
      return { ids, cleaned };
    });
  },
  // {id} -> {logs, count}
  async logs() {
    return withQueue(async (q) => q.getJobLogs(args.id));
  },
  // {type, start, end} -> {metrics}
  async metrics() {
    return withQueue(async (q) => ({ metrics: await q.getMetrics(args.type, args.start, args.end) }));
  },
  // {add: n, maxLenEvents?} -> {added}: adds n jobs from Node.
  async addMany() {
    const queue = new Queue(name, { connection, prefix, streams: { events: { maxLen: args.maxLenEvents || 10000 } } });
    try {
      for (let i = 0; i < args.add; i++) await queue.add('n', { i });
      return { added: args.add };
    } finally { await queue.close(); }
  },
};

try {
  const result = await commands[args.cmd]();
  await out({ ok: true, ...result });
  process.exit(0);
} catch (e) {
  await out({ ok: false, error: String(e && e.stack || e) });
  process.exit(1);
}
