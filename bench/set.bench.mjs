// store.set of an existing key vs msgpackr pack of the same value.
//
// The store has learned the object's shape (src/structures.ts), so it packs a record: the
// baseline is a Packr that knows the same structure.
// A `set` of an existing key is: option parsing → encode (msgpackr pack) → take the key's lock
// (one Atomics.compareExchange) → allocate a new value block → copy the bytes in → publish
// (Atomics.store of DATA, SEQ += 2) → retire the old block → unlock. So `pack` is its floor;
// the target is that the copy-on-write protocol costs at most as much again as the encode.
import b from 'benny';
import { Packr } from 'msgpackr';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const value = { value: 'Benchmark' };
const store = createStore('bench-set');
store.set('test', value); // the key exists before the first measured set
const packr = new Packr({ structures: [['value']] });

const before = arenaStats();
const summary = await b.suite(
  'set: store.set (existing key) vs msgpackr pack',
  b.add('store.set', () => { keep(store.set('test', value)); }, CASE_OPTIONS),
  b.add('msgpackr pack', () => { keep(packr.pack(value)); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('set'),
);

if (JSON.stringify(store.get('test')) !== JSON.stringify(value)) throw new Error('store.get after the sets returned the wrong value');
if (store.stats().valueBytes !== packr.pack(value).length) throw new Error(`the store holds ${store.stats().valueBytes} bytes, not the ${packr.pack(value).length} of the baseline's record`);
const after = arenaStats();
const set = meanNs(summary, 'store.set');
const pack = meanNs(summary, 'msgpackr pack');
console.log(`\nstore.set ${fmtNs(set)}, pack ${fmtNs(pack)}; store.set - pack = ${fmtNs(set - pack)} of lock + allocate + copy + publish`);
// Copy-on-write frees every replaced block: after millions of sets, use must not have grown.
console.log(`arena bytes in use before ${before.bytesInUse}, after ${after.bytesInUse}; reserved ${after.bytesReserved}`);
target('set / pack', set / pack, '<=', 2);
