// Generates tests/golden/cron.jsonl: what cron-parser 5.10.3 (the version BullMQ 6.7.0 pins)
// answers for cron patterns, time zones and start instants, for tests/cron_golden.rs to check
// our evaluator against, occurrence by occurrence.
//
//   cd tests/node && npm install && node cron_golden.mjs > ../golden/cron.jsonl
//
// Deterministic: a seeded generator, no clock. `--seed N --scale K` makes another, larger file
// for local soak runs (CRON_GOLDEN=path cargo test --features testing --test cron_golden).
//
// Lines (JSON, one per line):
//   {"meta": {...}}                                  versions and the zones' DST transitions
//   {"p", "tz", "t", "it", "fr"?, "dst"?, "kind"}    a valid case: pattern, zone (null = none),
//       start instant (ms); "it": up to 5 occurrences from ONE iterator (next() called 5 times;
//       shorter when next() threw); "fr": the fresh-parse chain (each next() from a new parse at
//       the previous occurrence, as a scheduler computes iterations), present only where it
//       differs from "it"; "dst": the transition the start instant was picked around; "kind":
//       "fuzz" marks a mutated pattern cron-parser accepts, which we may refuse instead.
//   {"p", "tz", "t", "start", "end", "w", "kind": "within"}   startDate/endDate given (BullMQ's
//       repeat options): the fresh-parse chain of up to 3 occurrences, shorter when next() threw.
//   {"p", "tz", "invalid": "node" | "ours", "why"}   "node": cron-parser refuses the pattern
//       ("why" is its message); "ours": cron-parser accepts it but we refuse it on purpose
//       (syntax whose meaning we do not reproduce), "why" says what cron-parser read.

import { createRequire } from 'node:module';

process.env.TZ = 'UTC'; // cron-parser evaluates tz-less patterns in the process zone; ours: UTC
const require = createRequire(import.meta.url);
const { CronExpressionParser } = require('cron-parser');
const { DateTime, IANAZone } = require('luxon');
const cronParserVersion = require('cron-parser/package.json').version;
const luxonVersion = require('luxon/package.json').version;
if (cronParserVersion !== '5.10.3') throw new Error(`expected cron-parser 5.10.3, found ${cronParserVersion}`);
if (new Date(0).getTimezoneOffset() !== 0) throw new Error('the process zone is not UTC');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SEED = option('--seed', 20260701);
const SCALE = option('--scale', 1);

// xorshift32, seeded: a small generator of our own so the file is reproducible.
let state = SEED >>> 0 || 1;
function random() {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)); // inclusive
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

const HOUR = 3600e3;
const MINUTE = 60e3;

// Zones: UTC, none, fixed offsets of odd sizes, and DST of every kind: 1 h at 02:00 and 01:00
// local (US, EU), southern hemisphere (Sydney, Santiago, Auckland), 30 min (Lord Howe), at 02:45
// (Chatham), at midnight (Santiago, Havana, Beirut), 2 h (Troll), Dublin's negative DST, Casablanca's
// Ramadan suspension, Newfoundland's -03:30. ICU here (tz 2025c) and chrono-tz 0.10.4 (tzdata 2025b)
// agree on every transition of every zone from 2020 to 2035, so none had to be avoided.
const ZONES = [
  null,
  'UTC',
  'America/New_York',
  'America/Los_Angeles',
  'Europe/London',
  'Europe/Berlin',
  'Europe/Dublin',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Auckland',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Tokyo',
  'America/Sao_Paulo',
  'America/Santiago',
  'America/Havana',
  'Asia/Beirut',
  'Antarctica/Troll',
  'America/St_Johns',
  'Africa/Casablanca',
];

const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2029, 0, 1);

function offsetAt(zone, ts) {
  return zone.offset(ts);
}

// Every offset change of `name` in [FROM, TO): hourly scan, then bisection to the second.
const transitionCache = new Map();
function transitions(name) {
  if (!transitionCache.has(name)) transitionCache.set(name, scanTransitions(name));
  return transitionCache.get(name);
}

function scanTransitions(name) {
  const zone = IANAZone.create(name);
  const found = [];
  let before = offsetAt(zone, FROM);
  for (let t = FROM; t < TO; t += HOUR) {
    const after = offsetAt(zone, t + HOUR);
    if (after !== before) {
      let lo = t;
      let hi = t + HOUR;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (offsetAt(zone, mid) === before) lo = mid;
        else hi = mid;
      }
      found.push({ at: hi, from: before, to: after });
      before = after;
    }
  }
  return found;
}

