// One case process: one system × one dataset (key count × value size), every workload and
// thread count. Started by run.mjs with a JSON configuration as its argument; prints progress on
// stderr and one line `RESULT <json>` on stdout.
//
//   node bench/peers/case.mjs '{"system":"lmdb","keys":"1K","value":"20B","threads":[1,2],
//     "workloads":["get","set"],"warmMs":100,"windowMs":150,"reps":3}'
//
// The main thread creates and fills the shared structure (if the system has one), starts
// max(threads) workers, and then drives every measurement: for a measurement with t threads,
// workers 0..t-1 run; each repetition starts them together (GO), lets them run for windowMs,
// and stops them together (STOP), so their windows overlap. The first `warm` repetitions are
// not recorded (JIT warm-up of that loop).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KEY_COUNTS, SYSTEMS, WORKLOADS, repStats, summarize } from './data.mjs';

import { setupShared } from './systems.mjs';

const CTL = { GO: 0, STOP: 1, READY: 2, DONE: 3 };
const cores = availableParallelism();
const cfg = JSON.parse(process.argv[2]);
const n = KEY_COUNTS[cfg.keys];
const log = (s) => process.stderr.write(`  [${cfg.system} ${cfg.keys} ${cfg.value}] ${s}\n`);

const t0 = performance.now();
const shared = await setupShared(cfg.system, n, cfg.value);
const setupMs = performance.now() - t0;
globalThis.gc?.();
log(`shared setup ${(setupMs / 1000).toFixed(2)} s`);

const ctlBuffer = new SharedArrayBuffer(16);
const ctl = new Int32Array(ctlBuffer);
const maxThreads = Math.max(...cfg.threads);
const workers = [];
const inbox = [];
const waiting = [];

function receive() {
  return inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiting.push(resolve));
}

const t1 = performance.now();
for (let t = 0; t < maxThreads; t++) {
  const w = new Worker(new URL('./worker.mjs', import.meta.url), {
    workerData: { system: cfg.system, handle: shared.handle, n, kind: cfg.value, thread: t, ctlBuffer },
    resourceLimits: { maxOldGenerationSizeMb: 6144 },
  });
  w.on('message', (m) => {
    if (waiting.length > 0) waiting.shift()(m);
    else inbox.push(m);
  });
  w.on('error', (err) => {
    console.error(`worker ${t} failed:`, err);
    process.exit(1);
  });
  workers.push(w);
}
const threadFillMs = [];
const threadPrimeMs = [];
for (let t = 0; t < maxThreads; t++) {
  const m = await receive();
  if (m.type !== 'ready') throw new Error(`unexpected message ${m.type}`);
  threadFillMs[m.thread] = m.fillMs;
  threadPrimeMs[m.thread] = m.primeMs;
}
const workersMs = performance.now() - t1;
log(`${maxThreads} workers ready in ${(workersMs / 1000).toFixed(2)} s`);

/**
 * The CPUs this process may run on (Linux: Cpus_allowed_list, e.g. "0-1"), or null. A machine
 * shared with other tenants can have CPUs of very different speed at a given moment (seen here:
 * one of two cores running lru-cache gets at 11 M ops/s, the other at 6 M), so where a
 * measuring thread runs must not differ between the systems compared: see cpusFor.
 */
const allowed = (() => {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'latin1'))[1];
    const cpus = [];
    for (const part of list.split(',')) {
      const [a, b = a] = part.split('-').map(Number);
      for (let c = a; c <= b; c++) cpus.push(c);
    }
    return { list, cpus };
  } catch {
    return null;
  }
})();

/**
 * Where measuring thread `t` of `threads` runs in round `round`: with no more threads than
 * CPUs, pinned to one CPU, the assignment turning by one CPU each round, so that every system
 * gets the same rounds on the same CPUs (run.mjs runs one repetition of every system per
 * round); with more threads than CPUs, unpinned (every allowed CPU).
 */
