// Data shared by every part of the peer benchmarks: keys, the seeded random sequences, the
// values of each size, and the definition of the configurations (key counts, value sizes,
// workloads, thread counts) of the full and the quick run.
//
// Everything here is deterministic: every process and every thread that calls these functions
// with the same arguments gets the same keys, values and sequences, which is how each thread of
// the Map and lru-cache cases builds "its own copy filled with the same data".

/** Random positions per thread (cycled): 2^20, as in bench/scale.bench.mjs. */
export const SEQUENCE = 1 << 20;
export const MASK = SEQUENCE - 1;
/** Distinct values the set workloads cycle through (pre-built, same shape as the stored ones). */
export const WRITE_VALUES = 16;

export const KEY_COUNTS = { '1K': 1_000, '100K': 100_000, '1M': 1_000_000 };

export function keyOf(i) {
  return `key:${i}`;
}

/** keys[0..n): 'key:0' … 'key:<n-1>'. */
export function makeKeys(n) {
  const keys = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = keyOf(i);
  return keys;
}

/** xorshift32 from `seed`: a generator of uint32s (never 0 for a non-zero seed). */
export function rng(seed) {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

/** The key positions thread `thread` visits: SEQUENCE uniform indices in [0, n). */
export function keySequence(n, thread) {
  const next = rng(0x9e3779b9 ^ Math.imul(thread + 1, 0x85ebca6b));
  const seq = new Uint32Array(SEQUENCE);
  for (let i = 0; i < SEQUENCE; i++) seq[i] = next() % n;
  return seq;
}

/**
 * Which positions of the sequence are sets in a mixed workload: 1 = set, 0 = get, each position
 * a set with probability `setPercent` / 100 (seeded, so ~exactly that share over 2^20).
 */
export function opSequence(setPercent, thread) {
  const next = rng(0x27d4eb2f ^ Math.imul(thread + 1, 0x165667b1) ^ setPercent);
  const ops = new Uint8Array(SEQUENCE);
  for (let i = 0; i < SEQUENCE; i++) ops[i] = next() % 100 < setPercent ? 1 : 0;
  return ops;
}

// ── Values ──────────────────────────────────────────────────────────────────────────────────

// ASCII filler text the bigger values take slices of (different offsets for different keys).
const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum '.split(' ').filter(Boolean);
const TEXT = (() => {
  const next = rng(12345);
  let s = '';
  while (s.length < 4096) s += `${WORDS[next() % WORDS.length]} `;
  return s;
})();

/** ~20 bytes encoded: the value every other benchmark of the repo uses. */
function small() {
  return { value: 'Benchmark' };
}

/** ~1 KB encoded (msgpack ~1.0 KB, JSON ~1.1 KB): a user-like record with a text field. */
function medium(i) {
  return {
    id: i,
    name: `user-${i}`,
    email: `user${i}@example.com`,
    active: (i & 1) === 0,
    score: (i % 1000) / 8,
    createdAt: 1_700_000_000_000 + i,
    tags: ['alpha', 'beta', 'gamma', 'delta'],
    address: { street: `${i % 997} Main Street`, city: 'Springfield', zip: `${10000 + (i % 89999)}` },
    bio: TEXT.substr(i % 1024, 830),
  };
}

/** ~100 KB encoded (msgpack ~100 KB, JSON ~108 KB): an order-like document of 420 rows. */
function large(i) {
  const rows = new Array(420);
  for (let j = 0; j < 420; j++) {
    rows[j] = { line: j, sku: `sku-${i}-${j}`, price: (j * 125) / 100, qty: j % 7, active: j % 3 === 0, note: TEXT.substr((i + j * 7) % 2048, 180) };
  }
  return { id: i, name: `order-${i}`, customer: `customer-${i % 1000}`, rows };
}

export const VALUE_KINDS = {
  '20B': { label: '~20 B', make: small },
  '1KB': { label: '~1 KB', make: medium },
  '100KB': { label: '~100 KB', make: large },
};

export function makeValue(kind, i) {
  return VALUE_KINDS[kind].make(i);
}

/** The values a thread writes in the set workloads: the same shape as the stored ones. */
export function makeWriteValues(kind, n) {
  const out = new Array(WRITE_VALUES);
  for (let j = 0; j < WRITE_VALUES; j++) out[j] = makeValue(kind, (n + j * 7919) % (2 * n + 1));
  return out;
}

// ── Configurations ──────────────────────────────────────────────────────────────────────────

export const WORKLOADS = {
  get: { label: 'get', setPercent: 0, read: true },
  set: { label: 'set', setPercent: 100, read: false },
  mix90: { label: '90% get / 10% set', setPercent: 10, read: true },
  mix50: { label: '50% get / 50% set', setPercent: 50, read: false },
};

export const SYSTEMS = {
  keyshare: { label: 'native-keyshare', shared: true },
  'keyshare-hot': { label: 'native-keyshare hotReads', shared: true },
  sharedmap: { label: 'sharedmap', shared: true },
  lmdb: { label: 'lmdb', shared: true },
  map: { label: 'Map (copy per thread)', shared: false },
  lru: { label: 'lru-cache (copy per thread)', shared: false },
  // Bounded stores (`max`, src/policy.ts): one whose bound holds every key (the policy runs,
  // nothing is evicted), one of half the keys (evicts; its get is cache-aside, see systems.mjs),
  // and lru-cache of half the keys per thread, read the same way.
  'keyshare-max': { label: 'native-keyshare max = n', shared: true },
  'keyshare-evict': { label: 'native-keyshare max = n/2 (evicts)', shared: true },
  'lru-evict': { label: 'lru-cache max = n/2 (copy per thread)', shared: false },
};

/** The bound of a bounded system over n keys: every key, or half of them. */
export function boundOf(system, n) {
  if (system === 'keyshare-max') return n;
  if (system === 'keyshare-evict' || system === 'lru-evict') return Math.max(1, n >> 1);
  return 0;
}

/** Datasets (key count × value size) of a run: 100 KB values only with 1 K keys. */
export function datasets(quick) {
  const out = [];
  for (const keys of quick ? ['1K', '100K'] : ['1K', '100K', '1M']) {
    for (const value of quick ? ['20B', '1KB'] : ['20B', '1KB', '100KB']) {
      if (value === '100KB' && keys !== '1K') continue;
      out.push({ keys, value });
    }
  }
  return out;
}

export function threadCounts(quick) {
  return quick ? [1, 2] : [1, 2, 4];
}

// ── Statistics ──────────────────────────────────────────────────────────────────────────────

/**
 * One repetition, from each thread's { ops, ns }: throughput = sum over threads of that
 * thread's ops / time (ops/s); ns/op per thread = the threads' time / their ops (sum over sum:
 * with more threads than cores, a mean of per-thread ratios would be dominated by whichever
 * thread the scheduler starved).
 */
export function repStats(perThread) {
  let opsPerSec = 0;
  let totalNs = 0;
  let ops = 0;
  for (const { ops: o, ns } of perThread) {
    opsPerSec += (o / ns) * 1e9;
    totalNs += ns;
    ops += o;
  }
  // cpus: the CPU each thread was on at the end of the repetition (-1: unknown).
  return { opsPerSec, nsPerOp: totalNs / Math.max(ops, 1), ops, cpus: perThread.map((p) => p.cpu ?? -1).join(',') };
}

/** The repetition with the median throughput (lower middle for an even count), and the spread. */
export function summarize(reps, misses) {
  const sorted = [...reps].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const median = sorted[(sorted.length - 1) >> 1];
  return {
    opsPerSec: median.opsPerSec,
    nsPerOp: median.nsPerOp,
    opsPerRep: median.ops,
    // (max - min) / median of the repetitions' throughput
    spread: (sorted[sorted.length - 1].opsPerSec - sorted[0].opsPerSec) / median.opsPerSec,
    bestOpsPerSec: sorted[sorted.length - 1].opsPerSec,
    misses,
    reps: reps.map((r) => Math.round(r.opsPerSec)),
    // Per repetition, in round order: ns/op (for paired ratios, see pairedRatio), the round it
    // ran in, and the CPUs its threads ran on.
    repNs: reps.map((r) => +r.nsPerOp.toFixed(2)),
    rounds: reps.map((r) => r.round ?? 0),
    cpus: reps.map((r) => r.cpus),
  };
}

/**
 * The median over rounds of a's ns/op divided by the best (lowest) ns/op among `others` in the
 * same round. run.mjs measures one repetition of every system per round, within a second or so
 * and on the same CPUs (case.mjs, cpusFor), so each round's ratio compares like with like; the
 * median of those ratios is not moved by a round in which the machine was slower for everyone.
 * Null when no round has both.
 */
export function pairedRatio(a, others) {
  const ratios = [];
  a.rounds.forEach((round, i) => {
    let best = Infinity;
    for (const o of others) {
      const j = o.rounds.indexOf(round);
      if (j >= 0) best = Math.min(best, o.repNs[j]);
    }
    if (best < Infinity) ratios.push(a.repNs[i] / best);
  });
  if (ratios.length === 0) return null;
  ratios.sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
}
