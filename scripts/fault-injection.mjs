#!/usr/bin/env node
// Fault injection, the long run: workers are terminated at random moments inside set, update,
// lock…release, setMany and pattern deletes, inserts and clears (slabs made, cut, retired and
// given back), writes into a full bounded store (evictions), rewrites of a small value inline in its entry (and
// its moves to a block and back), and inside every write path of a fixed-layout
// record store (set, setFields and update in place, atomic ops, delete and re-create), and
// inside createStore (a store's blocks and a record layout's schema, before and after their
// publication), round after round; after every round each surviving key must read whole and be writable, a hotReads
// handle that cached the keys in earlier rounds must read what a plain handle reads, and after
// every 50 rounds (and at the end) the arena must pass verify().
//
//   node scripts/fault-injection.mjs [--rounds 500] [--seed N] [--only evict,churn]
//
// Prints progress and a summary; exits 1 at the first failure.
import { Worker } from 'node:worker_threads';
import { createStore, listStores, verify, arenaStats } from 'native-keyshare';
import { checkValue, makeValue } from '../test/fixtures/selfcheck.mjs';
import { LAYOUT, recordOf, checkRecord } from '../test/fixtures/records-layout.mjs';
import { prng } from '../test/util.mjs';
import { isDeepStrictEqual } from 'node:util';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 500);
const SEED = arg('seed', Date.now() % 1e9);
const rand = prng(SEED);
const ALL_MODES = ['set', 'update', 'lock', 'setMany', 'delete-pattern', 'small', 'record-write', 'record-mixed', 'churn', 'create-store', 'evict'];
// --only evict (or a comma-separated list): only those modes.
const only = process.argv.indexOf('--only');
const MODES = only >= 0 ? process.argv[only + 1].split(',') : ALL_MODES;
for (const m of MODES) if (!ALL_MODES.includes(m)) throw new Error(`unknown mode ${m} (modes: ${ALL_MODES.join(', ')})`);
const busy = new URL('../test/fixtures/busy.mjs', import.meta.url);
const recordsWorker = new URL('../test/fixtures/records-worker.mjs', import.meta.url);
const storeCreator = new URL('../test/fixtures/store-creator.mjs', import.meta.url);
const store = createStore('fault-injection');
// A hotReads handle of the same store keeps decoded values across rounds: after every kill it
// must agree with the plain handle (the killed write may have moved a write epoch, published,
// or neither; see Store.getHot).
const hot = createStore('fault-injection', { hotReads: true });
store.set('k', makeValue(0));
store.set('s', 0); // a number: its entry gets inline slots (mode 'small' rewrites it)
const records = createStore('fault-injection-records', { record: LAYOUT });
// Mode 'churn' inserts keys and clears them: slabs made, cut, retired and given back.
const churn = createStore('fault-injection-churn');
// Mode 'evict' writes into a full bounded store: kills land inside evictions.
const bounded = createStore('fault-injection-bounded', { max: 64, maxSize: '8kb' });
records.set('r', { ...recordOf(0), hits: 0, small: 0 });

function fail(msg) {
  console.error(`FAIL (seed ${SEED}): ${msg}`);
  process.exit(1);
}

function check(when) {
  const r = verify();
  const errors = r.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) fail(`${errors.length} integrity errors ${when}: ${JSON.stringify(errors.slice(0, 5), null, 1)}`);
  return r;
}

