// store.get of random keys with 1,000,000 keys present vs with 1,000 keys present.
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

let bi = 0;
let si = 0;
let bmi = 0;
let smi = 0;
const summary = await b.suite(
  'scale: get of random keys, 1M keys present vs 1k keys present',
  b.add('get, 1M keys', () => { keep(big.get(bigKeys[bi++ & MASK])); }, CASE_OPTIONS),
  b.add('get, 1k keys', () => { keep(small.get(smallKeys[si++ & MASK])); }, CASE_OPTIONS),
  b.add('Map.get, 1M keys', () => { keep(bigMap.get(bigKeys[bmi++ & MASK])); }, CASE_OPTIONS),
  b.add('Map.get, 1k keys', () => { keep(smallMap.get(smallKeys[smi++ & MASK])); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('scale'),
);

const bigNs = meanNs(summary, 'get, 1M keys');
const smallNs = meanNs(summary, 'get, 1k keys');
const bigMapNs = meanNs(summary, 'Map.get, 1M keys');
const smallMapNs = meanNs(summary, 'Map.get, 1k keys');
console.log(`\nget with 1M keys ${fmtNs(bigNs)}, with 1k keys ${fmtNs(smallNs)}: ratio ${(bigNs / smallNs).toFixed(2)}`);
console.log(`reference, plain Map.get with 1M keys ${fmtNs(bigMapNs)}, with 1k keys ${fmtNs(smallMapNs)}: ratio ${(bigMapNs / smallMapNs).toFixed(2)} (the cost of random access over 1M keys on this machine)`);
target('get 1M keys / get 1k keys', bigNs / smallNs, '<=', 1.5);
