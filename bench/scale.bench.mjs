// store.get with 1,000,000 keys present vs with 1,000 keys present, two ways:
//
// 1. Working set: the same 1,000 keys are read from a store holding 1M keys and from one
//    holding 1k keys. This isolates what the *presence* of many keys costs a get (index size,
//    probe lengths, the lookup cache): target <= 1.5.
// 2. Uniform random over all keys present. Here most of the difference is the memory hierarchy
//    (every get of 1M random keys misses the CPU caches), so it is reported next to the same
//    ratio for a plain Map, and the target is on the store's ratio divided by Map's: the store
//    should degrade no more than 1.5x as much as a Map does.
//
// Two stores in one process (one arena), filled before measuring, values `{ i }`. Each case
// cycles through its own pre-generated array of random keys, so both do the same work per op
// apart from what depends on the store's size: the per-thread lookup cache, the shared hash
// index (probe length, cache misses over a large index), and the value blocks' locality.
//
// For reference the same two key sequences are also run against two plain Maps (1M and 1k
// entries): that ratio is what the memory hierarchy alone charges for random access over
// 1M keys on this machine (no TARGET line; it tells how far the store's ratio could go).
import b from 'benny';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const BIG = 1_000_000;
const SMALL = 1_000;
const SEQUENCE = 1 << 20; // random keys per case, cycled (mask below)
const MASK = SEQUENCE - 1;

const keys = Array.from({ length: BIG }, (_, i) => `key:${i}`);

function fill(store, n) {
  for (let i = 0; i < n; i++) store.set(keys[i], { i });
}

/** SEQUENCE keys drawn uniformly from keys[0..n), from a seeded generator (same every run). */
function randomKeys(n, seed) {
  let x = seed >>> 0;
  const out = new Array(SEQUENCE);
  for (let i = 0; i < SEQUENCE; i++) {
    // xorshift32
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = keys[x % n];
  }
  return out;
}

let t = performance.now();
const big = createStore('bench-scale-1m');
const small = createStore('bench-scale-1k');
fill(big, BIG);
const fillBigMs = performance.now() - t;
t = performance.now();
fill(small, SMALL);
const fillSmallMs = performance.now() - t;
const bigKeys = randomKeys(BIG, 0x9e3779b9);
const smallKeys = randomKeys(SMALL, 0x85ebca6b);
// The working set: keys[0..1000) exist in both stores (the big one holds them too).
const workingKeys = randomKeys(SMALL, 0x27d4eb2f);
console.log(`filled ${BIG.toLocaleString('en-US')} keys in ${(fillBigMs / 1000).toFixed(2)} s (${fmtNs((fillBigMs * 1e6) / BIG)}/set), ${SMALL.toLocaleString('en-US')} keys in ${fillSmallMs.toFixed(1)} ms`);
const stats = arenaStats();
console.log(`arena: ${(stats.bytesInUse / 2 ** 20).toFixed(1)} MiB in use, ${(stats.bytesReserved / 2 ** 20).toFixed(1)} MiB reserved`);
for (const [s, n] of [[big, BIG], [small, SMALL]]) {
  const st = s.stats();
  console.log(`  ${st.name}: ${st.entries} entries, index capacity ${st.indexCapacity}, tombstones ${st.tombstones}`);
  if (st.entries !== n) throw new Error(`${st.name} has ${st.entries} entries, expected ${n}`);
}
for (const i of [0, 1, 999, 123_456, BIG - 1]) {
  const s = i < SMALL ? small : big;
  if (s.get(keys[i])?.i !== i) throw new Error(`get(${keys[i]}) returned the wrong value`);
}

const bigMap = new Map();
const smallMap = new Map();
for (let i = 0; i < BIG; i++) bigMap.set(keys[i], { i });
for (let i = 0; i < SMALL; i++) smallMap.set(keys[i], { i });

let wbi = 0;
let wsi = 0;
let bi = 0;
let si = 0;
let bmi = 0;
let smi = 0;
const summary = await b.suite(
  'scale: get with 1M keys present vs 1k keys present',
  b.add('get of a 1k working set, 1M keys present', () => { keep(big.get(workingKeys[wbi++ & MASK])); }, CASE_OPTIONS),
  b.add('get of a 1k working set, 1k keys present', () => { keep(small.get(workingKeys[wsi++ & MASK])); }, CASE_OPTIONS),
  b.add('get, 1M keys', () => { keep(big.get(bigKeys[bi++ & MASK])); }, CASE_OPTIONS),
  b.add('get, 1k keys', () => { keep(small.get(smallKeys[si++ & MASK])); }, CASE_OPTIONS),
  b.add('Map.get, 1M keys', () => { keep(bigMap.get(bigKeys[bmi++ & MASK])); }, CASE_OPTIONS),
  b.add('Map.get, 1k keys', () => { keep(smallMap.get(smallKeys[smi++ & MASK])); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('scale'),
);

const wBigNs = meanNs(summary, 'get of a 1k working set, 1M keys present');
const wSmallNs = meanNs(summary, 'get of a 1k working set, 1k keys present');
const bigNs = meanNs(summary, 'get, 1M keys');
const smallNs = meanNs(summary, 'get, 1k keys');
const bigMapNs = meanNs(summary, 'Map.get, 1M keys');
const smallMapNs = meanNs(summary, 'Map.get, 1k keys');
console.log(`\nget of a 1k working set with 1M keys present ${fmtNs(wBigNs)}, with 1k keys present ${fmtNs(wSmallNs)}: ratio ${(wBigNs / wSmallNs).toFixed(2)}`);
console.log(`uniform random get with 1M keys ${fmtNs(bigNs)}, with 1k keys ${fmtNs(smallNs)}: ratio ${(bigNs / smallNs).toFixed(2)}`);
console.log(`reference, plain Map.get with 1M keys ${fmtNs(bigMapNs)}, with 1k keys ${fmtNs(smallMapNs)}: ratio ${(bigMapNs / smallMapNs).toFixed(2)} (the cost of random access over 1M keys on this machine)`);
target('get 1k working set, 1M keys / 1k keys present', wBigNs / wSmallNs, '<=', 1.5);
target('uniform random get 1M/1k, store ratio / Map ratio', (bigNs / smallNs) / (bigMapNs / smallMapNs), '<=', 1.5);
