// Readers vs a writer on one key, in two threads (the machine has 2 cores: one each).
//
// A writer worker rewrites the key 'hot' as fast as it can with self-checking values of
// varying size, { n, pad: 'x'.repeat(n % 200), check: n * 7 }, so encoded values range from
// ~20 to ~220 bytes and the reader's copy runs both the word loop (<= 128 bytes) and the
// bulk copy. The main thread reads the key for a fixed time and checks every value:
//   - bad read: not an object of that shape, pad length != n % 200 or check != n * 7 (a torn
//     read: bytes of two values, or of a freed block) — must be 0;
//   - stale read: n lower than the previous read's n (a read went back in time) — must be 0;
//   - retries per read: arenaStats().readRetries delta / reads, i.e. how often the seqlock
//     had to start over because the writer republished during the copy.
// Phases: reader alone (baseline gets/s) → writer alone (sets/s, the reader thread sleeps) →
// reader and writer together (gets/s, sets/s, retries, bad reads).
// Not a benny suite: benchmark.js cannot run a second thread alongside a case.
// BENCH_CONTENTION_MS sets the length of each reading phase (default 3000).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createStore, arenaStats } from 'native-keyshare';
import { target } from './common.mjs';

const STORE_NAME = 'bench-contention';
const KEY = 'hot';
const PHASE_MS = Number(process.env.BENCH_CONTENTION_MS) > 0 ? Number(process.env.BENCH_CONTENTION_MS) : 3000;
const WRITER_ALONE_MS = Math.min(1000, PHASE_MS);

// Control words shared with the writer.
const STOP = 0; // main → writer: 1 = stop
const READY = 1; // writer → main: 1 = running
const SETS = 2; // writer → main: sets done so far (updated every BATCH sets)
const SLEEP = 3; // never changes: the main thread sleeps on it
const BATCH = 64;

const PAD = Array.from({ length: 200 }, (_, i) => 'x'.repeat(i));
const makeValue = (n) => ({ n, pad: PAD[n % 200], check: n * 7 });

if (!isMainThread) {
  writer();
} else {
  await main();
}

function writer() {
  const ctl = new Int32Array(workerData.control);
  const store = createStore(STORE_NAME);
  let n = workerData.firstN;
  let sets = 0;
  Atomics.store(ctl, READY, 1);
  while (Atomics.load(ctl, STOP) === 0) {
    for (let j = 0; j < BATCH; j++) store.set(KEY, makeValue(n++));
    sets += BATCH;
    Atomics.store(ctl, SETS, sets);
  }
  parentPort.postMessage({ sets, lastN: n - 1 });
}

/** Reads KEY for `ms` ms, checking every value. */
function read(store, ms) {
  let reads = 0;
  let bad = 0;
  let stale = 0;
  let last = -Infinity;
  let example;
  const retries0 = arenaStats().readRetries;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let j = 0; j < 1024; j++) {
      const v = store.get(KEY);
      if (!consistent(v)) {
        bad++;
        example ??= v;
        continue;
      }
      if (v.n < last) stale++;
      last = v.n;
    }
    reads += 1024;
    t = performance.now();
  }
  const seconds = (t - t0) / 1000;
  const retries = arenaStats().readRetries - retries0;
  return { reads, seconds, perSecond: reads / seconds, bad, stale, retries, example, lastN: last };
}

function consistent(v) {
  return (
    v !== null &&
    typeof v === 'object' &&
    Number.isSafeInteger(v.n) &&
    typeof v.pad === 'string' &&
    v.pad.length === v.n % 200 &&
    v.check === v.n * 7
  );
}

function fmtRate(x) {
  return `${(x / 1e6).toFixed(2)} M/s`;
}

async function main() {
  const store = createStore(STORE_NAME);
  store.set(KEY, makeValue(100)); // a mid-size value for the baseline
  const control = new SharedArrayBuffer(4 * 4);
  const ctl = new Int32Array(control);
  const bytes0 = arenaStats().bytesInUse;

  // 1. Reader alone (after a short warm-up, so that both measured phases run optimised code).
  read(store, Math.min(300, PHASE_MS));
  const alone = read(store, PHASE_MS);
  console.log(`reader alone:       ${fmtRate(alone.perSecond)} gets (${(1e9 / alone.perSecond).toFixed(0)} ns/get), ${alone.retries} retries, ${alone.bad} bad reads`);

  // 2. Start the writer; let it run alone for a while (the main thread sleeps, not spins).
  const worker = new Worker(new URL(import.meta.url), { workerData: { control, firstN: 1000 } });
  const done = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`writer exited with code ${code} before reporting`)));
  });
  done.catch(() => {}); // handled below
  const startDeadline = Date.now() + 10_000;
  while (Atomics.load(ctl, READY) === 0) {
    if (Date.now() > startDeadline) throw new Error('writer did not start within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200)); // writer warm-up
  let s0 = Atomics.load(ctl, SETS);
  let t0 = performance.now();
  Atomics.wait(ctl, SLEEP, 0, WRITER_ALONE_MS);
  const writerAlone = (Atomics.load(ctl, SETS) - s0) / ((performance.now() - t0) / 1000);
  console.log(`writer alone:       ${fmtRate(writerAlone)} sets (${(1e9 / writerAlone).toFixed(0)} ns/set)`);

  // 3. Reader and writer together.
  s0 = Atomics.load(ctl, SETS);
  t0 = performance.now();
  const both = read(store, PHASE_MS);
  const writerBoth = (Atomics.load(ctl, SETS) - s0) / ((performance.now() - t0) / 1000);

  Atomics.store(ctl, STOP, 1);
  let writerResult;
  let writerError;
  try {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('writer did not stop within 5 s')), 5000);
    });
    writerResult = await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  } catch (err) {
    writerError = err;
    await worker.terminate();
  }

  // The writer's last value must be what a final read sees (no lost write).
  const final = store.get(KEY);
  const lastWriteSeen = writerResult !== undefined && consistent(final) && final.n === writerResult.lastN;
  const bytes1 = arenaStats().bytesInUse;

  console.log(`reader with writer: ${fmtRate(both.perSecond)} gets (${(1e9 / both.perSecond).toFixed(0)} ns/get), ${(both.perSecond / alone.perSecond).toFixed(2)}x of alone`);
  console.log(`writer with reader: ${fmtRate(writerBoth)} sets (${(1e9 / writerBoth).toFixed(0)} ns/set), ${(writerBoth / writerAlone).toFixed(2)}x of alone`);
  console.log(`reads ${both.reads.toLocaleString('en-US')}, read retries ${both.retries.toLocaleString('en-US')} → ${(both.retries / both.reads).toFixed(4)} retries per read`);
  console.log(`bad reads ${both.bad}, stale reads (n went back) ${both.stale}${both.example !== undefined ? `; first bad value: ${JSON.stringify(both.example)?.slice(0, 200)}` : ''}`);
  console.log(`writer: ${writerResult ? `${writerResult.sets.toLocaleString('en-US')} sets in all, last n ${writerResult.lastN}; final get sees it: ${lastWriteSeen}` : `FAILED: ${writerError?.message}`}`);
  console.log(`arena bytes in use: ${bytes0} before, ${bytes1} after; ${arenaStats().threads} thread(s) attached now`);

  target('contention bad reads / reads', (both.bad + alone.bad) / (both.reads + alone.reads), '<=', 0);
  target('contention stale reads / reads', both.stale / both.reads, '<=', 0);
  if (writerError !== undefined || !lastWriteSeen) {
    console.error(`contention: writer problem: ${writerError?.message ?? 'final get does not see the last write'}`);
    process.exitCode = 1;
  }
}
