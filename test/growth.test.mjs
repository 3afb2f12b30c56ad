import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, arenaStats } from 'native-keyshare';
import { fixture } from './util.mjs';

const { forEachRef } = await import('../dist/cjs/keyindex.js');

// A thread makes its views of the arena when it loads the library and refreshes them only when
// it meets a ref beyond them. These tests grow the arena while a worker holds views of its old
// size, then ask the worker for what was written beyond them: every read must refresh and find
// it, never answer "absent" (see lookup in src/keyindex.ts, readEntry in src/store.ts).

function startWorker(name, first) {
  const w = new Worker(fixture('stale-views.mjs'), { workerData: { name, first } });
  const next = () => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  return { w, next };
}

test('a new index array beyond the reader\'s views', async () => {
  const s = createStore('grown-index');
  s.set('k0', 'first');
  const { w, next } = startWorker('grown-index', 'k0');
  const { reserved } = await next();
  // Twice what the arena held: it grows, and the index is resized several times, each new
  // bucket array allocated where the worker cannot see.
  const pad = 'v'.repeat(4000);
  const n = Math.ceil((2 * reserved) / 4096) + 1000;
  for (let i = 1; i <= n; i++) s.set(`k${i}`, `${i}:${pad}`);
  assert.ok(arenaStats().bytesReserved > reserved, 'the arena grew');
  w.postMessage([`k${n}`, `k${n >> 1}`, 'k1', 'k0', 'absent']);
  const got = await next();
  w.postMessage(null);
  assert.equal(got, [[`${n}:${pad}`, true], [`${n >> 1}:${pad}`, true], [`1:${pad}`, true], ['first', true], [undefined, false]]);
});

test('entries and values beyond the reader\'s views, in an index it can see', async () => {
  const s = createStore('grown-entries');
  // 1,000 keys: an index of 2,048 buckets, which the 1,020 keys below do not resize.
  for (let i = 0; i < 1000; i++) s.set(`k${i}`, i);
  const before = s.stats().indexCapacity;
  const { w, next } = startWorker('grown-entries', 'k0');
  const { reserved } = await next();
  // Values that grow the arena to twice its size, then keys of a new length: their entries
  // come from a new slab, beyond the worker's views, while the index stays where it was.
  const big = 'b'.repeat(Math.ceil((2 * reserved) / 500));
  for (let i = 0; i < 500; i++) s.set(`k${i}`, `${i}:${big}`);
  const long = Array.from({ length: 20 }, (_, j) => `${'long-key-'.repeat(30)}${j}`);
  for (const [j, k] of long.entries()) s.set(k, j);
  assert.ok(arenaStats().bytesReserved > reserved, 'the arena grew');
  assert.is(s.stats().indexCapacity, before, 'the index was not resized');
  w.postMessage([long[19], long[0], 'k499', 'k999', 'absent']);
  const got = await next();
  w.postMessage(null);
  assert.equal(got, [[19, true], [0, true], [`499:${big}`, true], [999, true], [undefined, false]]);
});

test('a walk of the index that a resize restarts drops what it visited before (the old array may be reused)', () => {
  const s = createStore('walk-resized');
  for (let i = 0; i < 100; i++) s.set(`w${i}`, i);
  const before = s.stats().indexCapacity;
  let grown = false;
  let seen = 0;
  let restarts = 0;
  // The first visit grows the index: its array is replaced (and freed) under the walk.
  const complete = forEachRef(s.ref, () => {
    seen++;
    if (!grown) {
      grown = true;
      for (let i = 100; i < 2000; i++) s.set(`w${i}`, i);
    }
  }, 8, () => {
    restarts++;
    seen = 0;
  });
  assert.ok(s.stats().indexCapacity > before, 'the index did not grow');
  assert.ok(complete);
  assert.is(restarts, 1);
  assert.is(seen, 2000, `the walk counted ${seen} entries of 2000`);
  assert.is(s.listKeys().length, 2000);
});

test.run();
