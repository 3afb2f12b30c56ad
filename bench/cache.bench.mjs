// What a bounded store (`createStore(name, { max })`) costs against an unbounded one holding the
// same keys and values, in one process and one run (issue 16's cost targets):
//
//   1. `get` hit, bounded / unbounded, plain and `hotReads` handles, target ≤ 1.1:
//      a. "roomy": 10 K keys in a store of `max: 20_000` (the policy is on, nothing is
//         evicted), keys read uniformly at random;
//      b. "full": `max: 10_000`, 12 K keys written (2 K evicted; 50 Zipf reads before each
//         write past the bound, so the policy has frequencies), then read Zipf-ishly (s = 0.9
//         over the 12 K keys, ranks shuffled), only keys it still holds; the unbounded store
//         holds all 12 K and is read with the very same sequence.
//      A bounded hit does what an unbounded one does, plus: one load of the entry's meta word
//      (its REFERENCED bit), an atomic OR when the bit is clear, and a push of the entry's ref
//      into this thread's hit buffer, which every 64 hits is counted into the sketch under the
//      store's lock (src/policy.ts).
//   2. `set` of a new key, full store (`max: 10_000`: every set evicts one key) / unbounded
//      store, target ≤ 1.5 (see the set section for how the unbounded store keeps its size).
//   3. `fetch` hit / `get` on the same store, target ≤ 1.2: when this build has `Store.fetch`;
//      else the case prints that it was skipped (it is never faked).
//
// How a ratio is taken (the TARGET lines): interleaved rounds, A then B, B then A, …, each
// round timing many operations of one case in CPU time of the process (process.cpuUsage, as
// bench/ab-inprocess.cjs does); the ratio is median(A's time per op over its rounds) /
// median(B's). On this shared machine a case measured alone for seconds in wall time (what
// benchmark.js does) is at the mercy of whatever else runs in those seconds; rounds a few ms
// apart, in CPU time, are not, and a median leaves out the rounds a GC pause or a preemption
// hit. The median of the per-round paired ratios is printed beside it as a check. The get and
// fetch cases also run as benny suites (wall time, the cases seconds apart), whose ratio of
// medians is printed and saved for reference, not as the target.
// Writes bench/results/cache.json.
import b from 'benny';
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, RESULTS_DIR, cycle, fmtNs, fmtRatio, keep, target } from './common.mjs';
import { rng } from './peers/data.mjs';

const loadBefore = loadavg();
const started = new Date().toISOString();
/** Per case name: benny's figures (wall) and the rounds' (CPU). */
const cases = {};
const ratios = [];

const ROUNDS = Number(process.env.BENCH_CACHE_ROUNDS) > 0 ? Number(process.env.BENCH_CACHE_ROUNDS) : 31;
/** Operations per round of a read case. */
const READ_OPS = 100_000;

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (v, f) => [...v].sort((x, y) => x - y)[Math.floor(f * (v.length - 1))];

/** benny's median and mean time per call of every case of a summary, in ns, into `cases`. */
function recordBenny(summary) {
  for (const r of summary.results) {
    if (!r.completed) throw new Error(`case "${r.name}" did not complete`);
    cases[r.name] = { ...cases[r.name], benny: { medianNs: r.details.median * 1e9, meanNs: r.details.mean * 1e9, rme: r.details.relativeMarginOfError, samples: r.samples } };
  }
}

/**
 * Interleaved rounds of two cases. `runA()` / `runB()` time one round and return its CPU ns
 * per op (they may be async). Warm-up rounds first, not recorded.
 */
async function rounds(nameA, runA, nameB, runB, warm = 3) {
  for (let w = 0; w < warm; w++) { await runA(); await runB(); }
  const ta = [];
  const tb = [];
  const paired = [];
  for (let r = 0; r < ROUNDS; r++) {
    let x, y;
    if (r & 1) { y = await runB(); x = await runA(); } else { x = await runA(); y = await runB(); }
    ta.push(x); tb.push(y); paired.push(x / y);
  }
  for (const [name, t] of [[nameA, ta], [nameB, tb]]) {
    cases[name] = { ...cases[name], cpu: { medianNs: +median(t).toFixed(2), p10Ns: +quantile(t, 0.1).toFixed(2), p90Ns: +quantile(t, 0.9).toFixed(2), rounds: ROUNDS } };
  }
  return { a: median(ta), b: median(tb), paired: median(paired) };
}

/**
 * Prints and records one target: the rounds' ratio of medians `r` (TARGET line), the paired
 * check, and benny's ratio of medians of the same two cases if it ran them.
 */
