// store.get of one small object vs msgpackr unpack of the same bytes (and Map.get).
//
// A non-hot `get` is: per-thread lookup cache (a Map) → seqlock read (two SEQ loads around a
// copy of the value bytes into a private buffer) → decode with msgpackr. So `unpack` of the
// same bytes is its floor; the target is that the shared-memory protocol costs at most half
// of the decode on top of it. Also compared with the original implementation's 1.7 µs per get.
import b from 'benny';
import { Packr } from 'msgpackr';
import { createStore, arenaStats } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const ORIGINAL_GET_NS = 1700;

const value = { value: 'Benchmark' };
const store = createStore('bench-get');
store.set('test', value);
const packr = new Packr({ useRecords: false });
const packed = packr.pack(value);
const map = new Map([['test', value]]);

// The cases must measure what they claim.
if (JSON.stringify(store.get('test')) !== JSON.stringify(value)) throw new Error('store.get returned the wrong value');
if (JSON.stringify(packr.unpack(packed)) !== JSON.stringify(value)) throw new Error('unpack returned the wrong value');

const retriesBefore = arenaStats().readRetries;
const summary = await b.suite(
  'get: store.get vs msgpackr unpack vs Map.get',
  b.add('store.get', () => { keep(store.get('test')); }, CASE_OPTIONS),
  b.add('msgpackr unpack', () => { keep(packr.unpack(packed)); }, CASE_OPTIONS),
  b.add('Map.get', () => { keep(map.get('test')); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('get'),
);

const get = meanNs(summary, 'store.get');
const unpack = meanNs(summary, 'msgpackr unpack');
const mapGet = meanNs(summary, 'Map.get');
console.log(`\nvalue ${JSON.stringify(value)} = ${packed.length} bytes of msgpack; codec ${arenaStats().codec}; read retries ${arenaStats().readRetries - retriesBefore}`);
console.log(`store.get ${fmtNs(get)}, unpack ${fmtNs(unpack)}, Map.get ${fmtNs(mapGet)}; store.get - unpack = ${fmtNs(get - unpack)} of lookup + seqlock copy`);
console.log(`get is ${(ORIGINAL_GET_NS / get).toFixed(1)}x faster than 1.7 µs`);
target('get / unpack', get / unpack, '<=', 1.5);
target('get speed-up vs original 1.7 µs', ORIGINAL_GET_NS / get, '>=', 10);
