// Drives the real Node BullMQ for the Rust interop tests.
// Usage: node driver.mjs '<json>'  where json = {pkg, url, queue, prefix?, cmd, ...}
// Prints one JSON line with the result and exits (every command is bounded in time).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = JSON.parse(process.argv[2]);
const { Queue, Worker, QueueEvents, Job, UnrecoverableError } = require(args.pkg || 'bullmq');
const { default: IORedis } = await import('ioredis');

const url = new URL(args.url);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const prefix = args.prefix || 'bull';
const name = args.queue;
const deadline = Date.now() + (args.timeoutMs || 15000);

// Resolves once the line is flushed: process.exit() would cut a large reply on a pipe.
function out(v) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(v) + '\n', resolve));
}

function jobJson(job) {
  if (!job) return null;
  return {
    id: job.id, name: job.name, data: job.data, opts: job.opts, progress: job.progress,
    attemptsMade: job.attemptsMade, attemptsStarted: job.attemptsStarted, stalledCounter: job.stalledCounter,
    timestamp: job.timestamp, delay: job.delay, priority: job.priority, processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null, returnvalue: job.returnvalue ?? null, failedReason: job.failedReason ?? null,
    stacktrace: job.stacktrace, parentKey: job.parentKey ?? null, parent: job.parent ?? null,
    deduplicationId: job.deduplicationId ?? null, processedBy: job.processedBy ?? null,
  };
}

async function withQueue(fn) {
  const queue = new Queue(name, { connection, prefix });
  try { return await fn(queue); } finally { await queue.close(); }
}

const commands = {
  // {jobs: [{name, data, opts}]} -> {ids}
  async add() {
    return withQueue(async (q) => {
      const ids = [];
      for (const j of args.jobs) ids.push((await q.add(j.name, j.data, j.opts || {})).id);
      return { ids };
    });
  },
  // {ids} -> {jobs: [job json | null]}
  async read() {
    return withQueue(async (q) => {
      const jobs = [];
      for (const id of args.ids) jobs.push(jobJson(await Job.fromId(q, id)));
      return { jobs };
    });
  },
  // {} -> {counts, states?}
  async counts() {
    return withQueue(async (q) => {
      const counts = await q.getJobCounts();
      const states = {};
      for (const id of args.ids || []) states[id] = await q.getJobState(id);
      return { counts, states };
    });
  },
  // {expect: n finished jobs, failTimes?: k (fail the first k attempts of each job),
  //  failOnly?: [job names that fail], unrecoverable?: bool, returnValue?: any, concurrency?: n, delayMs?: processing time}
  async work() {
    const order = [];
    const finished = [];
    let done;
    const allDone = new Promise((r) => { done = r; });
    const worker = new Worker(name, async (job) => {
      order.push({ id: job.id, name: job.name, attemptsMade: job.attemptsMade, at: Date.now() });
      if (args.delayMs) await new Promise((r) => setTimeout(r, args.delayMs));
      const mayFail = !args.failOnly || args.failOnly.includes(job.name);
      if (mayFail && args.failTimes && job.attemptsMade < args.failTimes) {
        if (args.unrecoverable) throw new UnrecoverableError(`fatal ${job.id}`);
        throw new Error(`fail ${job.id} #${job.attemptsMade + 1}`);
      }
      return args.returnValue !== undefined ? args.returnValue : { done: job.id };
    }, { connection, prefix, concurrency: args.concurrency || 1, autorun: false });
    worker.on('completed', (job) => { finished.push({ id: job.id, state: 'completed' }); if (finished.length >= args.expect) done(); });
    worker.on('failed', (job) => {
      if (job && job.finishedOn) { finished.push({ id: job.id, state: 'failed' }); if (finished.length >= args.expect) done(); }
    });
    worker.run();
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
    await allDone;
    clearTimeout(timer);
    await worker.close();
    return { order, finished };
  },
  // {names: [event names], expect: n, lastEventId?} -> {events: [{event, ...fields}]}
  async events() {
    const qe = new QueueEvents(name, { connection, prefix, lastEventId: args.lastEventId || '0-0', autorun: false });
    const events = [];
    let done;
    const enough = new Promise((r) => { done = r; });
    for (const ev of args.names) {
      qe.on(ev, (fields, id) => {
        events.push({ event: ev, id, ...fields });
        if (events.length >= args.expect) done();
      });
    }
    qe.run();
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
    await enough;
    clearTimeout(timer);
    await qe.close();
    events.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { events };
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
