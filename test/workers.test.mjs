import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createStore } from 'native-keyshare';
import { prng, runWorker } from './util.mjs';

test('a worker reads at its first line what the main thread set before starting it', async () => {
  const s = createStore('vis');
  s.set('sharedKey', { value: 'Hello from main!' });
  const [got] = await runWorker('ops.mjs', { ops: [['get', 'vis', 'sharedKey']] });
  assert.equal(got, { value: 'Hello from main!' });
});

test('a value set in a worker is visible to the main thread with no message', async () => {
  const s = createStore('vis');
  await runWorker('ops.mjs', { ops: [['set', 'vis', 'workerKey', { data: 'Hello from worker!' }]] });
  assert.equal(s.get('workerKey'), { data: 'Hello from worker!' });
});

test('a store first created in a worker is seen by the main thread and by a sibling', async () => {
  await runWorker('ops.mjs', { ops: [['set', 'born-in-worker', 'k', 42]] });
  assert.is(createStore('born-in-worker').get('k'), 42);
  const [sibling] = await runWorker('ops.mjs', { ops: [['get', 'born-in-worker', 'k']] });
  assert.is(sibling, 42);
});

test('nested workers share the same stores in both directions', async () => {
  const s = createStore('nested');
  s.set('fromMain', 'm');
  const [[fromNested, setOk]] = await runWorker('ops.mjs', {
    ops: [['spawn', [['get', 'nested', 'fromMain'], ['set', 'nested', 'fromNested', 'n']]]],
  });
  assert.is(fromNested, 'm');
  assert.is(setOk, true);
  assert.is(s.get('fromNested'), 'n');
});

test('deletes and pattern listings agree across threads', async () => {
  const s = createStore('xthread');
  for (let i = 0; i < 50; i++) s.set(`item:${i}`, i);
  const [deleted, keys] = await runWorker('ops.mjs', { ops: [['delete', 'xthread', 'item:1?'], ['keys', 'xthread', 'item:*']] });
  assert.is(deleted, true);
  assert.is(keys.length, 40);
  assert.equal(s.listKeys('item:*').sort(), keys);
  assert.is(s.get('item:15'), undefined);
  assert.is(s.get('item:25'), 25);
});

test('a store bigger than the per-thread caches: gets, whether they probe the cache, skip it or evict, see what other threads changed', async () => {
  // 40,000 keys: the per-thread lookup cache (16,384 keys) fills, hits on about 40% of random
  // gets, evicts as the gets move on, and plain gets skip it for stretches (sampling it again in
  // between). Cached keys and uncached ones are changed by a worker; every read must agree.
  const s = createStore('beyond-cache');
  // And a hotReads handle of the same store whose cache holds a twentieth of the keys: it evicts
  // (one miss in 32 takes a place), and must notice the same changes.
  const h = createStore('beyond-cache', { hotReads: { maxKeys: 2000 } });
  const n = 40_000;
  const model = new Map();
  for (let i = 0; i < n; i++) {
    s.set(`k${i}`, { i });
    model.set(`k${i}`, { i });
  }
  const rnd = prng(7);
  const check = (gets) => {
    for (let g = 0; g < gets; g++) {
      const key = `k${Math.floor(rnd() * n)}`;
      assert.equal(s.get(key), model.get(key), key);
      // Half the hot reads on 4,000 keys, so that its cache both hits and churns.
      const hk = g & 1 ? key : `k${Math.floor(rnd() * 4000)}`;
      assert.equal(h.get(hk), model.get(hk), `hot ${hk}`);
    }
  };
  check(150_000);
  const ops = [];
  for (let j = 0; j < 600; j++) {
    // Every other change among the 4,000 keys the hot handle reads most.
    const key = j & 1 ? `k${(j * 7919) % n}` : `k${(j * 131) % 4000}`;
    if (j % 3 === 0) {
      ops.push(['set', 'beyond-cache', key, { i: -j }]);
      model.set(key, { i: -j });
    } else if (j % 3 === 1) {
      ops.push(['delete', 'beyond-cache', key]);
      model.delete(key);
    } else {
      // Deleted and created again: a new entry, so a cached (ref, GEN) for it is stale.
      ops.push(['delete', 'beyond-cache', key], ['set', 'beyond-cache', key, { again: j }]);
      model.set(key, { again: j });
    }
  }
  await runWorker('ops.mjs', { ops });
  check(150_000);
  for (let j = 0; j < 600; j++) {
    const key = j & 1 ? `k${(j * 7919) % n}` : `k${(j * 131) % 4000}`;
    assert.equal(s.get(key), model.get(key), key);
    assert.equal(h.get(key), model.get(key), `hot ${key}`);
  }
});

test('the seed README worker example prints what it promises (CommonJS)', () => {
  const index = fileURLToPath(new URL('../examples/seed/index.js', import.meta.url));
  const r = spawnSync(process.execPath, [index], { encoding: 'utf8', timeout: 30000 });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.filter((l) => l === "{ value: 'Hello from main!' }").length, 2, r.stdout);
  assert.is(lines.at(-1), "main sees { data: 'Hello from worker!' }");
});

test('npm run demo: four workers count exactly', () => {
  const demo = fileURLToPath(new URL('../examples/demo.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [demo], { encoding: 'utf8', timeout: 60000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /counter = 4000 \(expected 4000\) OK/);
});

test.run();