function report(name, nameA, nameB, r, limit, nRounds = ROUNDS) {
  console.log(`${name}: ${fmtNs(r.a)} / ${fmtNs(r.b)} CPU per op (medians of ${nRounds} interleaved rounds); median of paired ratios ${fmtRatio(r.paired)}`);
  const ba = cases[nameA]?.benny;
  const bb = cases[nameB]?.benny;
  const bennyRatio = ba && bb ? ba.medianNs / bb.medianNs : undefined;
  if (bennyRatio !== undefined) console.log(`  benny, wall time, cases seconds apart: ${fmtNs(ba.medianNs)} / ${fmtNs(bb.medianNs)}, ratio of medians ${fmtRatio(bennyRatio)}`);
  const ratio = r.a / r.b;
  const pass = target(name, ratio, '<=', limit);
  ratios.push({ name, a: nameA, b: nameB, ratio: +ratio.toFixed(4), pairedMedian: +r.paired.toFixed(4), bennyRatioOfMedians: bennyRatio === undefined ? null : +bennyRatio.toFixed(4), target: `<= ${limit}`, pass });
}

/** CPU time (user + system) of this process per op of fn(n), in ns. */
function cpuNs(fn, n) {
  const c0 = process.cpuUsage();
  fn(n);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
}


const SEQ = 1 << 20;
const MASK = SEQ - 1;

/** SEQ uniform indices in [0, n). */
function uniform(n, seed) {
  const next = rng(seed);
  const out = new Uint32Array(SEQ);
  for (let i = 0; i < SEQ; i++) out[i] = next() % n;
  return out;
}

/** SEQ indices in [0, n), Zipf(s) by rank, the ranks shuffled over the indices. */
function zipf(n, s, seed) {
  const next = rng(seed);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += 1 / (r + 1) ** s;
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const out = new Uint32Array(SEQ);
  for (let i = 0; i < SEQ; i++) {
    const u = (next() / 2 ** 32) * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = perm[lo];
  }
  return out;
}

/** ~20 bytes encoded (a record of the store's learned structure), as in the other benchmarks, plus the key's number. */
const valueOf = (i) => ({ value: 'Benchmark', i });
const keyOf = (i) => `key:${i}`;

/** Opens `name` twice: plain and hotReads (every key kept decoded), with the same cache options. */
function open(name, cache, n) {
  const plain = createStore(name, cache);
  const hot = createStore(name, { ...cache, hotReads: { maxKeys: 2 * n } });
  return { plain, hot };
}

/** Checks that reads of `seq` hit with the right value, and primes both handles' caches. */
function check(label, handles, keys, seq) {
  for (let p = 0; p < SEQ; p += 97) {
    const i = seq[p];
    for (const h of [handles.plain, handles.hot]) if (h.get(keys[i])?.i !== i) throw new Error(`${label}: get(${keys[i]}) did not return its value`);
  }
  for (const i of new Set(seq)) {
    handles.plain.get(keys[i]);
    handles.hot.get(keys[i]);
  }
}

/**
 * A round of `n` gets of `store` along `seq` (continuing where the last round stopped), timed
 * in CPU time. Compiled per store, so that each loop keeps its own feedback at the call site.
 */
function getRound(store, keys, seq) {
  const loop = new Function('store', 'keys', 'seq', 'MASK', 'let p = 0; return function (n) { let s = 0; for (let i = 0; i < n; i++) s += store.get(keys[seq[p++ & MASK]]).i; return s; }')(store, keys, seq, MASK);
  return () => cpuNs(loop, READ_OPS);
}

/** The four get cases of one scenario: benny suite (reported), then the rounds (targets). */
async function getScenario(title, tag, label, bounded, unbounded, keys, seq) {
  let p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  const bp = bounded.plain, up = unbounded.plain, bh = bounded.hot, uh = unbounded.hot;
  const names = {
    bp: `${tag} get, bounded`, up: `${tag} get, unbounded`,
    bh: `${tag} hotReads get, bounded`, uh: `${tag} hotReads get, unbounded`,
  };
  const summary = await b.suite(
    title,
    b.add(names.bp, () => { keep(bp.get(keys[seq[p1++ & MASK]])); }, CASE_OPTIONS),
    b.add(names.up, () => { keep(up.get(keys[seq[p2++ & MASK]])); }, CASE_OPTIONS),
    b.add(names.bh, () => { keep(bh.get(keys[seq[p3++ & MASK]])); }, CASE_OPTIONS),
    b.add(names.uh, () => { keep(uh.get(keys[seq[p4++ & MASK]])); }, CASE_OPTIONS),
    cycle(),
    b.complete(),
  );
  recordBenny(summary);
  console.log('');
  const plain = await rounds(names.bp, getRound(bp, keys, seq), names.up, getRound(up, keys, seq));
  report(`get hit, ${label} / unbounded`, names.bp, names.up, plain, 1.1);
  const hot = await rounds(names.bh, getRound(bh, keys, seq), names.uh, getRound(uh, keys, seq));
  report(`hotReads get hit, ${label} / unbounded`, names.bh, names.uh, hot, 1.1);
  console.log('');
}

