// store.get in hot-read mode, against Map.get of a stored object (one key), and against
// lru-cache's get (100 K keys read uniformly at random: memory-bound, like a real cache).
//
// With `{ hotReads: true }` a get whose stripe's write epoch is unchanged since the value was
// known current returns the cached (deep-frozen) value: a Map lookup in the per-thread cache
// plus one Atomics.load of a counter in L1 — no copy, no decode, no load of the key's entry.
// Map.get of the same object is its floor.
import b from 'benny';
import { LRUCache } from 'lru-cache';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const value = { value: 'Benchmark' };
const store = createStore('bench-hot', { hotReads: true });
store.set('test', value);
const map = new Map([['test', value]]);

const first = store.get('test');
if (JSON.stringify(first) !== JSON.stringify(value)) throw new Error('store.get returned the wrong value');
if (store.get('test') !== first) throw new Error('hot read did not return the cached value');
if (!Object.isFrozen(first)) throw new Error('hot read value is not frozen');

const retriesBefore = arenaStats().readRetries;
const summary = await b.suite(
  'hot: store.get (hotReads) vs Map.get',
  b.add('store.get (hotReads)', () => { keep(store.get('test')); }, CASE_OPTIONS),
  b.add('Map.get', () => { keep(map.get('test')); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('hot'),
);

const hot = meanNs(summary, 'store.get (hotReads)');
const mapGet = meanNs(summary, 'Map.get');
console.log(`\nstore.get (hotReads) ${fmtNs(hot)}, Map.get ${fmtNs(mapGet)}; read retries ${arenaStats().readRetries - retriesBefore}`);
console.log('(both include benchmark.js calling the case function, a few ns per op)');
target('hot get / Map.get', hot / mapGet, '<=', 3);

// ── 100 K keys, uniform random: hot reads against lru-cache, the per-thread cache users
// would otherwise keep (given every key: `max: N`, as the hot cache is) ──
const N = 100_000;
const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const many = createStore('bench-hot-100k', { hotReads: { maxKeys: N } });
const lru = new LRUCache({ max: N });
for (let i = 0; i < N; i++) {
  many.set(keys[i], { value: 'Benchmark', i });
  lru.set(keys[i], { value: 'Benchmark', i });
}
for (let i = 0; i < N; i++) many.get(keys[i]); // decoded and cached, as lru-cache holds them
const order = new Uint32Array(1 << 20);
for (let i = 0, x = 12345; i < order.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  order[i] = (x >>> 0) % N;
}
for (const i of [0, 1, N >> 1, N - 1]) if (many.get(keys[i])?.i !== i || lru.get(keys[i])?.i !== i) throw new Error(`wrong value for ${keys[i]}`);
let p = 0;
let q = 0;
const wide = await b.suite(
  'hot: 100 K keys, uniform random: store.get (hotReads) vs lru-cache get',
  b.add('store.get (hotReads), 100 K keys', () => { keep(many.get(keys[order[p++ & 0xfffff]])); }, CASE_OPTIONS),
  b.add('lru-cache get, 100 K keys', () => { keep(lru.get(keys[order[q++ & 0xfffff]])); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('hot-100k'),
);
const hotWide = meanNs(wide, 'store.get (hotReads), 100 K keys');
const lruWide = meanNs(wide, 'lru-cache get, 100 K keys');
console.log(`\nstore.get (hotReads) ${fmtNs(hotWide)}, lru-cache get ${fmtNs(lruWide)} (100 K keys, uniform random)`);
target('hot get / lru-cache get, 100 K keys', hotWide / lruWide, '<=', 3);
