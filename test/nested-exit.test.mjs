// A worker that exits cleanly takes the workers it started down with it (Node stops them without
// running their exit handlers). The locks and thread slots of those descendants must be
// recovered as if the worker had been terminated: its own slot is already free by then, but its
// children's are not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, arenaStats, verify } from 'native-keyshare';
import { fixture, sleep } from './util.mjs';

/**
 * main → top → … → leaf (`depth` levels below top): the leaf holds `key`'s lock; then the top
 * exits cleanly (`how`: 'exit' for process.exit(), 'end' for an event loop that runs dry).
 */
async function chain(name, how, depth) {
  const s = createStore(name);
  const before = arenaStats().threads;
  const beat = new SharedArrayBuffer(4);
  const w = new Worker(fixture('nested-chain.mjs'), { workerData: { store: name, key: 'k', depth, how, top: true, beat } });
  try {
    await stopsCleanly(s, w, beat, before, depth);
  } finally {
    // A failed assertion must not leave the chain running (it would keep this process alive).
    await w.terminate();
  }
  assert.ok(s.lock('k', 2000), "the main thread takes the dead leaf's lock over");
  assert.ok(s.release('k'));
  assert.is(arenaStats().threads, 1, 'every slot of the chain is free again');
  const r = verify();
  assert.equal(r.problems.filter((p) => p.severity === 'error' || p.kind === 'lock' || p.kind === 'thread'), [], JSON.stringify(r.problems.slice(0, 3)));
  assert.is(r.leakedBytes, 0);
}

async function stopsCleanly(s, w, beat, before, depth) {
  const first = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.is(first, 'locked', 'the leaf took the lock');
  assert.is(arenaStats().threads, before + depth + 1, 'the top worker and every level below it are registered');
  assert.is(s.lock('k', 0), false, 'the leaf holds the lock');
  const exitCode = new Promise((resolve) => w.once('exit', resolve));
  w.postMessage('go');
  assert.is(await exitCode, 0, 'the top worker exited cleanly');
  // Node stopped the levels below with the top one: the leaf's heartbeat has stopped for good.
  const beats = Atomics.load(new Int32Array(beat), 0);
  await sleep(20);
  assert.is(Atomics.load(new Int32Array(beat), 0), beats, 'the leaf no longer runs');
}

test('main → W1 → W2: W2 holds a lock, W1 calls process.exit(): the lock and W2\'s slot are recovered', async () => {
  await chain('nested-exit', 'exit', 1);
});

test('main → W1 → W2: W2 holds a lock, W1 simply ends: the lock and W2\'s slot are recovered', async () => {
  await chain('nested-end', 'end', 1);
});

test('main → W1 → W2 → W3: W3 holds a lock, W1 calls process.exit(): W2 and W3 are recovered', async () => {
  await chain('nested-exit-3', 'exit', 2);
});

test('main → W1 → W2 → W3 → W4: W4 holds a lock, W1 simply ends: every level is recovered', async () => {
  await chain('nested-end-4', 'end', 3);
});

test.run();