// ── 1a. 10 K keys, max 20 K: the policy on, nothing evicted ────────────────────────────────
{
  const N = 10_000;
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const bounded = open('cache-get-roomy', { max: 2 * N }, N);
  const unbounded = open('cache-get-roomy-unbounded', undefined, N);
  for (let i = 0; i < N; i++) {
    bounded.plain.set(keys[i], valueOf(i));
    unbounded.plain.set(keys[i], valueOf(i));
  }
  const seq = uniform(N, 12345);
  check('roomy', bounded, keys, seq);
  check('roomy unbounded', unbounded, keys, seq);
  const ev = bounded.plain.stats().evictions;
  await getScenario('cache: get hit, 10 K keys uniform, max 20 K vs unbounded', 'roomy', 'max 20 K holding 10 K', bounded, unbounded, keys, seq);
  if (bounded.plain.stats().evictions !== ev || bounded.plain.size !== N) throw new Error('the roomy bounded store evicted');
}

// ── 1b. full store: max 10 K, 12 K keys written, Zipf reads of the keys it holds ─────────────
{
  const MAX = 10_000;
  const N = 12_000;
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const bounded = open('cache-get-full', { max: MAX }, N);
  const unbounded = open('cache-get-full-unbounded', undefined, N);
  const zseq = zipf(N, 0.9, 777);
  // Written with reads in between, as a cache is: past the bound, every write of a new key
  // follows 50 Zipf reads, so that the policy has frequencies to choose its victims by.
  let z = 0;
  for (let i = 0; i < N; i++) {
    if (i >= MAX) for (let r = 0; r < 50; r++) bounded.plain.get(keys[zseq[z++ & MASK]]);
    bounded.plain.set(keys[i], valueOf(i));
    unbounded.plain.set(keys[i], valueOf(i));
  }
  const st = bounded.plain.stats();
  if (bounded.plain.size !== MAX || st.evictions < N - MAX) throw new Error(`the full store holds ${bounded.plain.size} keys after ${st.evictions} evictions`);
  // The Zipf sequence without the reads of evicted keys, for both stores: every measured get
  // is a hit in both.
  const held = new Uint8Array(N);
  for (let i = 0; i < N; i++) held[i] = bounded.plain.has(keys[i]) ? 1 : 0;
  const seq = new Uint32Array(SEQ);
  let hitShare = 0;
  for (let p = 0, q = 0; q < SEQ; p++) {
    const i = zseq[p & MASK];
    if (p < SEQ) hitShare += held[i];
    if (held[i]) seq[q++] = i;
  }
  console.log(`full store: ${st.evictions} evictions while filling; ${((100 * hitShare) / SEQ).toFixed(1)}% of the Zipf reads are of keys it holds (the others are left out of the measured sequence)`);
  check('full', bounded, keys, seq);
  check('full unbounded', unbounded, keys, seq);
  await getScenario('cache: get hit, full store (max 10 K, 12 K written), Zipf 0.9 vs unbounded 12 K', 'full', 'full max 10 K, Zipf', bounded, unbounded, keys, seq);
}

