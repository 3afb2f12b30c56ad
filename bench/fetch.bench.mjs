// store.fetch hit vs store.get on the same store and key: the cost of fetch's hit path.
//
// A fetch hit is a get followed by Promise.resolve (store.ts, fetch): no option parsing, no
// loader-table access. The call is measured as it returns (the promise already resolved), as
// a caller that awaits it pays the same await after a get of its own. Target (issue: shared
// cache): fetch hit ≤ 1.2× get, judged on paired rounds (below). Also reported: the hit with an options object (the slow entry,
// which parses options before it reads).
import b from 'benny';
import { createStore } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const store = createStore('bench-fetch');
const value = { value: 'Benchmark', n: 1 };
store.set('test', value);
const loader = () => {
  throw new Error('a hit must not call the loader');
};
const options = { ttl: 60 };

// The cases must measure what they claim: a hit, resolved with the stored value.
const hit = await store.fetch('test', loader);
if (JSON.stringify(hit) !== JSON.stringify(value)) throw new Error('fetch did not hit');
if (JSON.stringify(await store.fetch('test', loader, options)) !== JSON.stringify(value)) throw new Error('fetch with options did not hit');

const summary = await b.suite(
  'fetch: hit vs get',
  b.add('store.get', () => { keep(store.get('test')); }, CASE_OPTIONS),
  b.add('store.fetch hit', () => { keep(store.fetch('test', loader)); }, CASE_OPTIONS),
  b.add('store.fetch hit, with options', () => { keep(store.fetch('test', loader, options)); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('fetch'),
);

// benny's cases run one after the other, so a busy machine can move one and not the other
// (on a loaded 2-core VM single runs gave 1.0–1.9). Paired rounds as in bench/ab-inprocess.cjs:
// each round times both, in alternating order, and the median of the rounds' ratios is the figure.
const ROUNDS = 21;
const OPS = 200_000;
function timeOps(fn) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) fn();
  return Number(process.hrtime.bigint() - t) / OPS;
}
const getOnce = () => keep(store.get('test'));
const fetchOnce = () => keep(store.fetch('test', loader));
const ratios = [];
for (let r = 0; r < ROUNDS; r++) {
  const [g, f] = r % 2 === 0 ? [timeOps(getOnce), timeOps(fetchOnce)] : [timeOps(fetchOnce), timeOps(getOnce)].reverse();
  ratios.push(f / g);
}
ratios.sort((x, y) => x - y);
const paired = ratios[ROUNDS >> 1];

const get = meanNs(summary, 'store.get');
const fetchHit = meanNs(summary, 'store.fetch hit');
const withOptions = meanNs(summary, 'store.fetch hit, with options');
console.log(`\nstore.get ${fmtNs(get)}, fetch hit ${fmtNs(fetchHit)} (+${fmtNs(fetchHit - get)}), with options ${fmtNs(withOptions)}`);
console.log(`paired rounds: fetch hit / get median ${paired.toFixed(2)} (of ${ROUNDS}; range ${ratios[0].toFixed(2)}–${ratios[ROUNDS - 1].toFixed(2)}); benny means ${(fetchHit / get).toFixed(2)}`);
target('fetch hit / get', paired, '<=', 1.2);