function parse(pattern, tz, extra = {}) {
  // A fixed hash seed keeps the file reproducible where a pattern has `H` (refused by us anyway;
  // without a seed cron-parser draws from Math.random()). It changes nothing else.
  const options = { hashSeed: 'cron_golden', ...extra };
  if (tz !== null) options.tz = tz;
  return CronExpressionParser.parse(pattern, options);
}

// Up to n occurrences from one iterator.
function iterate(pattern, tz, t, n = 5) {
  const it = parse(pattern, tz, { currentDate: new Date(t) });
  const out = [];
  for (let i = 0; i < n; i++) {
    try {
      out.push(it.next().getTime());
    } catch {
      break;
    }
  }
  return out;
}

// Up to n occurrences, each from a new parse at the previous one (a scheduler's iterations).
function fresh(pattern, tz, t, n = 5, bounds = {}) {
  const out = [];
  let at = t;
  for (let i = 0; i < n; i++) {
    try {
      at = parse(pattern, tz, { currentDate: new Date(at), ...bounds }).next().getTime();
      out.push(at);
    } catch {
      break;
    }
  }
  return out;
}

function accepts(pattern, tz) {
  try {
    parse(pattern, tz, { currentDate: new Date(FROM) });
    return null;
  } catch (e) {
    return e.message;
  }
}

const lines = [];
const seen = new Set();
let invalidCount = 0;

function emitCase(pattern, tz, t, kind, extra = {}) {
  const key = `${pattern}|${tz}|${t}`;
  if (seen.has(key)) return;
  seen.add(key);
  const refused = accepts(pattern, tz);
  if (refused !== null) {
    emitInvalid(pattern, tz, 'node', refused);
    return;
  }
  const it = iterate(pattern, tz, t);
  const fr = fresh(pattern, tz, t);
  const line = { p: pattern, tz, t, it };
  if (JSON.stringify(fr) !== JSON.stringify(it)) line.fr = fr;
  Object.assign(line, extra, { kind });
  lines.push(JSON.stringify(line));
}

const invalidSeen = new Set();
function emitInvalid(pattern, tz, who, why) {
  const key = `${pattern}|${tz}`;
  if (invalidSeen.has(key)) return;
  invalidSeen.add(key);
  invalidCount++;
  lines.push(JSON.stringify({ p: pattern, tz, invalid: who, why }));
}

// ---- Patterns ---------------------------------------------------------------------------------