// ── 2. set of a new key: full store (each set evicts) vs unbounded ───────────────────────────
// Not benny: benchmark.js would write millions of new keys into the unbounded store, and the
// deletes that keep it at its size must not be timed. Rounds of SET_KEYS sets of new keys
// (never written before) into each store instead. Timed: the sets alone. Not timed: making the
// round's key strings, and, for the unbounded store, deleting the round's keys after it, so
// that it holds N keys at the start of every round (N to N + SET_KEYS during it); its index
// was sized by the warm-up rounds, and both stores' indexes carry the tombstones of removed
// keys (evicted or deleted). The bounded store holds N = max keys throughout: each set evicts
// one (checked).
let setReport;
{
  const N = 10_000;
  const SET_KEYS = 2_000;
  const WARM = 20;
  const value = { value: 'Benchmark' };
  const full = createStore('cache-set-full', { max: N });
  const unb = createStore('cache-set-unbounded');
  for (let i = 0; i < N; i++) {
    full.set(keyOf(i), value);
    unb.set(keyOf(i), value);
  }
  let fresh = 0;
  const roundKeys = () => {
    const ks = new Array(SET_KEYS);
    for (let j = 0; j < SET_KEYS; j++) ks[j] = `new:${fresh++}`;
    return ks;
  };
  const setAll = (store) => new Function('store', 'value', 'return function (ks) { const c0 = process.cpuUsage(); for (let j = 0; j < ks.length; j++) store.set(ks[j], value); const c = process.cpuUsage(c0); return ((c.user + c.system) * 1000) / ks.length; }')(store, value);
  const timeFull = setAll(full);
  const timeUnb = setAll(unb);
  const runFull = () => timeFull(roundKeys());
  const runUnb = () => {
    const ks = roundKeys();
    const ns = timeUnb(ks);
    unb.deleteMany(ks);
    return ns;
  };
  const ev0 = full.stats().evictions;
  // More rounds than the reads: a round is a few ms.
  const setRounds = Math.max(ROUNDS, 101);
  for (let w = 0; w < WARM; w++) { runFull(); runUnb(); }
  const ta = [], tb = [], paired = [];
  for (let k = 0; k < setRounds; k++) {
    let x, y;
    if (k & 1) { y = runUnb(); x = runFull(); } else { x = runFull(); y = runUnb(); }
    ta.push(x); tb.push(y); paired.push(x / y);
  }
  const evicted = full.stats().evictions - ev0;
  const expected = (WARM + setRounds) * SET_KEYS;
  if (evicted !== expected || full.size !== N) throw new Error(`the full store evicted ${evicted} keys for ${expected} new ones and holds ${full.size}`);
  if (unb.size !== N) throw new Error(`the unbounded store holds ${unb.size} keys, not ${N}`);
  const nameA = 'set new key, full (evicts)';
  const nameB = 'set new key, unbounded';
  cases[nameA] = { cpu: { medianNs: +median(ta).toFixed(2), p10Ns: +quantile(ta, 0.1).toFixed(2), p90Ns: +quantile(ta, 0.9).toFixed(2), rounds: setRounds, keysPerRound: SET_KEYS } };
  cases[nameB] = { cpu: { medianNs: +median(tb).toFixed(2), p10Ns: +quantile(tb, 0.1).toFixed(2), p90Ns: +quantile(tb, 0.9).toFixed(2), rounds: setRounds, keysPerRound: SET_KEYS } };
  console.log(`cache: set of a new key, ${setRounds} interleaved rounds of ${SET_KEYS} keys each (after ${WARM} warm-up rounds), value ${JSON.stringify(value)}, CPU time`);
  console.log(`  ${nameA}, max ${N / 1000} K: median ${fmtNs(median(ta))}/op, p10–p90 ${fmtNs(quantile(ta, 0.1))}–${fmtNs(quantile(ta, 0.9))}; ${evicted} evictions`);
  console.log(`  ${nameB}, ${N / 1000} K(+): median ${fmtNs(median(tb))}/op, p10–p90 ${fmtNs(quantile(tb, 0.1))}–${fmtNs(quantile(tb, 0.9))}`);
  report('set new key, full max 10 K (evicts) / unbounded', nameA, nameB, { a: median(ta), b: median(tb), paired: median(paired) }, 1.5, setRounds);
  setReport = { rounds: setRounds, keysPerRound: SET_KEYS, warmRounds: WARM, max: N };
  console.log('');
}

