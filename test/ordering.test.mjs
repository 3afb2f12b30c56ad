// Memory ordering of the lock-free readers (src/ordering.ts, docs/design.md "Memory ordering").
//
// THE LITMUS TESTS BELOW CANNOT FAIL ON x86-64. x86-64 never lets a load be satisfied after a
// later load, so a seqlock copy is ordered without any fence there and both variants must show
// zero violations. They exist for weakly ordered hardware (arm64: Graviton, Apple silicon,
// Ampere; POWER; RISC-V), where a plain load before an Atomics.load (a load-acquire) may be
// satisfied after it: run there, the unfenced variant may count violations (reported, not
// asserted) and the fenced one must count none (asserted). A missing or ineffective readFence()
// shows up as violations in the fenced variant on such hardware.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createStore, layoutRecord } from 'native-keyshare';
import { fixture, exited } from './util.mjs';

const require = createRequire(import.meta.url);
const ordering = require('../dist/cjs/ordering.js');
const locks = require('../dist/cjs/locks.js');
const { myToken } = require('../dist/cjs/threads.js');
const { ENTRY, THREAD } = require('../dist/cjs/layout.js');
const { lockEntry } = require('../dist/cjs/write.js');
const { myWord } = require('../dist/cjs/threads.js');
const { arena } = require('../dist/cjs/arena.js');

const X64 = process.arch === 'x64';
// About 1 s per variant here; a weak machine gets the same number of tries.
const ITERATIONS = Number(process.env.LITMUS_ITERATIONS ?? 4_000_000);

