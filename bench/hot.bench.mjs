// store.get in hot-read mode vs Map.get of a stored object.
//
// With `{ hotReads: true }` a get whose key's SEQ and GEN are unchanged since the last decode
// returns the cached (deep-frozen) value: a Map lookup in the per-thread cache plus two
// Atomics.load — no copy, no decode. Map.get of the same object is its floor.
import b from 'benny';
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