// Every syntax we accept, alone and mixed.
const SYNTAX = [
  '* * * * *', '* * * * * *', '*/5 * * * *', '0 */2 * * *', '10-50/7 * * * *', '5/15 * * * *',
  '0 9-17 * * 1-5', '30 8 * * mon-fri', '0 0 1 * *', '0 0 L * *', '0 12 L * *', '0 0 1,15,L * *',
  '0 0 L,1 * *', '0 0 * * 5L', '0 0 * * 7L', '0 0 * * 0L', '30 6 * * 1L', '0 0 * * 1,5L',
  '0 0 * * 3L,6L', '0 0 * * 0#2', '0 0 * * 7#1', '0 0 * * 1#5', '0 0 * * mon#3', '0 0 * * FRI#5',
  '0 0 * * 1#02', '0 0 * * *#2', '0 0 * * ?#4', '0 0 ? * 1', '0 0 * ? *', '0 0 13 * 5',
  '0 0 13 * fri', '0 0 1-7 * 1', '0 0 */10 * 0,6', '0 0 L * 5L', '0 0 L 2 *', '0 0 29 2 *',
  '0 0 29 2 1', '0 0 31 * *', '0 0 31 2,4 *', '0 0 31 4,6,9,11 *', '0 0 30 2 1', '0 0 31 2 sun',
  '0 0 * JAN,jul *', '0 0 1 jan-mar,oct-DEC *', '0 0 1 */3 *', '0 0 1 2/5 *', '0 0 1 feb/3 *',
  '0 0 * * 5-7', '0 0 * * 6-7', '0 0 * * 0-7', '0 0 * * 1-7/2', '0 0 * * */2', '0 0 * * */8',
  '0 0 * * 7', '0 0 * * sun,sat', '0 0 * * SUN-WED', '0 0 * * Tue', '0 0 * * 5/1', '0 0 * * 7/2',
  '*/10 * * * * *', '0 */7 * * * *', '15,45 */20 9-17/2 * * *', '? ? ? ? ? ?', '0 0 0 * * ?',
  '59 59 23 31 12 *', '0 0 0 29 2 *', '0,30 * * * * *', '1-59/2 * * * * *', '0 5/15 * * * *',
  '00 07 * * *', '0 0 01 01 *', '@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly',
  '@minutely', '@secondly', '@weekdays', '@weekends', '  0  0 * * *  ', '0\t0\t*\t*\t*',
  '0 0 * * 1,3,5', '0 0 1-10/3,20-25 * *', '*/15 2 * * *', '30 2 * * *', '30 1 * * *',
  '0 1-3 * * *', '0 0 * * 1#1', '0 0 1 * 1', '0 0 * 1 1#1', '0 0 25 12 *', '0 22 * * 1-5',
  '0 0,12 1 */2 *', '0 0 15 * 5L', '0 0 L * 0#1', '0 0 */2 * *', '0 0 2-30/2 * *', '*/2 * * * *',
  '0 0-22 * * *', '0 1-23 * * *', '0 0 * * ?', '0 0 ? * ?', '*/30 * * * * *', '0 0 1 1 *',
  '0 0 1 1 ?', '0 0 * * 0', '0 0 ?/5 * *', '*/59 */59 */23 */31 */12 */7', '59 23 * * 6',
  '0 12 * * 3#4', '0 12 * 2 4#5', '0 0 * 2 1#5', '0 0 0 L 2 *', '0 30 * * * *',
  '0 0 * * 2-4,6', '0 0 */2,2 * *', '0 0 31,30-31 4 *', '0 0 21,25-31,31 11 *', '0 0 * * 7L,0L',
  '0 0 L,31,31 4 *', '0 0 30,31,31 4 *', `0 0 L,${Array(128).fill('30,31').join(',')} 2 *`, '0 0 * * 7-7',
  '0 0 * * 0-0', '0 0 * * 7/1', '0 0 * * 6-7/1', '0 0 1 * 0#5', '0 0 L * 7L', '1,2,3,5,8,13,21,34,55 * * * *', '0 0 10-20 * 1-3', '0 8-18/3 1-15 * *',
];

// Accepted by cron-parser, refused by us on purpose; `why` is what cron-parser reads.
const OURS = [
  ['', 'the empty pattern: every minute'],
  ['* * * *', '4 fields: seconds 0 and minutes * prepended'],
  ['5', '1 field: every minute on Fridays'],
  ['1 2', '2 fields: every minute of Tuesdays in January'],
  ['H * * * *', 'hashed minute drawn from Math.random()'],
  ['H(0-5) * * * *', 'hashed minute 0-5'],
  ['0 0 * * H', 'hashed weekday'],
  ['0 H/2 * * *', 'hashed step'],
  ['1-2-3 * * * *', 'minutes 1-2'],
  ['0 0 1-5-3 * *', 'days 1-5'],
  ['*-5 * * * *', 'minutes 0-59'],
  ['0 0 1 mon *', 'month 1 (a weekday name in the month field)'],
  ['0 0 * * jan', 'weekday 1 (a month name in the weekday field)'],
  ['0 0 * 1jan *', 'month 11 (names replaced inside numbers)'],
  ['0 0 * janfeb *', 'month 12'],
  ['0 0 5L * *', 'the last day of the month'],
  ['0 0 * * 8L', 'the last Monday (8 % 7)'],
  ['0 0 * * 05L', 'the last Sunday (first digit only)'],
  ['0 0 * * 10L', 'the last Monday (first digit only)'],
  ['0 0 * * 5L#2', 'the last Friday, #2 ignored'],
  ['0 0 * * 5L-7', 'Friday to Sunday'],
  ['0 0 * * 5L/2', 'Friday and Sunday'],
  ['0 0 * * friL', 'the last Friday'],
  ['0 0 * * 1#2.0', 'the second Monday'],
  ['0 0 * * 1#0x2', 'the second Monday'],
  ['0 0 * * mon-fri-sat', 'Monday to Friday'],
  ['0\u00a00 * * * *', 'a no-break space between fields'],
  ['0 0 * * *\u3000', 'a trailing ideographic space'],
];

