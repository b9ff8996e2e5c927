// Drives the real Node BullMQ for the Rust interop tests.
// Usage: node driver.mjs '<json>'  where json = {pkg, url, queue, prefix?, cmd, ...}
// Prints one JSON line with the result and exits (every command is bounded in time).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = JSON.parse(process.argv[2]);
const { Queue, Worker, QueueEvents, QueueEventsProducer, Job, FlowProducer, UnrecoverableError } = require(args.pkg || 'bullmq');
const { default: IORedis } = await import('ioredis');

const url = new URL(args.url);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const prefix = args.prefix || 'bull';
const name = args.queue;
const deadline = Date.now() + (args.timeoutMs || 15000);

// Every event type QueueEvents emits by name (PROTOCOL.md §10.1).
const EVENT_NAMES = [
  'added', 'waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed',
  'drained', 'paused', 'resumed', 'duplicated', 'deduplicated', 'debounced', 'retries-exhausted',
  'waiting-children', 'cleaned',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `cond` every 20 ms until it holds; throws after `ms`.
async function until(what, ms, cond) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

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
  //  failOnly?: [job names that fail], unrecoverable?: bool, returnValue?: any, concurrency?: n, delayMs?: processing time,
  //  metrics?: maxDataPoints (the worker records metrics)}
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
    }, {
      connection, prefix, concurrency: args.concurrency || 1, autorun: false,
      ...(args.metrics ? { metrics: { maxDataPoints: args.metrics } } : {}),
    });
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
  // {names?: [event names] (default: all of §10.1), custom?: [more names], expect: n, lastEventId?}
  //   -> {events: [{event, id, ...decoded fields}]} in stream order, as Node's QueueEvents hands
  //   them to its listeners ((fields, id), but only (id) for `drained`).
  async events() {
    const qe = new QueueEvents(name, { connection, prefix, lastEventId: args.lastEventId || '0-0', autorun: false });
    const events = [];
    let done;
    const enough = new Promise((r) => { done = r; });
    for (const ev of [...(args.names || EVENT_NAMES), ...(args.custom || [])]) {
      qe.on(ev, (a, b) => {
        events.push(typeof a === 'string' ? { event: ev, id: a } : { event: ev, id: b, ...a });
        if (events.length >= args.expect) done();
      });
    }
    qe.run();
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
    await enough;
    clearTimeout(timer);
    await qe.close();
    // Stream ids compared as numbers ("ms-seq"): as text, "-10" sorts before "-9" when more
    // than ten events share a millisecond.
    const key = (id) => id.split('-').map(BigInt);
    events.sort((a, b) => {
      const [am, as] = key(a.id);
      const [bm, bs] = key(b.id);
      return am !== bm ? (am < bm ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
    });
    return { events };
  },
  // A fixed scenario of Node-side operations: adds of every kind (delayed, prioritized, custom
  // id twice, deduplicated twice, a flow parent with a child), a worker reporting progress (a
  // number, then an object) and a log line on every attempt, failing once with a retry and once
  // unrecoverably, stalling once (it deletes its own lock), completing; then pause, resume,
  // remove and clean; a custom event `node-custom` published last.
  // {metrics?: maxDataPoints} -> {ids, cleaned, finished}
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
      ids.stall = (await q.add('stall', { n: 8 })).id;
      const flow = new FlowProducer({ connection, prefix });
      const tree = await flow.add({ name: 'parent', queueName: name, data: {}, children: [{ name: 'child', queueName: name, data: {} }] });
      await flow.close();
      ids.parent = tree.job.id;
      ids.child = tree.children[0].job.id;
      const redis = new IORedis(connection);
      const active = `${prefix}:${name}:active`;
      let finished = 0;
      let done;
      const allDone = new Promise((r) => { done = r; });
      const worker = new Worker(name, async (job) => {
        await job.updateProgress(50);
        await job.updateProgress({ step: 'two', of: 2 });
        await job.log(`node log for ${job.name}`);
        if (job.name === 'flaky' && job.attemptsMade === 0) throw new Error('flaky once');
        if (job.name === 'fatal') throw new UnrecoverableError('fatal for good');
        if (job.name === 'stall' && job.attemptsStarted === 1) {
          // Lose the lock; the stalled check puts the job back in wait (its finish then fails).
          await redis.del(`${prefix}:${name}:${job.id}:lock`);
          await until('the stall job recovered', 10000, async () => !(await redis.lrange(active, 0, -1)).includes(job.id));
        }
        return { by: 'node', name: job.name };
      }, {
        connection, prefix, concurrency: 3, stalledInterval: 300,
        ...(args.metrics ? { metrics: { maxDataPoints: args.metrics } } : {}),
      });
      worker.on('error', () => {}); // the stalled job's first finish is refused (lock lost)
      // plain, prio, flaky, fatal, custom, dedup, later, stall, child, parent.
      worker.on('completed', () => { if (++finished >= 10) done(); });
      worker.on('failed', (job) => { if (job && job.finishedOn && job.failedReason === 'fatal for good' && ++finished >= 10) done(); });
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      await allDone;
      clearTimeout(timer);
      await worker.close();
      await redis.quit();
      await q.pause();
      await q.resume();
      await q.remove(ids.plain);
      const cleaned = await q.clean(0, 10, 'failed');
      const producer = new QueueEventsProducer(name, { connection, prefix });
      await producer.publishEvent({ eventName: 'node-custom', jobId: ids.prio, colour: 'blue' });
      await producer.close();
      return { ids, cleaned, finished };
    });
  },
  // {id, start?, end?, asc?} -> {logs, count}
  async logs() {
    return withQueue(async (q) => q.getJobLogs(args.id, args.start ?? 0, args.end ?? -1, args.asc ?? true));
  },
  // {type, start, end} -> {metrics}
  async metrics() {
    return withQueue(async (q) => ({ metrics: await q.getMetrics(args.type, args.start, args.end) }));
  },
  // {add: n, maxLenEvents?, skipMetasUpdate?, opts?} -> {added}: adds n jobs from Node. With
  // skipMetasUpdate the Queue leaves meta alone, so its scripts trim to the cap already there.
  async addMany() {
    const streams = args.maxLenEvents ? { events: { maxLen: args.maxLenEvents } } : undefined;
    const queue = new Queue(name, { connection, prefix, streams, skipMetasUpdate: !!args.skipMetasUpdate });
    try {
      for (let i = 0; i < args.add; i++) await queue.add('n', { i }, args.opts || {});
      return { added: args.add };
    } finally { await queue.close(); }
  },
  // {maxLenEvents?} -> {meta: queue.getMeta(), raw: HGETALL meta}. With maxLenEvents, a Queue
  // with that events cap is created first and its meta write awaited (what Node writes).
  async meta() {
    const redis = new IORedis(connection);
    const key = `${prefix}:${name}:meta`;
    const streams = args.maxLenEvents ? { events: { maxLen: args.maxLenEvents } } : undefined;
    const queue = new Queue(name, { connection, prefix, streams, skipMetasUpdate: !args.maxLenEvents });
    try {
      if (args.maxLenEvents) {
        await until('meta written', 5000, async () => (await redis.hget(key, 'opts.maxLenEvents')) === String(args.maxLenEvents));
      }
      return { meta: await queue.getMeta(), raw: await redis.hgetall(key) };
    } finally { await queue.close(); await redis.quit(); }
  },
  // {schedulers: [{id, repeat, template}]} -> {jobs: [job]}: Queue.upsertJobScheduler for each
  // (`repeat.startDate` / `endDate` as ms).
  async upsertSchedulers() {
    return withQueue(async (q) => {
      const jobs = [];
      for (const s of args.schedulers) jobs.push(jobJson(await q.upsertJobScheduler(s.id, s.repeat, s.template)));
      return { jobs };
    });
  },
  // {id?} -> {scheduler} for one id, else {schedulers, count}: getJobScheduler(s), ascending.
  async readSchedulers() {
    return withQueue(async (q) => {
      if (args.id) return { scheduler: (await q.getJobScheduler(args.id)) ?? null };
      return { schedulers: await q.getJobSchedulers(0, -1, true), count: await q.getJobSchedulersCount() };
    });
  },
  // {id} -> {removed}: removeJobScheduler.
  async removeScheduler() {
    return withQueue(async (q) => ({ removed: await q.removeJobScheduler(args.id) }));
  },
  // {ms, concurrency?} -> {runs: [{id, name, data, at}], errors: [text]}: a worker that runs for
  // `ms` and records every job it processes (and every error it emits), then closes.
  async workFor() {
    const runs = [];
    const errors = [];
    const worker = new Worker(name, async (job) => {
      runs.push({ id: job.id, name: job.name, data: job.data, at: Date.now() });
      return { ran: job.id };
    }, { connection, prefix, concurrency: args.concurrency || 1 });
    worker.on('error', (e) => errors.push(String(e && e.message || e)));
    await sleep(args.ms);
    await worker.close();
    return { runs, errors };
  },
  // {name, data?, every, key?} -> {id, repeatJobKey}: a BullMQ 5 legacy repeatable job
  // (Queue.add with `repeat`; `key` as repeat.key, else BullMQ 5 names it by an md5 hash).
  async addLegacyRepeatable() {
    return withQueue(async (q) => {
      const repeat = { every: args.every, ...(args.key ? { key: args.key } : {}) };
      const job = await q.add(args.name, args.data || {}, { repeat });
      return { id: job.id, repeatJobKey: job.repeatJobKey ?? null };
    });
  },
  // {flow} -> {tree: {id, children: [...]}}: FlowProducer.add (queue names as given).
  async flowAdd() {
    const flow = new FlowProducer({ connection, prefix });
    const ids = (node) => ({ id: node.job.id, children: (node.children || []).map(ids) });
    try { return { tree: ids(await flow.add(args.flow)) }; } finally { await flow.close(); }
  },
  // {id, queueName?, depth?} -> {flow}: FlowProducer.getFlow, each node as {name, data, opts
  // (jobId, timestamp and parent left out), state, returnvalue, children}.
  async getFlow() {
    const flow = new FlowProducer({ connection, prefix });
    const shape = async (node) => {
      const { jobId, timestamp, parent, ...opts } = node.job.opts;
      return {
        name: node.job.name, data: node.job.data, opts, state: await node.job.getState(),
        returnvalue: node.job.returnvalue ?? null,
        children: (await Promise.all((node.children || []).map(shape))).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      };
    };
    try {
      const tree = await flow.getFlow({ id: args.id, queueName: args.queueName || name, prefix, depth: args.depth });
      return { flow: await shape(tree) };
    } finally { await flow.close(); }
  },
  // {id} -> {deps, counts}: Job.getDependencies() (whole) and getDependenciesCount().
  async getDependencies() {
    return withQueue(async (q) => {
      const job = await Job.fromId(q, args.id);
      return { deps: await job.getDependencies(), counts: await job.getDependenciesCount() };
    });
  },
  // {ms, concurrency?, failNames?} -> {runs}: a worker whose processor fails jobs named in
  // failNames (unrecoverable), returns for jobs named "parent" the values of their children
  // (getChildrenValues), else {"n": data.n}.
  async workFlow() {
    const runs = [];
    const worker = new Worker(name, async (job) => {
      runs.push({ id: job.id, name: job.name });
      if ((args.failNames || []).includes(job.name)) throw new UnrecoverableError(`${job.name} broke`);
      if (job.name === 'parent') return await job.getChildrenValues();
      return { n: job.data.n ?? null };
    }, { connection, prefix, concurrency: args.concurrency || 4 });
    await sleep(args.ms);
    await worker.close();
    return { runs };
  },
  // {maxLen} -> {removed}: Queue.trimEvents.
  async trimEvents() {
    const queue = new Queue(name, { connection, prefix, skipMetasUpdate: true });
    try { return { removed: await queue.trimEvents(args.maxLen) }; } finally { await queue.close(); }
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
