// One measuring thread of a case (see case.mjs). Opens the system (or builds its own copy),
// then answers 'run' messages: for each repetition it signals READY, waits for GO, runs its loop
// in batches until STOP, and records the operations it did and the time it took
// (process.hrtime.bigint() around the repetition).
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { MASK, WORKLOADS, keySequence, makeKeys, makeValue, makeWriteValues, opSequence } from './data.mjs';
import { openInThread, sameValue } from './systems.mjs';

// Control words shared with the case's main thread.
export const CTL = { GO: 0, STOP: 1, READY: 2, DONE: 3 };

const { system, handle, n, kind, thread, ctlBuffer } = workerData;
const ctl = new Int32Array(ctlBuffer);

const keys = makeKeys(n);
const seq = keySequence(n, thread);
const opsBySetPercent = { 10: opSequence(10, thread), 50: opSequence(50, thread) };
const writeValues = makeWriteValues(kind, n);

const opened = await openInThread(system, handle, n, kind, keys);

// Every adapter must return the stored value before anything is measured.
for (const i of [0, 1, n >> 1, n - 1]) {
  for (const [name, v] of Object.entries(opened.variants)) {
    const got = v.get(keys[i]);
    // An evicting cache (cache-aside adapter) may have let the key go: it returns a fill value
    // (this thread's, or, shared, another thread's written by its own check).
    if (!sameValue(got, makeValue(kind, i)) && !(v.fill !== undefined && sameValue(got, v.fill))) throw new Error(`${name}: get(${keys[i]}) in thread ${thread} returned the wrong value`);
  }
}

// Prime per-thread caches to their steady state before anything is measured: each
// native-keyshare variant (the only system here with per-thread caches: its key → entry lookup
// cache, and with hotReads the decoded values) reads keys[0..min(n, PRIME_KEYS)) once.
// PRIME_KEYS is at least the plain handle's lookup-cache bound (CACHE_LIMIT in src/store.ts):
// past it the cache is full, and while keys then come and go its hit rate on uniform keys stays
// what it is, so this is the state a long-running thread reaches. The hotReads
// handle is opened with `maxKeys: n` (the budget lru-cache gets), so it is primed with every key,
// as lru-cache is filled with every key. Without it, hotReads with big values would spend the
// whole measurement decoding and freezing values for the first time.
// (Map and lru-cache copies are filled by their thread; sharedmap and lmdb have no per-thread
// cache, and their data is in memory since the fill.)
const PRIME_KEYS = 1 << 16;
const tPrime = performance.now();
for (const [name, v] of Object.entries(opened.variants)) {
  if (!name.startsWith('keyshare')) continue;
  const end = name === 'keyshare-hot' ? n : Math.min(n, PRIME_KEYS);
  for (let i = 0; i < end; i++) v.get(keys[i]);
}
const primeMs = performance.now() - tPrime;
// Collect the fill's and the priming's garbage now rather than in the first measurement
// (run.mjs starts the case processes with --expose-gc).
globalThis.gc?.();

/**
 * The measured loop of one workload, compiled from source for each (variant, workload) so that
 * each gets its own inline caches and optimised code: the call to `sys.get` / `sys.set` in it
 * only ever sees one adapter. Each iteration: next position p of this thread's sequence, key
 * keys[seq[p]], then a get, a set of writeValues[p & 15], or (mixed) whichever ops[p] says.
 * The result of every get goes to `state.sink`, and undefined results are counted as misses.
 */
function compileLoop(sys, workload) {
  const setPercent = WORKLOADS[workload].setPercent;
  let body;
  if (setPercent === 0) body = 'const v = sys.get(k); if (v === undefined) miss++; s = v;';
  else if (setPercent === 100) body = 'sys.set(k, vals[p & 15]);';
  else body = 'if (ops[p] !== 0) sys.set(k, vals[p & 15]); else { const v = sys.get(k); if (v === undefined) miss++; s = v; }';
  const src = `
    return function ${workload}Loop(count) {
      let p = state.pos;
      let miss = 0;
      let s;
      for (let i = 0; i < count; i++) {
        const k = keys[seq[p]];
        ${body}
        p = (p + 1) & MASK;
      }
      state.pos = p;
      state.sink = s;
      state.misses += miss;
      return count;
    };`;
  // eslint-disable-next-line no-new-func
  return new Function('sys', 'keys', 'seq', 'ops', 'vals', 'state', 'MASK', src)(
    sys, keys, seq, opsBySetPercent[setPercent] ?? null, writeValues, state, MASK,
  );
}

/** Where this thread is in its sequence (kept across runs: no repetition replays the same keys). */
const state = { pos: (thread * 104_729) & MASK, sink: undefined, misses: 0 };
const loops = new Map();

/**
 * Pins this thread to one CPU (`cpus`: a list for taskset, e.g. "1", or every allowed CPU to
 * unpin). Linux with taskset only; elsewhere (or if it fails) the thread stays where the
 * scheduler puts it, and `placement` below shows where it ran.
 */
let pinnedTo = null;
let canPin = true;
function pin(cpus) {
  if (cpus === null || !canPin || cpus === pinnedTo) return;
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop();
    execFileSync('taskset', ['-p', '-c', cpus, tid], { stdio: 'ignore' });
    pinnedTo = cpus;
  } catch {
    canPin = false;
  }
}

/** The CPU this thread last ran on (Linux), or -1. */
function placement() {
  try {
    return Number(readFileSync('/proc/thread-self/stat', 'latin1').split(') ')[1].split(' ')[36]);
  } catch {
    return -1;
  }
}

function runReps(loop, reps, batch) {
  const out = [];
  for (let r = 0; r < reps; r++) {
    const go = Atomics.load(ctl, CTL.GO);
    Atomics.add(ctl, CTL.READY, 1);
    Atomics.notify(ctl, CTL.READY);
    Atomics.wait(ctl, CTL.GO, go);
    const t0 = process.hrtime.bigint();
    let ops = 0;
    while (Atomics.load(ctl, CTL.STOP) === 0) ops += loop(batch);
    const ns = Number(process.hrtime.bigint() - t0);
    out.push({ ops, ns, cpu: placement() });
    Atomics.add(ctl, CTL.DONE, 1);
    Atomics.notify(ctl, CTL.DONE);
  }
  return out;
}

parentPort.on('message', async (msg) => {
  if (msg.type === 'run') {
    const id = `${msg.variant}/${msg.workload}`;
    let loop = loops.get(id);
    if (loop === undefined) loops.set(id, (loop = compileLoop(opened.variants[msg.variant], msg.workload)));
    pin(msg.cpus);
    const misses = state.misses;
    const reps = runReps(loop, msg.reps, msg.batch);
    parentPort.postMessage({ type: 'result', thread, reps, misses: state.misses - misses });
  } else if (msg.type === 'touch') {
    // Reads keys [from, to) once through every variant, unmeasured (see run.mjs, touchAll).
    let sink;
    for (const v of Object.values(opened.variants)) for (let i = msg.from; i < msg.to; i++) sink = v.get(keys[i]);
    state.sink = sink;
    parentPort.postMessage({ type: 'touched', thread });
  } else if (msg.type === 'exit') {
    await opened.close();
    parentPort.postMessage({ type: 'closed', thread });
    parentPort.close();
  }
});
parentPort.postMessage({ type: 'ready', thread, fillMs: opened.fillMs, primeMs, heapUsed: process.memoryUsage().heapUsed });