// ── 3. fetch hit vs get, same store ───────────────────────────────────────────────────────────
let fetchReport;
{
  const N = 10_000;
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const store = createStore('cache-get-roomy', { max: 2 * N }); // 1a's store: 10 K keys, max 20 K
  if (typeof store.fetch !== 'function') {
    fetchReport = { skipped: 'Store.fetch is not in this build' };
    console.log('fetch case SKIPPED: this build has no Store.fetch (typeof store.fetch is not "function"); it runs once fetch is merged.');
  } else {
    const seq = uniform(N, 4242);
    const loader = (key) => {
      throw new Error(`fetch missed ${key}: the benchmark reads only keys the store holds`);
    };
    for (let p = 0; p < SEQ; p += 97) {
      const i = seq[p];
      if ((await store.fetch(keys[i], loader))?.i !== i) throw new Error(`fetch(${keys[i]}) did not return its value`);
    }
    const BATCH = 1000;
    let p1 = 0, p2 = 0, p3 = 0, p4 = 0;
    const names = {
      get: 'get', call: 'fetch (the call, promise not awaited)',
      aget: `get x${BATCH} in an async function`, afetch: `await fetch x${BATCH}`,
    };
    const summary = await b.suite(
      'cache: fetch hit vs get, 10 K keys uniform, max 20 K',
      b.add(names.get, () => { keep(store.get(keys[seq[p1++ & MASK]])); }, CASE_OPTIONS),
      // The call alone: what fetch adds to a get is the resolved promise it returns.
      b.add(names.call, () => { keep(store.fetch(keys[seq[p2++ & MASK]], loader)); }, CASE_OPTIONS),
      // What a caller pays: each awaited, in batches of BATCH (a deferred benchmark.js case
      // costs microseconds), against gets in the same kind of async loop.
      b.add(names.aget, async () => {
        let s = 0;
        for (let j = 0; j < BATCH; j++) s += store.get(keys[seq[p3++ & MASK]]).i;
        keep(s);
      }, CASE_OPTIONS),
      b.add(names.afetch, async () => {
        let s = 0;
        for (let j = 0; j < BATCH; j++) s += (await store.fetch(keys[seq[p4++ & MASK]], loader)).i;
        keep(s);
      }, CASE_OPTIONS),
      cycle(),
      b.complete(),
    );
    recordBenny(summary);
    // benny's async cases time a batch: per op.
    for (const n of [names.aget, names.afetch]) for (const k of ['medianNs', 'meanNs']) cases[n].benny[k] /= BATCH;
    console.log('');
    const mk = (body) => new Function('store', 'keys', 'seq', 'MASK', 'loader', `let p = 0; return function (n) { let s = 0; for (let i = 0; i < n; i++) { ${body} } return s; }`)(store, keys, seq, MASK, loader);
    const getLoop = mk('s += store.get(keys[seq[p++ & MASK]]).i;');
    const callLoop = mk('const pr = store.fetch(keys[seq[p++ & MASK]], loader); s += pr === undefined ? 0 : 1;');
    const callR = await rounds(names.call, () => cpuNs(callLoop, READ_OPS), names.get, () => cpuNs(getLoop, READ_OPS));
    report('fetch hit / get (the call)', names.call, names.get, callR, 1.2);
    // Awaited: the loops are async functions; their awaits of resolved promises run as
    // microtasks, so nothing else runs in this thread between the two cpuUsage calls.
    const amk = (body) => new Function('store', 'keys', 'seq', 'MASK', 'loader', `let p = 0; return async function (n) { let s = 0; for (let i = 0; i < n; i++) { ${body} } return s; }`)(store, keys, seq, MASK, loader);
    const aget = amk('s += store.get(keys[seq[p++ & MASK]]).i;');
    const afetch = amk('s += (await store.fetch(keys[seq[p++ & MASK]], loader)).i;');
    const acpu = async (fn) => {
      const c0 = process.cpuUsage();
      await fn(READ_OPS);
      const c = process.cpuUsage(c0);
      return ((c.user + c.system) * 1000) / READ_OPS;
    };
    const awaitR = await rounds(names.afetch, () => acpu(afetch), names.aget, () => acpu(aget));
    report('await fetch hit / get, in an async function', names.afetch, names.aget, awaitR, 1.2);
    fetchReport = { batch: BATCH };
  }
}

const cpu = cpus();
const out = {
  benchmark: 'cache.bench.mjs',
  started,
  node: process.version,
  cpus: `${cpu.length} x ${cpu[0]?.model?.trim() ?? 'unknown'}`,
  loadAverageBefore: loadBefore.map((x) => +x.toFixed(2)),
  loadAverageAfter: loadavg().map((x) => +x.toFixed(2)),
  readRetries: arenaStats().readRetries,
  method: 'TARGET ratio = median CPU ns/op of A over its interleaved rounds / the same of B; pairedMedian = median of per-round A/B; bennyRatioOfMedians = benny (wall time, cases seconds apart) for reference',
  roundsPerReadCase: ROUNDS,
  opsPerReadRound: READ_OPS,
  ratios,
  cases,
  set: setReport,
  fetch: fetchReport,
};
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(join(RESULTS_DIR, 'cache.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`load average ${loadBefore[0].toFixed(2)} before, ${loadavg()[0].toFixed(2)} after; written to ${join(RESULTS_DIR, 'cache.json')}`);