// Refused by cron-parser (the script checks it).
const NODE = [
  '0 0 15W * *', '0 0 LW * *', '0 0 W * *', '0 0 0 1 1 * 2027', '* * * * * * *', '0 0 1 1 * 2027',
  '60 * * * *', '* 24 * * *', '* * 0 * *', '* * 32 * *', '* * * 0 *', '* * * 13 *', '* * * * 8',
  '5-1 * * * *', '*/0 * * * *', '1,1 * * * *', '0 0 * * 0,7', '0 0 * * 5-7,0', '0 0 * * 1-7,7',
  '0 0 30 2 *', '0 0 31 4 *', '0 0 31 6 *', '0 0 30,31 2 *', '0 0 31 11 ?', '0 0 * * L',
  '0 0 * * 1,L', '0 0 * * 1#6', '0 0 * * 1#0', '0 0 * * 1#2,3', '0 0 * * 1-2#2', '0 0 * * 1/2#2',
  '0 0 * * 1#2#3', '0 0 * * 7#', '0 0 * * #2', '0 0 L-2 * *', '0 0 L/2 * *', '0 L * * *',
  'L * * * *', 'a * * * *', '0 0 * * monday', '0 0 * FOO *', '1.5 * * * *', '-1 * * * *',
  '1- * * * *', '/5 * * * *', '5/ * * * *', '1,,2 * * * *', ',1 * * * *', '1, * * * *',
  '*/5/2 * * * *', '@DAILY', '@every 5m', ' @daily', '@daily ', '   ', '0 0 * * 1L5', '** * * * *',
  '0 0 ? * ? 2024', '0 0 * * * * * *', '*/-1 * * * *', '+1 * * * *', '0 0 * * sunday',
  '0 0 * * 1 # 2', '0 0 l * *', '0 0 * * 5l', '0 0 * * mon#', '99999999999999999999 * * * *',
  '0-59,30 * * * *', '0 0 1,1-3 * *', '0 0 31,31 4 *', '0 0 31,31 4,5 *',
  `0 0 L,${Array(129).fill('30,31').join(',')} 2 *`, '0 0 0 * * 0,0', '0 0 * * 6-7,0',
];

// Patterns for the instants around a transition: every hour field shape the walk treats
// differently (all 24 hours or not, the hour before / after / inside the change).
function dstPatterns(name, tr) {
  const local = (ts) => DateTime.fromMillis(ts, { zone: name });
  const before = local(tr.at - 1000);
  const after = local(tr.at);
  const hb = before.hour;
  const ha = after.hour;
  const list = [
    '0 * * * *', '30 * * * *', '*/15 * * * *', '* * * * *', '0 0-22 * * *', '*/20 0-5 * * *',
    '0 */2 * * *', '30 2 * * *', '30 1 * * *', '0 2 * * *', '15 1,2,3 * * *', '0 0 * * *',
    '0 30 * * * *', '*/30 * * * * *', '0 0,1,2,3 * * *', '0 23 * * *', '30 0 * * *', '*/10 1-3 * * *',
    `0 ${hb} * * *`, `30 ${hb} * * *`, `0 ${ha} * * *`, `45 ${ha} * * *`, `*/15 ${hb} * * *`,
    `0 ${hb},${ha} * * *`, `0 ${(hb + 1) % 24} * * *`, `59 59 ${hb} * * *`, `0 0 ${ha} * * *`,
    `0 0 * * ${after.weekday % 7}`, `0 ${after.minute} ${ha} ${after.day} * *`, `*/10 ${ha} * * *`,
    ...skippedHourPatterns(hb, ha),
  ];
  return [...new Set(list)];
}

// The hours a spring-forward skips entirely (02 for 01:59:59 -> 03:00), with several minutes
// each: an iterator keeps the gap in mind between calls, a fresh parse does not.
function skippedHours(hb, ha) {
  const hours = [];
  for (let h = (hb + 1) % 24; h !== ha; h = (h + 1) % 24) hours.push(h);
  return hours.length < 4 ? hours : [];
}

function skippedHourPatterns(hb, ha) {
  return skippedHours(hb, ha).flatMap((h) => [
    `*/15 ${h} * * *`, `0,30 ${h} * * *`, `*/20 ${h}-${Math.max(h, ha)} * * *`, `*/30 * ${h} * * *`,
    `5,10 ${h},${(h + 5) % 24} * * *`,
  ]);
}

// ---- A generator of valid-looking patterns (our grammar) -------------------------------------