console.log(`fault injection: ${ROUNDS} rounds, seed ${SEED}`);
const started = Date.now();
const roundsOf = Object.fromEntries(MODES.map((m) => [m, 0]));
for (let round = 1; round <= ROUNDS; round++) {
  const mode = MODES[Math.floor(rand() * MODES.length)];
  roundsOf[mode]++;
  const w = mode === 'create-store'
    ? new Worker(storeCreator, {
        // Stalls each store creation and schema install at every stage of its record (a
        // test-only knob), so that the kills land between an allocation and its publication.
        env: { ...process.env, NATIVE_KEYSHARE_TEST_CREATE_DELAY: String(20000 + Math.floor(rand() * 200000)) },
        workerData: { prefix: `fi${round}:`, start: Math.floor(rand() * 3) },
      })
    : mode.startsWith('record-')
    ? new Worker(recordsWorker, {
        // record-write stalls half-way through each in-place write (a test-only knob), so that
        // its kills land with SEQ odd and recovery must replay the redo buffer.
        env: mode === 'record-write' ? { ...process.env, NATIVE_KEYSHARE_TEST_INPLACE_DELAY: '200000' } : process.env,
        workerData: { store: 'fault-injection-records', key: 'r', mode: mode === 'record-write' ? 'busy-write' : 'busy-mixed', start: Math.floor(rand() * 1e6) },
      })
    : new Worker(busy, { workerData: { store: 'fault-injection', key: mode === 'small' ? 's' : 'k', mode, start: 1 + Math.floor(rand() * 1e6) } });
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await new Promise((r) => setTimeout(r, 1 + rand() * 30));
  await w.terminate();
  await new Promise((r) => setImmediate(r));
  for (const key of store.listKeys('k*')) {
    const v = store.get(key);
    if (!checkValue(v)) fail(`round ${round} (${mode}): ${key} reads ${JSON.stringify(v)?.slice(0, 100)}`);
    if (!isDeepStrictEqual(hot.get(key), v)) fail(`round ${round} (${mode}): ${key}: the hotReads handle reads n=${hot.get(key)?.n}, the plain one n=${v?.n}`);
  }
  const small = store.get('s');
  if (small !== undefined && typeof small !== 'number') fail(`round ${round} (${mode}): 's' reads ${JSON.stringify(small)}`);
  if (hot.get('s') !== small) fail(`round ${round} (${mode}): 's': the hotReads handle reads ${hot.get('s')}, the plain one ${small}`);
  if (!store.set('s', -round, { timeout: 1000 }) || hot.get('s') !== -round) fail(`round ${round} (${mode}): 's' not writable, or not read back, after recovery`);
  if (!store.set('k', makeValue(round), { timeout: 1000 })) fail(`round ${round} (${mode}): 'k' not writable after recovery`);
  if (hot.get('k')?.n !== round) fail(`round ${round} (${mode}): the hotReads handle reads n=${hot.get('k')?.n} after set(n=${round})`);
  if (mode === 'churn') {
    for (const key of churn.listKeys()) {
      const v = churn.get(key);
      const n = Number(key.slice(1));
      if (v !== undefined && v !== (n % 3 === 0 ? 'x'.repeat(n % 300) : n)) fail(`round ${round} (churn): ${key} reads ${JSON.stringify(v)?.slice(0, 100)}`);
    }
    // Now and then this thread clears too, over whatever the killed one left.
    if (rand() < 0.2) churn.clear();
  }
  if (mode === 'evict') {
    for (const key of bounded.listKeys()) {
      const v = bounded.get(key);
      if (v !== undefined && (typeof v !== 'string' || !v.startsWith(`${key}:`))) fail(`round ${round} (evict): ${key} reads ${JSON.stringify(v)?.slice(0, 100)}`);
    }
    // One more write settles the bound a killed writer may have left passed.
    if (!bounded.set(`main${round}`, `main${round}:x`, { timeout: 1000 })) fail(`round ${round} (evict): bounded store not writable after recovery`);
    const st = bounded.stats();
    if (bounded.size > 64 || st.valueBytes > 8192) fail(`round ${round} (evict): ${bounded.size} keys, ${st.valueBytes} bytes: past the bound after a write`);
  }
  const rec = records.get('r');
  if (rec !== undefined && checkRecord(rec) !== '') fail(`round ${round} (${mode}): record ${checkRecord(rec)}`);
  if (!records.set('r', { ...recordOf(round), hits: 0, small: 0 }, { timeout: 1000 })) fail(`round ${round} (${mode}): record not writable after recovery`);
  records.add('r', 'hits', 1);
  // Every store the killed creator published is whole: it opens with the options it was made
  // with, and takes a write.
  for (const name of mode === 'create-store' ? listStores().filter((n) => n.startsWith(`fi${round}:`)) : []) {
    const n = Number(name.slice(name.indexOf(':') + 1));
    const s = n % 3 === 0 ? createStore(name, { record: LAYOUT }) : createStore(name);
    const v = n % 3 === 0 ? { ...recordOf(n), hits: 0, small: 0 } : n;
    if (!s.set('k', v, { timeout: 1000 }) || !isDeepStrictEqual(s.get('k'), v)) fail(`round ${round} (${mode}): store ${name} not writable after recovery`);
  }
  if (round % 50 === 0 || round === ROUNDS) {
    const r = check(`after round ${round}`);
    console.log(`  round ${round}: ok; ${store.size} keys, ${arenaStats().bytesInUse} bytes in use, ${r.leakedBytes} bytes leaked, ${Math.round((Date.now() - started) / 1000)} s`);
  }
}
const r = check('at the end');
console.log(`${ROUNDS} rounds, 0 integrity errors, ${r.leakedBytes} bytes leaked (${r.problems.filter((p) => p.kind === 'leak').length} blocks), ${Math.round((Date.now() - started) / 1000)} s`);
console.log(`rounds per mode: ${MODES.map((m) => `${m} ${roundsOf[m]}`).join(', ')}`);
