// Gets of a working set that moved: the per-thread caches against the same caches holding that
// working set from the start.
//
// A full hotReads cache takes some of the keys it misses in place of keys not read lately
// (CLOCK; see Store.cacheSlot), so once the hot keys change, the new ones come in. The "moved"
// handles first fill their cache with other keys, read those again (so that they have earned a
// second chance), then read the hot keys long enough to settle; the "from the start" handles
// only ever read the hot keys. A cache that kept its first keys for good would decode and freeze
// on every hot get of the moved handle (~17× the cached get). A plain handle's cache does keep
// its first keys (see HOT_ADMIT_EVERY in src/store.ts for why): its moved gets take the shared
// index (~1.4×), reported here without a target.
import b from 'benny';
import { createStore } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const N = 40_000;
const HOT = 512;
/** Cache bounds: hotReads' maxKeys here, and the plain handle's fixed 16,384. */
const HOT_MAX_KEYS = 4096;
const PLAIN_CACHE = 16_384;

const value = (i) => ({ id: i, name: `user-${i}`, tags: ['a', 'b'] });
const names = ['shift-a', 'shift-b'];
for (const name of names) {
  // Written through a handle of its own that caches nothing: this thread's plain handle of the
  // store (one per name and options) must start with an empty cache.
  const w = createStore(name, { hotReads: { maxKeys: 0 } });
  for (let i = 0; i < N; i++) w.set(`k${i}`, value(i));
}
// Hot keys spread over the key space; cold keys (what the moved caches held first) are the rest.
const hot = Array.from({ length: HOT }, (_, j) => `k${(j * 7919) % N}`);
const hotSet = new Set(hot);
const cold = [];
for (let i = 0; cold.length < PLAIN_CACHE; i++) if (!hotSet.has(`k${i}`)) cold.push(`k${i}`);

function settle(store, fillWith, passes) {
  for (let r = 0; r < 2; r++) for (const k of fillWith) store.get(k);
  for (let r = 0; r < passes; r++) for (const k of hot) store.get(k);
}
const hotFixed = createStore('shift-a', { hotReads: { maxKeys: HOT_MAX_KEYS } });
const hotMoved = createStore('shift-b', { hotReads: { maxKeys: HOT_MAX_KEYS } });
settle(hotFixed, [], 200);
settle(hotMoved, cold.slice(0, HOT_MAX_KEYS), 200);
const plainFixed = createStore('shift-a');
const plainMoved = createStore('shift-b');
settle(plainFixed, [], 600);
settle(plainMoved, cold, 600);

for (const [s, label] of [[hotFixed, 'hotReads'], [hotMoved, 'hotReads, moved'], [plainFixed, 'plain'], [plainMoved, 'plain, moved']]) {
  if (JSON.stringify(s.get(hot[7])) !== JSON.stringify(value(Number(hot[7].slice(1))))) throw new Error(`${label}: wrong value`);
}

let p = 0;
const next = () => hot[(p = (p + 1) & (HOT - 1))];
const summary = await b.suite(
  'shift: gets of a working set that moved vs one cached from the start',
  b.add('hotReads get, hot keys cached from the start', () => { keep(hotFixed.get(next())); }, CASE_OPTIONS),
  b.add('hotReads get, hot keys that replaced others', () => { keep(hotMoved.get(next())); }, CASE_OPTIONS),
  b.add('get, hot keys cached from the start', () => { keep(plainFixed.get(next())); }, CASE_OPTIONS),
  b.add('get, hot keys that replaced others', () => { keep(plainMoved.get(next())); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('shift'),
);

const hf = meanNs(summary, 'hotReads get, hot keys cached from the start');
const hm = meanNs(summary, 'hotReads get, hot keys that replaced others');
const pf = meanNs(summary, 'get, hot keys cached from the start');
const pm = meanNs(summary, 'get, hot keys that replaced others');
console.log(`\nhotReads: ${fmtNs(hm)} moved vs ${fmtNs(hf)} from the start; plain: ${fmtNs(pm)} vs ${fmtNs(pf)}`);
target('hotReads get after the working set moved / from the start', hm / hf, '<=', 1.5);
console.log(`plain get after the working set moved / from the start: ${(pm / pf).toFixed(2)} (report)`);