const KINDS = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  day: [1, 31],
  month: [1, 12],
  weekday: [0, 7],
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const casing = (s) => pick([s, s.toUpperCase(), s[0].toUpperCase() + s.slice(1)]);

function valueText(kind, v) {
  if (kind === 'month' && chance(0.3)) return casing(MONTHS[v - 1]);
  if (kind === 'weekday' && v < 7 && chance(0.3)) return casing(DAYS[v]);
  return String(v);
}

function item(kind) {
  const [lo, hi] = KINDS[kind];
  const r = random();
  if (kind === 'day' && r < 0.06) return 'L';
  if (kind === 'weekday' && r < 0.08) return `${int(0, 7)}L`;
  if (r < 0.4) return valueText(kind, int(lo, hi));
  if (r < 0.6) {
    const a = int(lo, hi - 1);
    return `${valueText(kind, a)}-${valueText(kind, int(a + 1, hi))}`;
  }
  if (r < 0.7) return `*/${int(1, Math.max(2, hi - lo))}`;
  if (r < 0.8) return `${valueText(kind, int(lo, hi))}/${int(1, hi - lo + 2)}`;
  const a = int(lo, hi - 1);
  return `${a}-${int(a + 1, hi)}/${int(1, hi - lo)}`;
}

function field(kind) {
  const r = random();
  const wildcardWeight = { second: 0.3, minute: 0.15, hour: 0.35, day: 0.45, month: 0.55, weekday: 0.55 }[kind];
  if (r < wildcardWeight) return chance(0.85) ? '*' : '?';
  if (kind === 'weekday' && chance(0.12)) {
    return `${chance(0.15) ? '*' : valueText(kind, int(0, 7))}#${int(1, 5)}`;
  }
  const n = chance(0.65) ? 1 : int(2, 3);
  const items = [];
  for (let i = 0; i < n; i++) items.push(item(kind));
  return items.join(',');
}

function randomPattern() {
  const parts = ['minute', 'hour', 'day', 'month', 'weekday'].map(field);
  if (chance(0.35)) parts.unshift(field('second'));
  return parts.join(' ');
}

function randomInstant() {
  const t = int(Date.UTC(2024, 0, 1) / 1000, Date.UTC(2031, 0, 1) / 1000) * 1000;
  const r = random();
  if (r < 0.35) return t - (t % MINUTE);
  if (r < 0.7) return t + int(1, 999);
  return t;
}

// ---- The cases ---------------------------------------------------------------------------------

const meta = {
  cron_parser: cronParserVersion,
  luxon: luxonVersion,
  node: process.versions.node,
  icu_tz: process.versions.tz,
  seed: SEED,
  scale: SCALE,
  zones: ZONES,
  transitions: {},
};
for (const name of ZONES) {
  if (name === null || name === 'UTC') continue;
  const list = transitions(name);
  if (list.length > 0) meta.transitions[name] = list.map((tr) => tr.at);
}
lines.push(JSON.stringify({ meta }));

// 1. Around every DST transition of every zone, 2026-2028.
for (const name of ZONES) {
  if (name === null || name === 'UTC') continue;
  for (const tr of transitions(name)) {
    const patterns = dstPatterns(name, tr);
    const offsets = [-3 * HOUR, -HOUR - 1, -HOUR + 1, -30 * MINUTE, -MINUTE, -1000, -1, 0, 1, 999,
      30 * MINUTE, HOUR - 1000, HOUR, HOUR + 1, 90 * MINUTE, 2 * HOUR, 3 * HOUR, -24 * HOUR];
    // A fixed core (the plain hourly / daily shapes from just before the change) ...
    const hb = DateTime.fromMillis(tr.at - 1000, { zone: name }).hour;
    const ha = DateTime.fromMillis(tr.at, { zone: name }).hour;
    const core = ['0 * * * *', '0 0-22 * * *', '30 2 * * *', '30 1 * * *', `0 ${hb} * * *`, ...skippedHourPatterns(hb, ha).slice(0, 2)];
    for (const p of core) {
      emitCase(p, name, tr.at - HOUR - 1, 'dst', { dst: tr.at });
    }
    // ... and a seeded sample of pattern x instant.
    const picks = Math.round(26 * SCALE);
    for (let i = 0; i < picks; i++) {
      emitCase(pick(patterns), name, tr.at + pick(offsets), 'dst', { dst: tr.at });
    }
  }
}