function cpusFor(t, threads, round) {
  if (allowed === null) return null;
  if (threads > allowed.cpus.length) return allowed.list;
  return String(allowed.cpus[(t + round) % allowed.cpus.length]);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms) {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Waits (blocking this thread, which does nothing else meanwhile) until ctl[word] === value. */
function waitFor(word, value) {
  const deadline = performance.now() + 120_000;
  for (;;) {
    const v = Atomics.load(ctl, word);
    if (v === value) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for control word ${word} = ${value} (is ${v})`);
    Atomics.wait(ctl, word, v, 100);
  }
}

/**
 * Repetitions of one measurement: `threads` workers run `variant`'s `workload` loop, `warm`
 * unrecorded repetitions of warmMs, then `reps` recorded ones of windowMs, on the CPUs of round
 * `round` (cpusFor). Returns the recorded repetitions ({ opsPerSec, nsPerOp, ops, cpus } each,
 * see repStats) and the misses.
 */
async function runReps(variant, workload, threads, warm, reps, round = 0) {
  const batch = cfg.value === '100KB' ? 1 : 32;
  // ~100 KB values: a few hundred operations per window, and GC pauses of tens of ms (a get
  // decodes ~400 objects): 3× longer windows, or one pause decides a repetition.
  const scale = cfg.value === '100KB' ? 3 : 1;
  const total = warm + reps;
  for (let t = 0; t < threads; t++) workers[t].postMessage({ type: 'run', variant, workload, reps: total, batch, cpus: cpusFor(t, threads, round) });
  for (let r = 0; r < total; r++) {
    waitFor(CTL.READY, threads);
    Atomics.store(ctl, CTL.READY, 0);
    Atomics.store(ctl, CTL.DONE, 0);
    Atomics.store(ctl, CTL.STOP, 0);
    Atomics.add(ctl, CTL.GO, 1);
    Atomics.notify(ctl, CTL.GO);
    // With more threads than cores each thread gets a share of the warm-up: stretch it so that
    // each still runs about warmMs (threads 2 and 3 run a loop for the first time at 4T).
    sleep(scale * (r < warm ? cfg.warmMs * Math.max(1, threads / cores) : cfg.windowMs));
    Atomics.store(ctl, CTL.STOP, 1);
    waitFor(CTL.DONE, threads);
  }
  const perThread = [];
  let misses = 0;
  for (let t = 0; t < threads; t++) {
    const m = await receive();
    if (m.type !== 'result') throw new Error(`unexpected message ${m.type}`);
    perThread[m.thread] = m.reps.slice(warm);
    misses += m.misses;
  }
  const out = [];
  for (let r = 0; r < reps; r++) out.push(repStats(perThread.map((p) => p[r])));
  return { reps: out, misses };
}

const variants = [cfg.system];

async function finish() {
  for (const w of workers) w.postMessage({ type: 'exit' });
  for (let t = 0; t < workers.length; t++) await receive();
  await shared.close();
}

const summary = () => ({
  system: cfg.system,
  keys: cfg.keys,
  value: cfg.value,
  setupMs,
  workersMs,
  threadFillMs,
  threadPrimeMs,
  info: shared.info,
  final: shared.final?.(),
  rssBytes: process.memoryUsage().rss,
});

if (process.send) {
  // Driven by run.mjs: a few repetitions per 'measure' message, so that run.mjs can interleave
  // the systems of a dataset (each system's repetitions alternate with the others').
  process.on('message', async (msg) => {
    if (msg.type === 'touch') {
      // Keys [from, to) read once: by every thread that has a copy of its own (Map, lru-cache),
      // by thread 0 alone where the threads share one structure.
      const touching = SYSTEMS[cfg.system].shared ? 1 : workers.length;
      for (let t = 0; t < touching; t++) workers[t].postMessage({ type: 'touch', from: msg.from, to: msg.to });
      for (let t = 0; t < touching; t++) {
        const m = await receive();
        if (m.type !== 'touched') throw new Error(`unexpected message ${m.type}`);
      }
      process.send({ type: 'touched' });
    } else if (msg.type === 'measure') {
      const r = await runReps(msg.variant, msg.workload, msg.threads, msg.warm, msg.reps, msg.round);
      process.send({ type: 'result', ...r });
    } else if (msg.type === 'exit') {
      const s = summary();
      await finish();
      process.send({ type: 'closed', summary: s }, () => process.exit(0));
    }
  });
  process.send({ type: 'ready', variants, summary: summary() });
} else {
  // Alone: every workload, thread count and variant in turn, then one RESULT line.
  const results = [];
  for (const workload of cfg.workloads) {
    for (const threads of cfg.threads) {
      for (const variant of variants) {
        if (variant === 'keyshare-hot' && !WORKLOADS[workload].read) continue;
        const { reps, misses } = await runReps(variant, workload, threads, cfg.warm, cfg.reps);
        const r = { system: variant, keys: cfg.keys, value: cfg.value, workload, threads, ...summarize(reps, misses) };
        results.push(r);
        log(line(r));
      }
    }
  }
  const s = summary();
  await finish();
  console.log(`RESULT ${JSON.stringify({ ...s, results })}`);
  process.exit(0);
}

function line(r) {
  return `${SYSTEMS[r.system].label.padEnd(27)} ${r.workload.padEnd(5)} ${r.threads}T ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} ops/s ${r.nsPerOp.toFixed(0).padStart(8)} ns/op/thread, reps ±${(r.spread * 50).toFixed(1)}%${r.misses ? ` MISSES ${r.misses}` : ''}`;
}