function run(name, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fixture('litmus-mp.mjs'), { workerData: { ...workerData, role: name } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function litmus(fenced) {
  const sab = new SharedArrayBuffer(4 * 128);
  const i32 = new Int32Array(sab);
  const writer = run('writer', { sab });
  const reader = run('reader', { sab, fenced, iterations: ITERATIONS });
  while (Atomics.load(i32, 2) < 2) await new Promise((r) => setTimeout(r, 1));
  Atomics.add(i32, 2, 1); // go
  const r = await reader;
  Atomics.store(i32, 1, 1);
  const w = await writer;
  return { ...r, writes: w.writes };
}

test('NEEDS_FENCE is false exactly on x64 (unless forced for tests); readFence is callable', () => {
  const forced = (Number(process.env.NATIVE_KEYSHARE_TEST_FORCE_FENCE ?? 0) | 0) !== 0;
  assert.is(ordering.NEEDS_FENCE, !X64 || forced);
  ordering.readFence();
  assert.is(ordering.READ_RETRY_LIMIT & ordering.READ_RETRY_MASK, 0, 'a power of two');
});

test('MP litmus, unfenced seqlock copy: no violation on x64 (reported only on weak hardware)', async () => {
  const r = await litmus(false);
  console.log(`  [${process.arch}] unfenced: ${r.validated} validated copies, ${r.violations} violations, ${r.retries} retries, ${r.writes} writes`);
  assert.ok(r.validated > 1000 && r.retries > 0, `the reader must race the writer: ${JSON.stringify(r)}`);
  if (X64) assert.is(r.violations, 0, 'x86-64 keeps loads in order');
});

test('MP litmus, copy + readFence(): no violation anywhere', async () => {
  const r = await litmus(true);
  console.log(`  [${process.arch}] fenced: ${r.validated} validated copies, ${r.violations} violations, ${r.retries} retries, ${r.writes} writes`);
  assert.ok(r.validated > 1000 && r.retries > 0, `the reader must race the writer: ${JSON.stringify(r)}`);
  assert.is(r.violations, 0);
});

// ── Lock deadlines on the monotonic clock ─────────────────────────────────────────────────────

function timedAcquire(dateNow, timeoutMs) {
  const i32 = new Int32Array(new SharedArrayBuffer(4));
  i32[0] = myToken << 1; // held by a live token (ours): acquire must wait out its timeout
  const real = Date.now;
  Date.now = dateNow;
  try {
    const t = performance.now();
    const got = locks.acquire(i32, 0, myToken, timeoutMs);
    return { got, waited: performance.now() - t };
  } finally {
    Date.now = real;
  }
}

test('a lock wait with a timeout ends on time when the wall clock jumps back an hour mid-wait', () => {
  const real = Date.now;
  let calls = 0;
  // The first reading is true, every later one an hour earlier: a Date.now deadline would wait an hour.
  const { got, waited } = timedAcquire(() => real() - (calls++ === 0 ? 0 : 3_600_000), 100);
  assert.is(got, 0 /* Acquired.TimedOut */);
  assert.ok(waited >= 95 && waited < 2000, `waited ${waited.toFixed(1)} ms for a 100 ms timeout`);
});

test('a lock wait with a timeout ends on time when the wall clock jumps forward an hour mid-wait', () => {
  const real = Date.now;
  let calls = 0;
  // A Date.now deadline would end the wait at once.
  const { got, waited } = timedAcquire(() => real() + (calls++ === 0 ? 0 : 3_600_000), 100);
  assert.is(got, 0);
  assert.ok(waited >= 95 && waited < 2000, `waited ${waited.toFixed(1)} ms for a 100 ms timeout`);
});

test('lock waits do not read the wall clock at all', () => {
  const real = Date.now;
  let calls = 0;
  timedAcquire(() => (calls++, real()), 30);
  assert.is(calls, 0);
});

// ── lockForRead: the locked read after READ_RETRY_LIMIT optimistic attempts ──────────────────

const layout = layoutRecord([{ name: 'hp', type: 'int32' }]);
const hazard = () => arena.i32[myWord + THREAD.LOCK_HAZARD];
const lockWord = (ref) => ref * 2 + ENTRY.LOCK;

test('lockForRead takes a free entry lock (Taken) and unlockAfterRead releases it', () => {
  const s = createStore('ord-taken', { record: layout });
  s.set('k', { hp: 1 });
  const { ref, gen } = s.locate('k');
  const how = ordering.lockForRead(ref, gen, lockEntry);
  assert.is(how, 1 /* Taken */);
  assert.is(hazard(), 0, 'the hazard is dropped once the lock is held');
  assert.is(locks.holder(arena.i32, lockWord(ref)), myToken);
  // A retry inside a locked read (after a view refresh) goes on optimistically: no second lock.
  assert.is(ordering.lockForRead(ref, gen, lockEntry), 0 /* TimedOut */, 'a nested locked read takes nothing');
  assert.is(locks.holder(arena.i32, lockWord(ref)), myToken);
  ordering.unlockAfterRead(ref, how);
  assert.is(locks.holder(arena.i32, lockWord(ref)), 0);
});

test('lockForRead of a key this thread holds through lock(): Held, and the lock stays held', () => {
  const s = createStore('ord-held', { record: layout });
  s.set('k', { hp: 1 });
  const { ref, gen } = s.locate('k');
  assert.ok(s.lock('k', 100));
  const how = ordering.lockForRead(ref, gen, lockEntry);
  assert.is(how, 2 /* Held */);
  ordering.unlockAfterRead(ref, how);
  assert.is(locks.holder(arena.i32, lockWord(ref)), myToken);
  assert.ok(s.release('k'));
});

test('lockForRead of a stale generation: Stale, nothing left held', () => {
  const s = createStore('ord-stale', { record: layout });
  s.set('k', { hp: 1 });
  const { ref, gen } = s.locate('k');
  assert.is(ordering.lockForRead(ref, gen + 2, lockEntry), 3 /* Stale */);
  assert.is(locks.holder(arena.i32, lockWord(ref)), 0);
  assert.is(hazard(), 0);
});

test('lockForRead waits at most READ_LOCK_TIMEOUT_MS for a lock another thread holds (no deadlock)', async () => {
  const s = createStore('ord-timeout', { record: layout });
  s.set('k', { hp: 1 });
  const { ref, gen } = s.locate('k');
  const w = new Worker(fixture('hold-lock.mjs'), { workerData: { store: 'ord-timeout', key: 'k' } });
  const next = () => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  assert.equal(await next(), { locked: true });
  const before = ordering.lockedReadCounts().timeouts;
  const t = performance.now();
  assert.is(ordering.lockForRead(ref, gen, lockEntry), 0 /* TimedOut */);
  const waited = performance.now() - t;
  assert.ok(waited >= ordering.READ_LOCK_TIMEOUT_MS - 1 && waited < 500, `waited ${waited.toFixed(1)} ms`);
  assert.is(ordering.lockedReadCounts().timeouts, before + 1);
  w.postMessage('release');
  assert.equal(await next(), { released: true });
  const how = ordering.lockForRead(ref, gen, lockEntry);
  assert.is(how, 1, 'free again: taken');
  ordering.unlockAfterRead(ref, how);
  w.postMessage('exit');
  await exited(w);
});

test.run();