// 2. Every syntax, in a few zones, from a few instants (some exactly on an occurrence).
for (const p of SYNTAX) {
  for (let i = 0; i < Math.max(1, Math.round(3 * SCALE)); i++) {
    const tz = pick(ZONES);
    let t = randomInstant();
    if (i === 1 && accepts(p, tz) === null) {
      const first = iterate(p, tz, t, 1)[0];
      if (first !== undefined) t = first;
    }
    emitCase(p, tz, t, 'syntax');
  }
}

// 3. Random patterns of our grammar, random zones and instants.
for (let i = 0; i < Math.round(1800 * SCALE); i++) {
  const p = randomPattern();
  const tz = pick(ZONES);
  let t = randomInstant();
  if (chance(0.25) && accepts(p, tz) === null) {
    const first = iterate(p, tz, t, 1)[0];
    if (first !== undefined) t = first;
  }
  emitCase(p, tz, t, 'random');
}

// 4. Mutated patterns: whatever cron-parser refuses we must refuse; what it accepts we either
//    refuse or answer alike ("kind": "fuzz").
const FUZZ_CHARS = '0123456789*?,-/#LWH @jJaAnNmMoOfFrRiIsStTuUeEcCpPgGlL\t';
for (let i = 0; i < Math.round(700 * SCALE); i++) {
  const chars = [...pick(SYNTAX)];
  for (let n = int(1, 3); n > 0; n--) {
    const c = pick([...FUZZ_CHARS]);
    const at = int(0, chars.length);
    const r = random();
    if (r < 0.4 && chars.length > 0) chars[Math.min(at, chars.length - 1)] = c;
    else if (r < 0.7 && chars.length > 0) chars.splice(Math.min(at, chars.length - 1), 1);
    else chars.splice(at, 0, c);
  }
  const p = chars.join('');
  const tz = pick(ZONES);
  const why = accepts(p, tz);
  if (why !== null) emitInvalid(p, tz, 'node', why);
  else emitCase(p, tz, randomInstant(), 'fuzz');
}

// 5. startDate / endDate, as BullMQ's repeat options pass them (Date objects).
for (let i = 0; i < Math.round(320 * SCALE); i++) {
  const p = chance(0.5) ? pick(SYNTAX) : randomPattern();
  const tz = pick(ZONES);
  if (accepts(p, tz) !== null) continue;
  const t = randomInstant();
  const occ = iterate(p, tz, t, 3);
  const around = (base) => base + pick([-7 * 24 * HOUR, -HOUR, -1000, -1, 0, 1, 1000, HOUR, 24 * HOUR, 30 * 24 * HOUR]);
  const anchor = () => (occ.length > 0 && chance(0.5) ? pick(occ) : t);
  const start = chance(0.7) ? around(anchor()) : null;
  let end = chance(0.7) ? around(anchor()) : null;
  if (start !== null && end !== null && end < start && chance(0.7)) end = null;
  const bounds = {};
  if (start !== null) bounds.startDate = new Date(start);
  if (end !== null) bounds.endDate = new Date(end);
  const w = fresh(p, tz, t, 3, bounds);
  const key = `${p}|${tz}|${t}|${start}|${end}`;
  if (seen.has(key)) continue;
  seen.add(key);
  lines.push(JSON.stringify({ p, tz, t, start, end, w, kind: 'within' }));
}

// 6. Refusals.
for (const p of NODE) {
  const why = accepts(p, 'UTC');
  if (why === null) throw new Error(`cron-parser accepts ${JSON.stringify(p)}, listed as refused`);
  emitInvalid(p, 'UTC', 'node', why);
}
for (const [p, reading] of OURS) {
  const why = accepts(p, 'UTC');
  if (why !== null) throw new Error(`cron-parser refuses ${JSON.stringify(p)} (${why}), listed as accepted`);
  emitInvalid(p, 'UTC', 'ours', `cron-parser reads it as ${reading}`);
}
// Zone names: unknown to both, and names only Luxon/ICU take (any case, fixed offsets).
for (const tz of ['Mars/Olympus_Mons', 'America/New York', 'EST+5', '', 'america/new_york', 'utc', 'UTC+3']) {
  const why = accepts('0 0 * * *', tz);
  emitInvalid('0 0 * * *', tz, why === null ? 'ours' : 'node', why ?? 'cron-parser (Luxon) accepts this zone name');
}

process.stdout.write(lines.join('\n') + '\n');
process.stderr.write(`${lines.length - 1} lines, ${invalidCount} invalid\n`);
