// store.get of one small object vs msgpackr unpack of the same bytes (and Map.get).
//
// A non-hot `get` is: per-thread lookup cache (a Map) → seqlock read (two SEQ loads around a
// copy of the value bytes into a private buffer) → decode with msgpackr. The store has learned
// the object's shape (see src/structures.ts), so its bytes are a msgpackr record: `unpack` of
// those bytes by an Unpackr that knows the same structure is its floor, and the target is that
// the shared-memory protocol costs at most half of the decode on top of it. Also reported:
// unpack of the same object written as a map (names inline), what a store stored before it
// learned shapes; and the original implementation's 1.7 µs per get.
import b from 'benny';
import { Packr, Unpackr } from 'msgpackr';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const ORIGINAL_GET_NS = 1700;

const value = { value: 'Benchmark' };
const store = createStore('bench-get');
store.set('test', value);
// msgpackr with the structure the store learned: the same bytes as the store holds.
const packr = new Packr({ structures: [['value']] });
const packed = packr.pack(value);
const unpackr = new Unpackr({ structures: [['value']] });
const names = new Packr({ useRecords: false });
const packedMap = names.pack(value);
const map = new Map([['test', value]]);

// The cases must measure what they claim.
if (JSON.stringify(store.get('test')) !== JSON.stringify(value)) throw new Error('store.get returned the wrong value');
if (JSON.stringify(unpackr.unpack(packed)) !== JSON.stringify(value)) throw new Error('unpack returned the wrong value');
if (store.stats().learnedStructures !== 1 || store.stats().valueBytes !== packed.length) throw new Error(`the store holds ${store.stats().valueBytes} bytes, not the ${packed.length} of a record of the learned structure`);

const retriesBefore = arenaStats().readRetries;
const summary = await b.suite(
  'get: store.get vs msgpackr unpack vs Map.get',
  b.add('store.get', () => { keep(store.get('test')); }, CASE_OPTIONS),
  b.add('msgpackr unpack', () => { keep(unpackr.unpack(packed)); }, CASE_OPTIONS),
  b.add('msgpackr unpack, names inline', () => { keep(names.unpack(packedMap)); }, CASE_OPTIONS),
  b.add('Map.get', () => { keep(map.get('test')); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('get'),
);

const get = meanNs(summary, 'store.get');
const unpack = meanNs(summary, 'msgpackr unpack');
const mapGet = meanNs(summary, 'Map.get');
const unpackMap = meanNs(summary, 'msgpackr unpack, names inline');
console.log(`\nvalue ${JSON.stringify(value)} = ${packed.length} bytes as a record (${packedMap.length} as a map, unpacked in ${fmtNs(unpackMap)}); codec ${arenaStats().codec}; read retries ${arenaStats().readRetries - retriesBefore}`);
console.log(`store.get ${fmtNs(get)}, unpack ${fmtNs(unpack)}, Map.get ${fmtNs(mapGet)}; store.get - unpack = ${fmtNs(get - unpack)} of lookup + seqlock copy`);
console.log(`get is ${(ORIGINAL_GET_NS / get).toFixed(1)}x faster than 1.7 µs`);
target('get / unpack', get / unpack, '<=', 1.5);
target('get speed-up vs original 1.7 µs', ORIGINAL_GET_NS / get, '>=', 10);
